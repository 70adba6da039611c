"""Trilinear sampling of a 3-D feature volume, natively or with ONNX-friendly gathers.

LivePortrait's warping module samples a (B, C, D, H, W) volume with ``grid_sample``
(trilinear, zeros padding, ``align_corners=False``).  The 5-D ``GridSample`` only exists
from ONNX opset 20, and not every runtime implements it (onnxruntime 1.32 on CPU does;
TensorRT, CoreML and older onnxruntime builds do not).  :func:`grid_sample_3d_gather`
computes the same numbers from ``Floor``, ``Clip``, integer arithmetic and a ``Gather`` of
rows of a channels-last copy of the volume, which exports at any opset >= 11.

Math (per output point, per axis; shown for x, the same holds for y over H and z over D):
``ix = ((x + 1) * W - 1) / 2`` (the align_corners=False unnormalisation), ``x0 = floor(ix)``,
``x1 = x0 + 1``, weights ``x1 - ix`` and ``ix - x0``.  The result is the sum over the 8
corners of the product of the three axis weights times the voxel value, where a corner
outside the volume contributes zero (zeros padding).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

GRID_SAMPLE_METHODS = ("native", "gather")


def _unnormalize(coord: torch.Tensor, size: int) -> torch.Tensor:
    """[-1, 1] grid coordinate -> voxel coordinate for align_corners=False."""
    return ((coord + 1) * size - 1) / 2


def _axis_corners(coord: torch.Tensor, size: int):
    """The two integer corners along one axis with their weights and in-range flags.

    Returns ``[(index (long, clamped), weight, valid), ...]`` for the lower and upper corner.
    """
    lower = torch.floor(coord)
    upper = lower + 1
    corners = []
    for corner, weight in ((lower, upper - coord), (upper, coord - lower)):
        valid = (corner >= 0) & (corner <= size - 1)
        index = corner.clamp(0, size - 1).long()
        corners.append((index, weight, valid))
    return corners


def grid_sample_3d_gather(volume: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Trilinear, zeros-padding, align_corners=False sampling of ``volume`` at ``grid``.

    volume: (N, C, D, H, W); grid: (N, Do, Ho, Wo, 3) with the last axis ordered (x, y, z)
    in [-1, 1].  Returns (N, C, Do, Ho, Wo); equal to ``F.grid_sample(volume, grid)`` up to
    float rounding.  Uses only ops that export to ONNX without 5-D ``GridSample``.
    """
    n, c, d, h, w = volume.shape
    out_shape = grid.shape[1:4]
    points = grid.reshape(n, -1, 3)  # (N, P, 3)
    rows = volume.permute(0, 2, 3, 4, 1).reshape(n * d * h * w, c)  # (N*D*H*W, C) channels-last
    batch_offset = (torch.arange(n, device=volume.device) * (d * h * w)).reshape(n, 1)  # (N, 1)

    xs = _axis_corners(_unnormalize(points[..., 0], w), w)
    ys = _axis_corners(_unnormalize(points[..., 1], h), h)
    zs = _axis_corners(_unnormalize(points[..., 2], d), d)
    out = torch.zeros(n, points.shape[1], c, dtype=volume.dtype, device=volume.device)  # (N, P, C)
    for zi, zw, zv in zs:
        for yi, yw, yv in ys:
            for xi, xw, xv in xs:
                weight = xw * yw * zw * (xv & yv & zv).to(volume.dtype)  # (N, P)
                index = (zi * h + yi) * w + xi + batch_offset  # (N, P)
                values = rows.index_select(0, index.reshape(-1)).reshape(n, -1, c)  # (N, P, C)
                out = out + values * weight.unsqueeze(-1)
    return out.permute(0, 2, 1).reshape(n, c, *out_shape)


def grid_sample_3d(volume: torch.Tensor, grid: torch.Tensor, method: str = "native") -> torch.Tensor:
    """Sample (N, C, D, H, W) ``volume`` at (N, Do, Ho, Wo, 3) ``grid`` -> (N, C, Do, Ho, Wo).

    ``method="native"`` calls torch's 5-D ``grid_sample``; ``"gather"`` the ONNX-friendly
    formulation above.  Both are trilinear with zeros padding and align_corners=False.
    """
    if method == "native":
        return F.grid_sample(volume, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if method == "gather":
        return grid_sample_3d_gather(volume, grid)
    raise ValueError(f"unknown grid_sample method {method!r}; use one of {GRID_SAMPLE_METHODS}")
