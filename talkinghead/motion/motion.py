"""The :class:`Motion` type: a (frames x channels) motion sequence with its frame rate.

Layout (see :mod:`talkinghead.motion.channels`)::

    values: (T, MOTION_DIM) float32 = [ pose (6) | expression (29) | gaze (2) ]

Storage formats:

* ``.npz`` (:meth:`Motion.save` / :meth:`Motion.load`): ``values`` (T, 37) float32, ``fps``
  scalar, ``channel_names`` (37,) str and ``format_version``. Loading checks the stored
  names against :data:`CHANNEL_NAMES` (a reordered file is reordered; unknown or missing
  names are an error).
* ARKit table (:meth:`Motion.to_csv` / :meth:`Motion.from_csv`, :meth:`Motion.to_json` /
  :meth:`Motion.from_json`), for 3D avatar tools: one column per ARKit name (camelCase, as
  ``ARFaceAnchor.BlendShapeLocation``'s raw values), in this order: ``frame``, ``time``
  (seconds), the 29 expression channels, the eight ``eyeLook{In,Out,Up,Down}{Left,Right}``
  channels in ``[0, 1]``, ``headYaw``, ``headPitch``, ``headRoll`` (degrees by default,
  radians with ``angle_unit="radians"``; signs as in :mod:`~talkinghead.motion.channels`)
  and three non-ARKit columns ``headTx``, ``headTy``, ``headScale`` so the table converts
  back losslessly (tools ignore columns they do not know).

Gaze <-> eyeLook (``Left``/``Right`` are the subject's sides): ``gazeX > 0`` looks towards
the image's right = the subject's left, i.e. the left eye looks *out* and the right eye
*in*; ``gazeY > 0`` looks down. So ``eyeLookOutLeft = eyeLookInRight = max(gazeX, 0)``,
``eyeLookInLeft = eyeLookOutRight = max(-gazeX, 0)``, ``eyeLookDown* = max(gazeY, 0)``,
``eyeLookUp* = max(-gazeY, 0)``. Importing averages the two eyes.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..errors import InvalidControlError, TalkingHeadError
from ..paths import atomic_path
from ..timing import FPS
from .channels import (
    CHANNEL_INDEX,
    CHANNEL_NAMES,
    EXPRESSION_NAMES,
    EXPRESSION_SLICE,
    GAZE_SLICE,
    MOTION_DIM,
    NEUTRAL,
    POSE_SLICE,
    channel_range,
)

NPZ_FORMAT_VERSION = 1
JSON_FORMAT = "talkinghead-arkit"
JSON_FORMAT_VERSION = 1

ANGLE_UNITS = ("degrees", "radians")
EYE_LOOK_NAMES = (
    "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft", "eyeLookDownLeft",
    "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight", "eyeLookDownRight",
)
HEAD_ROTATION_NAMES = ("headYaw", "headPitch", "headRoll")  # <- yaw, pitch, roll
HEAD_EXTRA_NAMES = ("headTx", "headTy", "headScale")  # <- tx, ty, scale (not ARKit)
ARKIT_NAMES = EXPRESSION_NAMES + EYE_LOOK_NAMES + HEAD_ROTATION_NAMES + HEAD_EXTRA_NAMES
TIME_COLUMNS = ("frame", "time")


class Motion:
    """A motion sequence: ``values`` (T, MOTION_DIM) float32 in the documented layout, and ``fps``.

    The constructor validates shape and finiteness (raising :class:`InvalidControlError`);
    value ranges are checked separately by :meth:`check_ranges` (generated motion may
    overshoot slightly; :meth:`clipped` brings it back).
    """

    __slots__ = ("values", "fps")

    def __init__(self, values, fps: float = FPS):
        array = np.asarray(values)
        if array.ndim != 2 or array.shape[1] != MOTION_DIM:
            raise InvalidControlError(
                f"motion values must have shape (frames, {MOTION_DIM}) in the layout of "
                f"talkinghead.motion.channels, got {array.shape}")
        if array.shape[0] == 0:
            raise InvalidControlError("motion has no frames; give at least one frame")
        if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
            raise InvalidControlError(f"motion values must be real numbers, got dtype {array.dtype}")
        array = array.astype(np.float32)
        _check_finite(array, "motion values")
        self.values = array  # (T, MOTION_DIM)
        self.fps = _check_fps(fps)

    # ----------------------------------------------------------------- constructors
    @classmethod
    def neutral(cls, num_frames: int, fps: float = FPS) -> Motion:
        """``num_frames`` frames of the rest pose (:data:`NEUTRAL`)."""
        if not isinstance(num_frames, (int, np.integer)) or num_frames < 1:
            raise InvalidControlError(f"num_frames must be a positive integer, got {num_frames!r}")
        return cls(np.tile(np.asarray(NEUTRAL, np.float32), (int(num_frames), 1)), fps)

    @classmethod
    def from_channels(cls, channels: Mapping[str, object], num_frames: int | None = None,
                      fps: float = FPS) -> Motion:
        """Build from ``{channel name: scalar or (T,) sequence}``; channels not given stay neutral.

        ``num_frames`` defaults to the length of the sequences given (all must agree; scalars
        broadcast). Unknown names raise :class:`InvalidControlError` listing the known ones.
        """
        unknown = [name for name in channels if name not in CHANNEL_INDEX]
        if unknown:
            raise InvalidControlError(
                f"unknown motion channel(s) {unknown}; known channels: {', '.join(CHANNEL_NAMES)}")
        columns = {name: np.asarray(value, dtype=np.float64) for name, value in channels.items()}
        lengths = {name: col.shape[0] for name, col in columns.items() if col.ndim == 1}
        bad = [name for name, col in columns.items() if col.ndim > 1]
        if bad:
            raise InvalidControlError(f"channel(s) {bad} must be scalars or 1-D sequences of frames")
        num_frames = _agree_length(lengths, num_frames)
        values = np.tile(np.asarray(NEUTRAL, np.float64), (num_frames, 1))
        for name, col in columns.items():
            values[:, CHANNEL_INDEX[name]] = col
        return cls(values, fps)

    # ----------------------------------------------------------------- accessors
    def __len__(self) -> int:
        return self.values.shape[0]

    @property
    def num_frames(self) -> int:
        return self.values.shape[0]

    @property
    def duration(self) -> float:
        """Seconds covered by the frames."""
        return self.num_frames / self.fps

    @property
    def pose(self) -> np.ndarray:
        """(T, 6) yaw, pitch, roll (degrees), tx, ty (face sizes), scale — a view."""
        return self.values[:, POSE_SLICE]

    @property
    def expression(self) -> np.ndarray:
        """(T, 29) ARKit expression channels in [0, 1] — a view."""
        return self.values[:, EXPRESSION_SLICE]

    @property
    def gaze(self) -> np.ndarray:
        """(T, 2) gazeX, gazeY in [-1, 1] — a view."""
        return self.values[:, GAZE_SLICE]

    def channel(self, name: str) -> np.ndarray:
        """(T,) values of channel ``name`` (a view)."""
        return self.values[:, _index(name)]

    def __getitem__(self, name: str) -> np.ndarray:
        return self.channel(name)

    def to_dict(self) -> dict[str, np.ndarray]:
        """``{channel name: (T,) copy}`` in layout order."""
        return {name: self.values[:, i].copy() for i, name in enumerate(CHANNEL_NAMES)}

    def with_channels(self, **channels) -> Motion:
        """A copy with the named channels replaced (scalars broadcast, sequences must have T frames)."""
        values = self.values.copy()
        for name, value in channels.items():
            col = np.asarray(value, np.float64)
            if col.ndim > 1 or (col.ndim == 1 and col.shape[0] != self.num_frames):
                raise InvalidControlError(
                    f"channel {name!r} must be a scalar or have {self.num_frames} frames, got shape {col.shape}")
            values[:, _index(name)] = col
        return Motion(values, self.fps)

    def __eq__(self, other) -> bool:
        return (isinstance(other, Motion) and self.fps == other.fps
                and np.array_equal(self.values, other.values))

    def __repr__(self) -> str:
        return f"Motion(frames={self.num_frames}, fps={self.fps:g})"

    # ----------------------------------------------------------------- ranges
    def out_of_range(self) -> dict[str, tuple[float, float]]:
        """``{name: (min, max) seen}`` for every channel leaving its documented range."""
        found = {}
        for i, name in enumerate(CHANNEL_NAMES):
            lo, hi = channel_range(name)
            col = self.values[:, i]
            if col.min() < lo - 1e-6 or col.max() > hi + 1e-6:
                found[name] = (float(col.min()), float(col.max()))
        return found

    def check_ranges(self) -> Motion:
        """Raise :class:`InvalidControlError` naming every channel outside its range; else return self."""
        found = self.out_of_range()
        if found:
            detail = "; ".join(f"{n} in [{lo:.3g}, {hi:.3g}] allowed {channel_range(n)}"
                               for n, (lo, hi) in found.items())
            raise InvalidControlError(f"motion channels out of range: {detail}. Use Motion.clipped() "
                                      "to clamp them.")
        return self

    def clipped(self) -> Motion:
        """A copy with every channel clamped to its documented range."""
        lo = np.array([channel_range(n)[0] for n in CHANNEL_NAMES], np.float32)
        hi = np.array([channel_range(n)[1] for n in CHANNEL_NAMES], np.float32)
        return Motion(np.clip(self.values, lo, hi), self.fps)

    # ----------------------------------------------------------------- .npz
    def save(self, path: str | os.PathLike) -> Path:
        """Write ``path`` (.npz) atomically; returns the path."""
        path = Path(path)
        tmp = atomic_path(path)
        try:
            with open(tmp, "wb") as f:
                np.savez(f, values=self.values, fps=np.float64(self.fps),
                         channel_names=np.array(CHANNEL_NAMES), format_version=np.int64(NPZ_FORMAT_VERSION))
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Motion:
        """Read a file written by :meth:`save`; raises :class:`TalkingHeadError` if it is not one."""
        path = Path(path)
        if not path.is_file():
            raise TalkingHeadError(f"motion file {path} does not exist")
        try:
            with np.load(path, allow_pickle=False) as data:
                values, fps, names = data["values"], float(data["fps"]), [str(n) for n in data["channel_names"]]
        except (OSError, ValueError, KeyError) as exc:
            raise TalkingHeadError(f"{path} is not a talkinghead motion .npz (values, fps, channel_names): "
                                   f"{exc}") from exc
        if values.ndim != 2 or values.shape[1] != len(names):
            raise InvalidControlError(f"{path}: values {values.shape} do not match {len(names)} channel names")
        return cls(_reorder(values, names, str(path)), fps)

    # ----------------------------------------------------------------- ARKit tables
    def to_arkit(self, angle_unit: str = "degrees") -> dict[str, np.ndarray]:
        """``{ARKit name: (T,) float64}`` in :data:`ARKIT_NAMES` order (see the module docstring)."""
        _check_angle_unit(angle_unit)
        v = self.values.astype(np.float64)
        table = {name: v[:, CHANNEL_INDEX[name]] for name in EXPRESSION_NAMES}
        table.update(_gaze_to_eye_look(v[:, GAZE_SLICE]))
        to_unit = np.radians if angle_unit == "radians" else (lambda a: a)
        for arkit, ours in zip(HEAD_ROTATION_NAMES, ("yaw", "pitch", "roll")):
            table[arkit] = to_unit(v[:, CHANNEL_INDEX[ours]])
        for extra, ours in zip(HEAD_EXTRA_NAMES, ("tx", "ty", "scale")):
            table[extra] = v[:, CHANNEL_INDEX[ours]]
        return {name: table[name] for name in ARKIT_NAMES}

    @classmethod
    def from_arkit(cls, table: Mapping[str, object], fps: float = FPS, angle_unit: str = "degrees") -> Motion:
        """Inverse of :meth:`to_arkit`. Missing ARKit columns stay neutral; unknown names are an error."""
        _check_angle_unit(angle_unit)
        unknown = [n for n in table if n not in ARKIT_NAMES and n not in TIME_COLUMNS]
        if unknown:
            raise InvalidControlError(f"unknown ARKit column(s) {unknown}; known: {', '.join(ARKIT_NAMES)}")
        cols = {n: np.asarray(table[n], np.float64) for n in ARKIT_NAMES if n in table}
        if any(c.ndim != 1 for c in cols.values()):
            raise InvalidControlError("every ARKit column must be a 1-D sequence of frames")
        num_frames = _agree_length({n: c.shape[0] for n, c in cols.items()}, None)
        channels: dict[str, np.ndarray] = {n: cols[n] for n in EXPRESSION_NAMES if n in cols}
        channels.update(_eye_look_to_gaze(cols, num_frames))
        from_unit = np.degrees if angle_unit == "radians" else (lambda a: a)
        for arkit, ours in zip(HEAD_ROTATION_NAMES, ("yaw", "pitch", "roll")):
            if arkit in cols:
                channels[ours] = from_unit(cols[arkit])
        for extra, ours in zip(HEAD_EXTRA_NAMES, ("tx", "ty", "scale")):
            if extra in cols:
                channels[ours] = cols[extra]
        return cls.from_channels(channels, num_frames=num_frames, fps=fps)

    def to_csv(self, path: str | os.PathLike, angle_unit: str = "degrees") -> Path:
        """Write the ARKit table as CSV (header row, one row per frame) atomically."""
        table = self.to_arkit(angle_unit)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(TIME_COLUMNS + ARKIT_NAMES)
        columns = np.stack([table[n] for n in ARKIT_NAMES], axis=1)  # (T, len(ARKIT_NAMES))
        for i, row in enumerate(columns):
            writer.writerow([i, f"{i / self.fps:.6f}"] + [f"{x:.7g}" for x in row])
        return _write_text(path, buffer.getvalue())

    @classmethod
    def from_csv(cls, path: str | os.PathLike, fps: float | None = None, angle_unit: str = "degrees") -> Motion:
        """Read a CSV written by :meth:`to_csv` (or any CSV with a header of ARKit names).

        ``fps`` defaults to the one implied by the ``time`` column (else 25).
        """
        text = _read_text(path)
        rows = list(csv.reader(io.StringIO(text)))
        if len(rows) < 2:
            raise InvalidControlError(f"{path}: need a header row and at least one frame")
        header, body = [h.strip() for h in rows[0]], [r for r in rows[1:] if r]
        if any(len(r) != len(header) for r in body):
            raise InvalidControlError(f"{path}: every row must have {len(header)} fields like the header")
        try:
            data = np.array([[float(x) for x in r] for r in body], np.float64)  # (T, columns)
        except ValueError as exc:
            raise InvalidControlError(f"{path}: non-numeric value: {exc}") from exc
        table = {name: data[:, j] for j, name in enumerate(header)}
        if fps is None:
            fps = _fps_from_times(table.get("time"))
        return cls.from_arkit(table, fps=fps, angle_unit=angle_unit)

    def to_json(self, path: str | os.PathLike, angle_unit: str = "degrees") -> Path:
        """Write ``{"format", "version", "fps", "numFrames", "angleUnit", "channels": {ARKit name: [T]}}``."""
        table = self.to_arkit(angle_unit)
        doc = {"format": JSON_FORMAT, "version": JSON_FORMAT_VERSION, "fps": self.fps,
               "numFrames": self.num_frames, "angleUnit": angle_unit,
               "channels": {n: [round(float(x), 7) for x in table[n]] for n in ARKIT_NAMES}}
        return _write_text(path, json.dumps(doc))

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> Motion:
        """Read a file written by :meth:`to_json` (its ``fps`` and ``angleUnit`` are used)."""
        try:
            doc = json.loads(_read_text(path))
            if doc.get("format") != JSON_FORMAT:
                raise InvalidControlError(f"{path}: not a {JSON_FORMAT} file (format={doc.get('format')!r})")
            return cls.from_arkit(doc["channels"], fps=doc["fps"], angle_unit=doc.get("angleUnit", "degrees"))
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise InvalidControlError(f"{path}: malformed {JSON_FORMAT} JSON: {exc}") from exc


# --------------------------------------------------------------------- helpers
def _index(name: str) -> int:
    try:
        return CHANNEL_INDEX[name]
    except (KeyError, TypeError):
        raise InvalidControlError(
            f"unknown motion channel {name!r}; known channels: {', '.join(CHANNEL_NAMES)}") from None


def _check_finite(array: np.ndarray, what: str) -> None:
    if not np.isfinite(array).all():
        rows, cols = np.nonzero(~np.isfinite(array))
        raise InvalidControlError(f"{what} contain NaN/inf (first at frame {rows[0]}, channel "
                                  f"{CHANNEL_NAMES[cols[0]]!r}); every value must be finite")


def _check_fps(fps) -> float:
    try:
        value = float(fps)
    except (TypeError, ValueError):
        raise InvalidControlError(f"fps must be a positive number, got {fps!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise InvalidControlError(f"fps must be a positive number, got {fps!r}")
    return value


def _check_angle_unit(unit: str) -> None:
    if unit not in ANGLE_UNITS:
        raise InvalidControlError(f"angle_unit must be one of {ANGLE_UNITS}, got {unit!r}")


def _agree_length(lengths: Mapping[str, int], num_frames: int | None) -> int:
    found = set(lengths.values())
    if num_frames is not None:
        found.add(int(num_frames))
    if len(found) > 1:
        raise InvalidControlError(f"channel sequences disagree in length: {dict(lengths)} "
                                  f"(num_frames={num_frames}); give equal-length sequences")
    if not found:
        raise InvalidControlError("cannot tell the number of frames: pass num_frames or a sequence")
    length = found.pop()
    if length < 1:
        raise InvalidControlError("motion needs at least one frame")
    return length


def _reorder(values: np.ndarray, names: list[str], where: str) -> np.ndarray:
    unknown = [n for n in names if n not in CHANNEL_INDEX]
    missing = [n for n in CHANNEL_NAMES if n not in names]
    if unknown or missing or len(set(names)) != len(names):
        raise InvalidControlError(
            f"{where}: stored channel names do not match this talkinghead's layout "
            f"(unknown {unknown}, missing {missing}); re-export the motion with this version")
    return values[:, [names.index(n) for n in CHANNEL_NAMES]]


def _gaze_to_eye_look(gaze: np.ndarray) -> dict[str, np.ndarray]:
    x, y = gaze[:, 0], gaze[:, 1]
    right_of_image, left_of_image = np.maximum(x, 0), np.maximum(-x, 0)
    down, up = np.maximum(y, 0), np.maximum(-y, 0)
    return {"eyeLookInLeft": left_of_image, "eyeLookOutLeft": right_of_image,
            "eyeLookUpLeft": up, "eyeLookDownLeft": down,
            "eyeLookInRight": right_of_image, "eyeLookOutRight": left_of_image,
            "eyeLookUpRight": up, "eyeLookDownRight": down}


def _eye_look_to_gaze(cols: Mapping[str, np.ndarray], num_frames: int) -> dict[str, np.ndarray]:
    if not any(n in cols for n in EYE_LOOK_NAMES):
        return {}
    get = {n: cols.get(n, np.zeros(num_frames)) for n in EYE_LOOK_NAMES}
    gaze_x = 0.5 * ((get["eyeLookOutLeft"] - get["eyeLookInLeft"]) + (get["eyeLookInRight"] - get["eyeLookOutRight"]))
    gaze_y = 0.5 * ((get["eyeLookDownLeft"] - get["eyeLookUpLeft"]) + (get["eyeLookDownRight"] - get["eyeLookUpRight"]))
    return {"gazeX": gaze_x, "gazeY": gaze_y}


def _fps_from_times(times: np.ndarray | None) -> float:
    if times is None or len(times) < 2:
        return float(FPS)
    step = float(np.median(np.diff(times)))
    if not step > 0:
        raise InvalidControlError("the CSV's time column must increase; pass fps= explicitly")
    return round(1.0 / step, 3)


def _write_text(path: str | os.PathLike, text: str) -> Path:
    path = Path(path)
    tmp = atomic_path(path)
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _read_text(path: str | os.PathLike) -> str:
    path = Path(path)
    if not path.is_file():
        raise TalkingHeadError(f"motion file {path} does not exist")
    return path.read_text(encoding="utf-8")
