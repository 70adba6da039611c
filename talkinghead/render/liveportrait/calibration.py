"""Per-avatar linear calibration: our expression/gaze channels -> LivePortrait expression deltas.

Why a calibration: LivePortrait moves a face through 21 implicit 3-D keypoints. Their
expression part ``exp`` (21 x 3, added before rotation: ``x = s (kp R + exp) + t``) is learned,
unnamed and depends on the identity; our motion space names ARKit channels (``jawOpen``,
``mouthSmileLeft``, ...). No published map links the two and there is no paired data here to
learn one. But two things speak both languages for *this* portrait: the warp renderer draws any
channel setting of the portrait, and LivePortrait's own motion extractor reads ``exp`` off any
image. So at registration we show the extractor the portrait making each channel's expression
and fit one delta per channel by least squares::

    Y (J, 63) ~= D (J, K) @ E (K, 63)
    D[j] = probe j's channel values - the portrait's own fitted values (one channel moved per probe)
    Y[j] = exp(warp rendering of probe j) - exp(warp rendering of the rest motion)

and per frame ``exp = exp_source + (c - c_source) @ E`` (``exp_source`` read from the real crop).
The map is linear (one matmul per frame, exportable), exact at the rest motion (the portrait
renders as itself), measured on this face, and it inherits the extractor's own notion of
"what a smile is" on real images. Its limits: combinations of channels are assumed to add up,
and it is only as good as the warp renderings the extractor sees (teeth and mouth interior come
from LivePortrait's generator, not from the probes). Least squares rather than one ratio per
channel: each channel is probed at several values and any probe design (also mixed probes)
goes through the same fit.

Pose needs no fit (degrees are degrees), except the *direction* of yaw and pitch: whether
LivePortrait's positive yaw turns the nose to the image's left as ours does depends on the sign
of its learned depth axis, which the code does not fix. Two probes per angle (+-15 degrees
rendered by the warp renderer, read by the extractor) settle it; roll is in the image plane and
needs no probe.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ...errors import TalkingHeadError
from ...motion.channels import CHANNEL_INDEX, EXPRESSION_NAMES, EXPRESSION_SLICE, GAZE_NAMES, GAZE_SLICE, MOTION_DIM

CALIBRATED_CHANNELS = EXPRESSION_NAMES + GAZE_NAMES  # 31 channels, motion columns 6..36
CALIBRATED_SLICE = slice(EXPRESSION_SLICE.start, GAZE_SLICE.stop)
SIGNED_ANGLES = ("yaw", "pitch")  # angles whose direction is probed (roll is in the image plane)


@dataclass(frozen=True)
class CalibrationConfig:
    """Probe design of :func:`calibrate`.

    expression_probes / gaze_probes: values each expression / gaze channel is probed at (others
        stay at the portrait's own values); probes equal to the portrait's value add nothing.
    pose_probe_degrees: yaw and pitch probes at +- this many degrees (direction check).
    batch_size: probe frames per render / extractor call.
    rcond: relative singular-value cut-off of the least-squares solve.
    """

    expression_probes: tuple[float, ...] = (0.5, 1.0)
    gaze_probes: tuple[float, ...] = (-1.0, 1.0)
    pose_probe_degrees: float = 15.0
    batch_size: int = 8
    rcond: float = 1e-6

    def __post_init__(self):
        if not self.expression_probes or not self.gaze_probes:
            raise TalkingHeadError("CalibrationConfig: expression_probes and gaze_probes must not be empty")
        if not 0 < self.pose_probe_degrees <= 30 or self.batch_size < 1:
            raise TalkingHeadError("CalibrationConfig: pose_probe_degrees must be in (0, 30] and batch_size >= 1")


@dataclass(frozen=True, eq=False)
class ExpressionCalibration:
    """The fitted per-channel deltas of one portrait.

    source_channels: (K,) the portrait's own values of :data:`CALIBRATED_CHANNELS`.
    deltas: (K, N, 3) expression delta per unit of each channel (N = 21 keypoints).
    pose_signs: {"yaw": +-1, "pitch": +-1} LivePortrait degrees per degree of ours.
    residual: root-mean-square misfit of the probes, in ``exp`` units.
    """

    source_channels: np.ndarray
    deltas: np.ndarray
    pose_signs: dict
    residual: float

    def expression_offset(self, channels: np.ndarray, active: np.ndarray | None = None) -> np.ndarray:
        """(T, K) channel values -> (T, N, 3) ``(c - c_source) @ E``; ``active`` (K,) bool masks channels out."""
        offsets = np.asarray(channels, np.float64) - self.source_channels  # (T, K)
        if active is not None:
            offsets = offsets * np.asarray(active, np.float64)
        k, n, _ = self.deltas.shape
        return (offsets @ self.deltas.reshape(k, n * 3)).reshape(-1, n, 3)


def fit_channel_deltas(offsets: np.ndarray, deltas: np.ndarray, rcond: float = 1e-6) -> tuple[np.ndarray, float]:
    """Least-squares ``E`` of ``deltas ~= offsets @ E``: (J, K), (J, D) -> ((K, D), rms residual).

    Channels no probe moved (all-zero columns) get a zero delta (minimum-norm solution).
    """
    offsets = np.asarray(offsets, np.float64)
    deltas = np.asarray(deltas, np.float64)
    if offsets.ndim != 2 or deltas.ndim != 2 or len(offsets) != len(deltas):
        raise TalkingHeadError(f"fit_channel_deltas: offsets {offsets.shape} and deltas {deltas.shape} "
                               "must be (J, K) and (J, D)")
    solution = np.linalg.lstsq(offsets, deltas, rcond=rcond)[0]  # (K, D)
    residual = float(np.sqrt(np.mean((offsets @ solution - deltas) ** 2))) if deltas.size else 0.0
    return solution, residual


def probe_motions(rest: np.ndarray, config: CalibrationConfig) -> np.ndarray:
    """Rest motion (37,) -> (J, 37): each calibrated channel at each of its probe values, others at rest."""
    rest = np.asarray(rest, np.float64).reshape(MOTION_DIM)
    probes = []
    for name in CALIBRATED_CHANNELS:
        values = config.gaze_probes if name in GAZE_NAMES else config.expression_probes
        for value in values:
            probe = rest.copy()
            probe[CHANNEL_INDEX[name]] = value
            probes.append(probe)
    return np.stack(probes)


def pose_probe_motions(rest: np.ndarray, degrees: float) -> np.ndarray:
    """(2 * len(SIGNED_ANGLES), 37): rest with yaw +d, yaw -d, pitch +d, pitch -d (added to the rest pose)."""
    rest = np.asarray(rest, np.float64).reshape(MOTION_DIM)
    probes = []
    for name in SIGNED_ANGLES:
        for sign in (1.0, -1.0):
            probe = rest.copy()
            probe[CHANNEL_INDEX[name]] += sign * degrees
            probes.append(probe)
    return np.stack(probes)


def pose_signs(measured: dict[str, np.ndarray]) -> dict[str, float]:
    """Extractor angles of the :func:`pose_probe_motions` frames (each (4,)) -> the direction per angle.

    +1 when LivePortrait's angle grows with ours (ties count as +1)."""
    signs = {}
    for i, name in enumerate(SIGNED_ANGLES):
        plus, minus = measured[name][2 * i], measured[name][2 * i + 1]
        signs[name] = -1.0 if plus < minus else 1.0
    return signs


Render = Callable[[np.ndarray], object]  # (B, 37) motion -> images (whatever Extract accepts)
Extract = Callable[[object], dict]  # images -> {"exp": (B, N, 3), "yaw": (B,), "pitch": (B,)} numpy


def _measure(render: Render, extract: Extract, motions: np.ndarray, batch_size: int) -> dict[str, np.ndarray]:
    parts = [extract(render(motions[i:i + batch_size])) for i in range(0, len(motions), batch_size)]
    return {key: np.concatenate([np.asarray(p[key], np.float64) for p in parts]) for key in parts[0]}


def calibrate(render: Render, extract: Extract, rest: np.ndarray,
              config: CalibrationConfig | None = None) -> ExpressionCalibration:
    """Fit :class:`ExpressionCalibration` from probe renderings (see the module docstring).

    render: (B, 37) motions (in the renderer's convention, the rest motion renders the portrait
        unchanged) -> images; extract: images -> the extractor's ``exp`` (B, N, 3) and ``yaw``,
        ``pitch`` (B,) degrees; rest: (37,) the rest motion.
    """
    config = config or CalibrationConfig()
    rest = np.asarray(rest, np.float64).reshape(MOTION_DIM)
    probes = probe_motions(rest, config)  # (J, 37)
    pose_probes = pose_probe_motions(rest, config.pose_probe_degrees)  # (4, 37)
    measured = _measure(render, extract, np.concatenate([rest[None], probes, pose_probes]), config.batch_size)
    exp = measured["exp"]  # (1 + J + 4, N, 3)
    n = exp.shape[1]
    offsets = probes[:, CALIBRATED_SLICE] - rest[CALIBRATED_SLICE]  # (J, K)
    observed = (exp[1:1 + len(probes)] - exp[:1]).reshape(len(probes), n * 3)  # (J, 3N)
    deltas, residual = fit_channel_deltas(offsets, observed, config.rcond)
    pose = {name: measured[name][1 + len(probes):] for name in SIGNED_ANGLES}
    return ExpressionCalibration(source_channels=rest[CALIBRATED_SLICE].copy(),
                                 deltas=deltas.reshape(len(CALIBRATED_CHANNELS), n, 3),
                                 pose_signs=pose_signs(pose), residual=residual)
