"""Metric functions on per-frame sequences and face landmarks (pure numpy, no I/O).

Lip sync is measured on 1-D mouth-opening curves: Pearson r at lag 0, and the best r over
lags in ``[-max_lag, max_lag]`` frames (real clips carry their own audio-video offsets).
A positive lag means the generated curve is *late* relative to the reference.

Face measurements (:func:`mouth_opening`, :func:`mouth_lmd`, :func:`normalized_jitter`) work on
MediaPipe landmarks and are normalised by the inter-ocular distance, so they compare across
resolutions and between a generated and a real video of the same person.
"""

from __future__ import annotations

import numpy as np

from ..face import landmarks as L
from ..timing import SAMPLES_PER_FRAME

MAX_LAG = 4  # frames (160 ms at 25 fps): real clips' audio-video offsets seen here are within ±3


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two equal-length 1-D sequences; 0 when either is constant."""
    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"sequences differ in length: {a.shape} vs {b.shape}")
    a, b = a - a.mean(), b - b.mean()
    denom = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denom) if denom > 1e-12 else 0.0


def lagged_pearson(generated: np.ndarray, reference: np.ndarray, max_lag: int = MAX_LAG) -> tuple[float, int]:
    """Best Pearson r over lags and that lag (generated[t + lag] vs reference[t])."""
    generated, reference = np.asarray(generated).ravel(), np.asarray(reference).ravel()
    best_r, best_lag = -np.inf, 0
    for lag in range(-max_lag, max_lag + 1):
        if lag >= 0:
            g, r = generated[lag:], reference[:len(reference) - lag]
        else:
            g, r = generated[:lag], reference[-lag:]
        n = min(len(g), len(r))
        if n < 3:
            continue
        value = pearson(g[:n], r[:n])
        if value > best_r:
            best_r, best_lag = value, lag
    return float(best_r), best_lag


def jitter(landmarks: np.ndarray) -> float:
    """Mean magnitude of the second difference of (T, N, 2|3) landmarks (per frame, per point)."""
    landmarks = np.asarray(landmarks, np.float64)
    if landmarks.shape[0] < 3:
        return 0.0
    second = landmarks[2:] - 2 * landmarks[1:-1] + landmarks[:-2]
    return float(np.linalg.norm(second, axis=-1).mean())


def mean_landmark_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean Euclidean distance between corresponding (T, N, 2|3) landmarks."""
    return float(np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64), axis=-1).mean())


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """PSNR in dB of two arrays of equal shape; inf when identical."""
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(peak * peak / mse)


def seam_ratio(motion: np.ndarray, joins: list[int]) -> dict:
    """Compare |first| and |second| differences at window joins with those inside windows.

    Returns the ratio of the largest join value to the 99th percentile inside (<= ~1 means no seam).
    """
    motion = np.asarray(motion, np.float64)
    d1 = np.abs(np.diff(motion, axis=0)).max(axis=1)  # (T-1,) diff between frame i and i+1
    d2 = np.abs(np.diff(motion, n=2, axis=0)).max(axis=1)  # (T-2,) centred at frame i+1
    join1 = [j - 1 for j in joins if 0 < j < len(motion)]
    join2 = sorted({i for j in joins for i in (j - 2, j - 1) if 0 <= i < len(d2)})
    inside1 = np.delete(d1, join1)
    inside2 = np.delete(d2, join2)
    return {"first_diff_ratio": float(d1[join1].max() / max(np.percentile(inside1, 99), 1e-9)) if join1 else 0.0,
            "second_diff_ratio": float(d2[join2].max() / max(np.percentile(inside2, 99), 1e-9)) if join2 else 0.0}


# ======================================================================= face measurements
# Per-frame measurements on MediaPipe landmarks (T, 478, 2|3) or (478, 2|3) in pixels. Lengths
# are normalised by the inter-ocular distance (IOD): the distance between the two eyes' corner
# midpoints, which (unlike the iris centres) does not move with gaze.
MOUTH_OPENING_PAIRS = (L.LIPS_INNER_UPPER[3:8], L.LIPS_INNER_LOWER[3:8])  # the 5 central inner-lip pairs
EYE_OPENING_PAIRS = ((L.RIGHT_EYE_UPPER[2:-2], L.RIGHT_EYE_LOWER[2:-2]),  # the 5 central lid pairs per eye
                     (L.LEFT_EYE_UPPER[2:-2], L.LEFT_EYE_LOWER[2:-2]))
MOUTH_POINTS = tuple(sorted(set(L.LIPS_OUTER + L.LIPS_INNER)))  # 40 lip points for M-LMD
RIGID_POINTS, RIGID_WEIGHTS = L.POSE_LANDMARKS, L.POSE_WEIGHTS  # points that move little with expression


def _points(landmarks) -> np.ndarray:
    array = np.asarray(landmarks, np.float64)
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3 or array.shape[1] != L.NUM_LANDMARKS or array.shape[2] not in (2, 3):
        raise ValueError(f"landmarks must be ({L.NUM_LANDMARKS}, 2|3) or (T, {L.NUM_LANDMARKS}, 2|3), "
                         f"got {array.shape}")
    return array[..., :2]  # (T, 478, 2)


