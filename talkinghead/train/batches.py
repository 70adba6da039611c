"""Random training windows from clips: a prefix of clean frames followed by frames to denoise."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..data.shards import Clip


@dataclass
class WindowSpec:
    """Window lengths drawn per batch (short windows teach the streaming schedule, long ones offline)."""

    min_window: int = 8
    max_window: int = 80
    max_prefix: int = 10
    prefix_dropout: float = 0.2  # fraction of batches with no prefix (the first window of a clip)


class WindowSampler:
    """Draws (motion, audio, prefix_len) batches; all windows of a batch share one length."""

    def __init__(self, clips: list[Clip], spec: WindowSpec, seed: int = 0):
        self.spec = spec
        self.rng = np.random.default_rng(seed)
        self.clips = [c for c in clips if c.motion.shape[0] >= spec.min_window + 1]
        if not self.clips:
            raise ValueError("no clip is long enough for the smallest training window")
        lengths = np.array([c.motion.shape[0] for c in self.clips], dtype=np.float64)
        self.weights = lengths / lengths.sum()  # sample clips in proportion to their frames

    def batch(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        """-> motion (B, P + T, D), audio (B, P + T, F), prefix length P."""
        s = self.spec
        window = int(self.rng.integers(s.min_window, s.max_window + 1))
        prefix = 0 if self.rng.random() < s.prefix_dropout else int(self.rng.integers(1, s.max_prefix + 1))
        motions, audios = [], []
        for k in self.rng.choice(len(self.clips), size=batch_size, p=self.weights):
            clip = self.clips[k]
            n = clip.motion.shape[0]
            span = min(prefix + window, n)
            start = int(self.rng.integers(0, n - span + 1))
            motions.append(_pad(clip.motion[start:start + span], prefix + window))
            audios.append(_pad(clip.features[start:start + span], prefix + window))
        motion = torch.from_numpy(np.stack(motions)).float()
        audio = torch.from_numpy(np.stack(audios)).float()
        return motion, audio, prefix


def _pad(x: np.ndarray, length: int) -> np.ndarray:
    """Repeat the last row so short clips fill a window (rare: only clips shorter than the window)."""
    if x.shape[0] >= length:
        return x
    return np.concatenate([x, np.repeat(x[-1:], length - x.shape[0], axis=0)])
