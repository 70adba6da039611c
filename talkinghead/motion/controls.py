"""User controls: exact, documented edits of a motion sequence after sampling.

Every control acts in motion space, so its effect is exact and predictable:

==========================  ==============  =========================================================
control                     range           effect
==========================  ==============  =========================================================
``still``                   bool            head pose held at the rest pose (no head motion at all)
``pose_scale``              0 .. 2          head-motion amplitude (0 = still, 1 = as generated)
``pose_offset``             ±30° each       (yaw, pitch, roll) degrees added to every frame
``expression``              preset name     ``neutral``, ``happy``, ``sad``, ``angry``, ``surprised``
``expression_intensity``    0 .. 1          how strongly the preset's channel offsets are added
``mouth_scale``             0 .. 2          mouth/jaw channel amplitude (0 = closed mouth)
``gaze``                    (x, y) ±1       fixed gaze target (x right, y down); None = ahead
``blink_rate``              0 .. 60 / min   mean blinks per minute of the stochastic blink scheduler
``blink_duration``          0.1 .. 0.6 s    duration of one blink (close + open)
==========================  ==============  =========================================================
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import threading
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidControlError
from .channels import CHANNEL_INDEX, EXPRESSION_SLICE, GAZE_SLICE, MOUTH_CHANNELS, NEUTRAL, POSE_NAMES, POSE_SLICE

# Preset channel offsets at intensity 1 (added to the generated expression, then clipped to [0, 1]).
EXPRESSION_PRESETS: dict[str, dict[str, float]] = {
    "neutral": {},
    "happy": {"mouthSmileLeft": 0.65, "mouthSmileRight": 0.65, "cheekSquintLeft": 0.45,
              "cheekSquintRight": 0.45, "browOuterUpLeft": 0.1, "browOuterUpRight": 0.1},
    "sad": {"mouthFrownLeft": 0.55, "mouthFrownRight": 0.55, "browInnerUp": 0.7,
            "mouthPressLeft": 0.15, "mouthPressRight": 0.15},
    "angry": {"browDownLeft": 0.75, "browDownRight": 0.75, "mouthPressLeft": 0.35,
              "mouthPressRight": 0.35, "eyeWideLeft": 0.2, "eyeWideRight": 0.2},
    "surprised": {"browInnerUp": 0.65, "browOuterUpLeft": 0.75, "browOuterUpRight": 0.75,
                  "eyeWideLeft": 0.6, "eyeWideRight": 0.6, "jawOpen": 0.12},
}

BLINK_MIN_INTERVAL_S = 1.2  # a refractory gap: people rarely blink twice within ~1 s
BLINK_CLOSE_FRACTION = 0.4  # lids close faster than they open


@dataclass
class Controls:
    """Validated generation controls (see the module docstring for ranges)."""

    still: bool = False
    pose_scale: float = 1.0
    pose_offset: tuple[float, float, float] = (0.0, 0.0, 0.0)
    expression: str = "neutral"
    expression_intensity: float = 0.0
    mouth_scale: float = 1.0
    gaze: tuple[float, float] | None = None
    blink_rate: float = 15.0
    blink_duration: float = 0.25

    def __post_init__(self) -> None:
        if not isinstance(self.still, (bool, np.bool_)):
            raise InvalidControlError(f"still must be True or False, got {self.still!r}")
        self.pose_scale = _number("pose_scale", self.pose_scale, 0.0, 2.0)
        self.pose_offset = _vector("pose_offset", self.pose_offset, 3, -30.0, 30.0)
        if self.expression not in EXPRESSION_PRESETS:
            raise InvalidControlError(f"expression must be one of {', '.join(EXPRESSION_PRESETS)}; "
                                      f"got {self.expression!r}")
        self.expression_intensity = _number("expression_intensity", self.expression_intensity, 0.0, 1.0)
        self.mouth_scale = _number("mouth_scale", self.mouth_scale, 0.0, 2.0)
        if self.gaze is not None:
            self.gaze = _vector("gaze", self.gaze, 2, -1.0, 1.0)
        self.blink_rate = _number("blink_rate", self.blink_rate, 0.0, 60.0)
        self.blink_duration = _number("blink_duration", self.blink_duration, 0.1, 0.6)

    @classmethod
    def from_kwargs(cls, **kwargs) -> "Controls":
        """Build from keyword arguments; unknown names raise :class:`InvalidControlError` listing the known ones."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise InvalidControlError(f"unknown control(s) {unknown}; known controls: {sorted(known)}")
        return cls(**kwargs)