def eye_centres(landmarks) -> tuple[np.ndarray, np.ndarray]:
    """(T, 2) midpoints of the subject's right and left eye corners."""
    x = _points(landmarks)
    right = (x[:, L.RIGHT_EYE_OUTER] + x[:, L.RIGHT_EYE_INNER]) / 2
    left = (x[:, L.LEFT_EYE_OUTER] + x[:, L.LEFT_EYE_INNER]) / 2
    return right, left


def inter_ocular_distance(landmarks) -> np.ndarray:
    """(T,) distance between the eye-corner midpoints, pixels."""
    right, left = eye_centres(landmarks)
    return np.linalg.norm(left - right, axis=-1)


def mouth_opening(landmarks) -> np.ndarray:
    """(T,) inner-lip opening / IOD: the mean gap of the 5 central inner-lip point pairs measured
    along the face's vertical (perpendicular to the eye line), so head roll does not change it."""
    x = _points(landmarks)
    right, left = eye_centres(x)
    eye_line = left - right  # (T, 2)
    iod = np.linalg.norm(eye_line, axis=-1)
    down = np.stack([-eye_line[:, 1], eye_line[:, 0]], axis=-1) / iod[:, None]  # image y down: +90 degrees
    upper, lower = (x[:, list(idx)] for idx in MOUTH_OPENING_PAIRS)  # (T, 5, 2) each
    gap = np.einsum("tpd,td->tp", lower - upper, down).mean(axis=1)
    return gap / iod


def eye_opening(landmarks) -> np.ndarray:
    """(T,) mean lid gap of both eyes (the 5 central upper/lower lid point pairs of each) / IOD."""
    x = _points(landmarks)
    gaps = [np.linalg.norm(x[:, list(upper)] - x[:, list(lower)], axis=-1).mean(axis=1)
            for upper, lower in EYE_OPENING_PAIRS]
    return (gaps[0] + gaps[1]) / 2 / inter_ocular_distance(x)


def align_faces(source, target) -> np.ndarray:
    """``source`` landmarks moved onto ``target`` frame by frame: the weighted 2-D similarity
    (rotation, uniform scale, translation) over the rigid landmarks. (T, 478, 2) pixels."""
    src, dst = _points(source), _points(target)
    if src.shape != dst.shape:
        raise ValueError(f"landmark sequences differ in shape: {src.shape} vs {dst.shape}")
    w = np.asarray(RIGID_WEIGHTS) / np.sum(RIGID_WEIGHTS)  # (N,)
    s = src[..., 0] + 1j * src[..., 1]  # (T, 478) as complex numbers
    d = dst[..., 0] + 1j * dst[..., 1]
    rs, rd = s[:, list(RIGID_POINTS)], d[:, list(RIGID_POINTS)]
    ms, md = rs @ w, rd @ w  # (T,) weighted centroids
    a = ((np.conj(rs - ms[:, None]) * (rd - md[:, None])) @ w) / ((np.abs(rs - ms[:, None]) ** 2) @ w)
    moved = a[:, None] * (s - ms[:, None]) + md[:, None]  # similarity = complex multiply + shift
    return np.stack([moved.real, moved.imag], axis=-1)


def mouth_lmd(generated, reference) -> float:
    """M-LMD: mean distance of the 40 lip landmarks after aligning each generated face onto the
    reference face (:func:`align_faces`), in reference IODs."""
    ref = _points(reference)
    aligned = align_faces(generated, ref)
    idx = list(MOUTH_POINTS)
    dist = np.linalg.norm(aligned[:, idx] - ref[:, idx], axis=-1)  # (T, 40)
    return float((dist / inter_ocular_distance(ref)[:, None]).mean())


def normalized_jitter(landmarks) -> float:
    """:func:`jitter` of the 468 mesh points in units of the clip's median IOD. Frames without a
    face (NaN) are left out together with the second differences that touch them."""
    x = _points(landmarks)[:, : L.NUM_MESH_POINTS]
    if len(x) < 3:
        return 0.0
    second = np.linalg.norm(x[2:] - 2 * x[1:-1] + x[:-2], axis=-1)  # (T-2, 468)
    finite = np.isfinite(second).all(axis=1)
    iod = inter_ocular_distance(_points(landmarks))
    if not finite.any():
        return float("nan")
    return float(second[finite].mean() / np.nanmedian(iod))


def audio_envelope(audio: np.ndarray, samples_per_frame: int = SAMPLES_PER_FRAME) -> np.ndarray:
    """(ceil(n / samples_per_frame),) RMS of each video frame's audio (40 ms at 16 kHz / 25 fps);
    the last frame is zero-padded."""
    audio = np.asarray(audio, np.float64).ravel()
    frames = -(-len(audio) // samples_per_frame)
    padded = np.zeros(frames * samples_per_frame)
    padded[: len(audio)] = audio
    return np.sqrt((padded.reshape(frames, samples_per_frame) ** 2).mean(axis=1))
