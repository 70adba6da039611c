"""Changing a motion's frame rate or length (motion is smooth, so linear interpolation is exact enough)."""

from __future__ import annotations

import numpy as np

from .motion import Motion


def resample_motion(motion: Motion, fps: int) -> Motion:
    """The same motion at ``fps``: frame ``j`` (centre ``(j + 0.5) / fps``) interpolated in time."""
    if fps == motion.fps:
        return motion
    values = motion.values
    duration = len(values) / motion.fps
    n = int(np.ceil(duration * fps - 1e-9))
    src_t = (np.arange(len(values)) + 0.5) / motion.fps  # (T,)
    dst_t = (np.arange(n) + 0.5) / fps  # (n,)
    out = np.stack([np.interp(dst_t, src_t, values[:, c]) for c in range(values.shape[1])], axis=1)
    return Motion(out.astype(np.float32), fps)


def fit_length(motion: Motion, frames: int) -> Motion:
    """Cut or extend (holding the last frame) to exactly ``frames`` frames."""
    values = motion.values
    if len(values) >= frames:
        return Motion(values[:frames], motion.fps)
    pad = np.repeat(values[-1:], frames - len(values), axis=0)
    return Motion(np.concatenate([values, pad]), motion.fps)