def _number(name: str, value, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidControlError(f"{name} must be a number in [{lo}, {hi}], got {value!r}")
    value = float(value)
    if not lo <= value <= hi:  # also rejects NaN
        raise InvalidControlError(f"{name} must be in [{lo}, {hi}], got {value}")
    return value


def _vector(name: str, value, n: int, lo: float, hi: float) -> tuple:
    try:
        items = list(value)
    except TypeError:
        raise InvalidControlError(f"{name} must be {n} numbers in [{lo}, {hi}], got {value!r}") from None
    if len(items) != n:
        raise InvalidControlError(f"{name} must have {n} values, got {len(items)}")
    return tuple(_number(f"{name}[{i}]", v, lo, hi) for i, v in enumerate(items))


def apply_controls(values: np.ndarray, controls: Controls, fps: float, seed: int = 0,
                   start_frame: int = 0) -> np.ndarray:
    """Edit a (T, D) motion array as the controls say; returns a new array.

    ``start_frame`` is the index of ``values[0]`` in the whole sequence, so a stream edited window
    by window gets exactly the blinks of the same sequence edited at once.
    """
    out = np.array(values, dtype=np.float32, copy=True)
    rest = np.asarray(NEUTRAL, np.float32)
    pose_scale = 0.0 if controls.still else controls.pose_scale
    out[:, POSE_SLICE] = rest[POSE_SLICE] + pose_scale * (out[:, POSE_SLICE] - rest[POSE_SLICE])
    for name, offset in zip(POSE_NAMES[:3], controls.pose_offset):
        out[:, CHANNEL_INDEX[name]] += offset
    mouth = [CHANNEL_INDEX[n] for n in MOUTH_CHANNELS]
    out[:, mouth] *= controls.mouth_scale
    for name, value in EXPRESSION_PRESETS[controls.expression].items():
        out[:, CHANNEL_INDEX[name]] += controls.expression_intensity * value
    out[:, GAZE_SLICE] = 0.0 if controls.gaze is None else np.asarray(controls.gaze, np.float32)
    blink = blink_scheduler(fps, controls.blink_rate, controls.blink_duration, seed).curve(start_frame, len(out))
    for name in ("eyeBlinkLeft", "eyeBlinkRight"):
        out[:, CHANNEL_INDEX[name]] = np.maximum(out[:, CHANNEL_INDEX[name]], blink)
    out[:, EXPRESSION_SLICE] = np.clip(out[:, EXPRESSION_SLICE], 0.0, 1.0)
    return out


class BlinkScheduler:
    """Stochastic blinks: a Poisson process of ``rate_per_min`` with a refractory gap, seeded.

    Onsets are drawn in time order from one generator and kept, so :meth:`curve` over any frame
    range agrees with the same range of one long curve (streaming == offline), and a window late
    in a long stream costs the same as an early one. Thread-safe.
    """

    def __init__(self, fps: float, rate_per_min: float, duration_s: float, seed: int = 0):
        self.fps, self.rate, self.duration = fps, rate_per_min, duration_s
        self._rng = np.random.default_rng(seed)
        self._onsets: list[float] = []
        self._next = self._gap(first=True)
        self._lock = threading.Lock()

    def _gap(self, first: bool = False) -> float:
        if self.rate <= 0:
            return np.inf
        gap = self._rng.exponential(60.0 / self.rate)
        return gap if first else max(BLINK_MIN_INTERVAL_S, gap)

    def onsets_between(self, t0: float, t1: float) -> list[float]:
        """Blink onsets in ``[t0, t1)`` seconds."""
        with self._lock:
            while self._next < t1:
                self._onsets.append(self._next)
                self._next += self._gap()
            lo, hi = bisect.bisect_left(self._onsets, t0), bisect.bisect_left(self._onsets, t1)
            return self._onsets[lo:hi]

    def curve(self, start: int, frames: int) -> np.ndarray:
        """(frames,) lid closure in [0, 1] for frames ``start .. start + frames - 1``."""
        curve = np.zeros(frames, np.float32)
        if frames == 0:
            return curve
        t = (start + np.arange(frames)) / self.fps
        close = self.duration * BLINK_CLOSE_FRACTION
        for onset in self.onsets_between(t[0] - self.duration, t[-1] + 1e-9):
            u = t - onset
            closing = np.clip(u / close, 0, 1)
            opening = np.clip(1 - (u - close) / (self.duration - close), 0, 1)
            shape = np.where(u < close, closing, opening) * ((u >= 0) & (u <= self.duration))
            curve = np.maximum(curve, np.sin(0.5 * np.pi * shape) ** 2)  # smooth ease in/out
        return curve


@functools.lru_cache(maxsize=64)
def blink_scheduler(fps: float, rate_per_min: float, duration_s: float, seed: int) -> BlinkScheduler:
    """A shared scheduler per (fps, rate, duration, seed): streams extend it instead of redrawing it."""
    return BlinkScheduler(fps, rate_per_min, duration_s, seed)


def blink_curve(frames: int, fps: float, rate_per_min: float, duration_s: float, seed: int = 0) -> np.ndarray:
    """(T,) lid closure of the first ``frames`` frames (see :class:`BlinkScheduler`)."""
    return BlinkScheduler(fps, rate_per_min, duration_s, seed).curve(0, frames)
