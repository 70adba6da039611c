"""Eye openings: eyeballs fixed to the skull, lids sliding over them (torch, ONNX-exportable).

Inside the *target* eye contour (soft inner edge) the eyeball is sampled from the source crop
through the inverse skull motion, not through the mesh warp: a closing lid then covers the iris
instead of squashing it, and a fully closed lid (zero-area contour) shows no eyeball at all; the
lid skin above comes from the warp of the hole-filled texture (:mod:`~talkinghead.render.holes`).
Gaze moves the iris with the target iris centre; the shift fades out over about one iris radius
around it, so the eye corners stay in place.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .geometry import apply_affines, polygon_sdf_grid, sample_at

GAZE_FALLOFF = (1.3, 2.6)  # iris shift is full within 1.3 iris radii of the iris centre, zero beyond 2.6


class EyeLayer(nn.Module):
    """One eye. ``forward(target, skull, skull_inv, pixels, texture)``: target landmarks (B, 478, 2),
    (B, 2, 3) skull similarities, window pixels (B, h, w, 2) and the source texture (1, C>=3, S, S)
    -> ``(rgb (B, 3, h, w), alpha (B, 1, h, w))``, rgb in the texture's range."""

    def __init__(self, source_landmarks: np.ndarray, contour: tuple[int, ...], iris: tuple[int, ...],
                 iod: float, edge_soft: float):
        super().__init__()
        src = np.asarray(source_landmarks, dtype=np.float64)[:, :2]
        centre = src[iris[0]]
        radius = float(np.linalg.norm(src[list(iris[1:])] - centre, axis=1).mean())
        self.iod = float(iod)
        self.edge_soft = float(edge_soft)  # IOD
        self.iris_radius = max(radius, 0.05 * iod)  # px
        self.register_buffer("contour", torch.as_tensor(contour, dtype=torch.int64))
        self.iris_index = int(iris[0])
        self.register_buffer("iris_source", torch.as_tensor(centre, dtype=torch.float32).view(1, 1, 2))

    def forward(self, target: torch.Tensor, skull: torch.Tensor, skull_inv: torch.Tensor,
                pixels: torch.Tensor, texture: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch, h, w, _ = pixels.shape
        polygon = target[:, self.contour, :2]  # (B, 16, 2)
        sdf = polygon_sdf_grid(pixels, polygon) / self.iod  # (B, h, w)
        alpha = torch.clamp(-sdf / self.edge_soft, 0.0, 1.0).unsqueeze(1)  # (B, 1, h, w)

        iris_target = target[:, self.iris_index, :2].view(batch, 1, 1, 2)
        iris_rest = apply_affines(skull, self.iris_source.expand(batch, 1, 2)).view(batch, 1, 1, 2)
        dist = torch.sqrt(((pixels - iris_target) ** 2).sum(-1, keepdim=True) + 1e-6) / self.iris_radius
        lo, hi = GAZE_FALLOFF
        follow = torch.clamp((hi - dist) / (hi - lo), 0.0, 1.0)  # (B, h, w, 1)
        source_points = apply_affines(skull_inv, pixels - follow * (iris_target - iris_rest))
        rgb = sample_at(texture, source_points)[:, :3]
        return rgb, alpha
