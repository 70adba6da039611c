"""Metric functions on per-frame sequences (pure numpy, no I/O).

Lip sync is measured on 1-D mouth-opening curves: Pearson r at lag 0, and the best r over
lags in ``[-max_lag, max_lag]`` frames (real clips carry their own audio-video offsets).
A positive lag means the generated curve is *late* relative to the reference.
"""

from __future__ import annotations

import numpy as np

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
