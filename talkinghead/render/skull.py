"""The per-frame rigid motion of the skull, for parts fixed to it (eyeballs, upper teeth).

A least-squares 2-D similarity from the source to the target positions of landmarks that no
expression channel moves much. For the eyeballs: the four eye corners, the nose bridge and the
subnasal point. For the upper teeth: the nose base (subnasal point, nostril sills, alar bases),
which sits at the upper teeth's depth: a nodding or turning head moves points by their depth, so
a similarity of the eye-level points misplaces the teeth by up to ~0.1 IOD at 15 degrees.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..face import landmarks as L
from .geometry import invert_affines, similarity_fit

SKULL_POINTS = L.EYE_CORNERS + L.NOSE_BRIDGE + (L.SUBNASALE,)
UPPER_JAW_POINTS = L.NOSE_BASE


class SkullMotion(nn.Module):
    """``forward(target (B, 478, 2))`` -> ``(skull, inverse)``: (B, 2, 3) source->target crop-pixel
    similarities of ``points`` and their inverses."""

    def __init__(self, source_landmarks: np.ndarray, points: tuple[int, ...] = SKULL_POINTS):
        super().__init__()
        src = np.asarray(source_landmarks, dtype=np.float32)[list(points), :2]
        self.register_buffer("source", torch.from_numpy(src))  # (K, 2)
        self.register_buffer("index", torch.as_tensor(points, dtype=torch.int64))

    def forward(self, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        skull = similarity_fit(self.source, target[:, self.index, :2])  # (B, 2, 3)
        return skull, invert_affines(skull)


# Vertically facing landmark pairs (upper, lower) of the inner lips and the lids, corners excluded.
FACING_PAIRS = tuple(zip(L.LIPS_INNER_UPPER[1:-1], L.LIPS_INNER_LOWER[1:-1])) + tuple(
    zip(L.RIGHT_EYE_UPPER[1:-1], L.RIGHT_EYE_LOWER[1:-1])) + tuple(zip(L.LEFT_EYE_UPPER[1:-1], L.LEFT_EYE_LOWER[1:-1]))
FACING_UPPER = tuple(u for u, _ in FACING_PAIRS)
FACING_LOWER = tuple(lo for _, lo in FACING_PAIRS)


def uncross(points: torch.Tensor, skull: torch.Tensor) -> torch.Tensor:
    """Landmarks (B, 478, 2) with every lower lip / lid point that lies above its upper partner
    (along the skull's vertical) moved, with the partner, to their midpoint: driven lips and lids
    may close but never pass through each other (which would fold the warp)."""
    upper_idx, lower_idx = list(FACING_UPPER), list(FACING_LOWER)
    down = skull[:, :, 1]  # (B, 2): the skull similarity applied to the image-down direction (0, 1)
    down = down / torch.sqrt((down * down).sum(-1, keepdim=True) + 1e-12)
    upper, lower = points[:, upper_idx], points[:, lower_idx]  # (B, P, 2)
    gap = ((lower - upper) * down.unsqueeze(1)).sum(-1, keepdim=True)  # (B, P, 1), < 0 when crossed
    shift = 0.5 * torch.clamp(gap, max=0.0) * down.unsqueeze(1)
    out = points.clone()
    out[:, upper_idx] = upper + shift
    out[:, lower_idx] = lower - shift
    return out
