"""2-D geometry for the per-frame path (torch, ONNX-exportable): polygon signed distance, similarity
fits and affine helpers, texture sampling at arbitrary points."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

_EPS = 1e-8


def polygon_sdf(points: torch.Tensor, polygon: torch.Tensor, orientation: int = 1) -> torch.Tensor:
    """Signed distance of ``points`` (B, P, 2) to the closed ``polygon`` (B, N, 2): < 0 inside.

    Distance is to the nearest edge segment. Inside means a winding number of +1 for the vertex
    order the polygon is given in with ``orientation`` = +1 (clockwise on screen, y pointing
    down), or -1 with ``orientation`` = -1. So a contour whose halves cross (a lower lip pushed
    above the upper one, lids crossing) has no inside where it is turned inside out, and a
    self-touching one (closed lips) has none at all. Returns (B, P). Coordinates are kept as
    separate x / y planes (no reductions over a size-2 axis), which is what makes this fast on a CPU.
    """
    ax, ay = polygon[..., 0].unsqueeze(1), polygon[..., 1].unsqueeze(1)  # (B, 1, N)
    bx, by = torch.roll(ax, shifts=-1, dims=2), torch.roll(ay, shifts=-1, dims=2)  # next vertex
    ex, ey = bx - ax, by - ay  # (B, 1, N) edges
    inv_len2 = 1.0 / (ex * ex + ey * ey + _EPS)
    px, py = points[..., 0].unsqueeze(2), points[..., 1].unsqueeze(2)  # (B, P, 1)
    dx, dy = px - ax, py - ay  # (B, P, N)
    t = ((dx * ex + dy * ey) * inv_len2).clamp(0.0, 1.0)
    cx, cy = dx - t * ex, dy - t * ey
    dist = torch.sqrt((cx * cx + cy * cy).amin(dim=2) + _EPS)  # (B, P)
    straddles = (ay > py) != (by > py)  # (B, P, N)
    # The edge crosses the ray from p towards +x (compared without dividing), counted with the
    # edge's vertical direction: the winding number about p.
    direction = torch.sign(ey)  # (B, 1, N)
    right_of_p = (dx * ey - dy * ex) * direction < 0.0
    winding = torch.where(straddles & right_of_p, direction, torch.zeros_like(direction)).sum(dim=2)  # (B, P)
    inside = winding * orientation > 0.5
    return torch.where(inside, -dist, dist)


def polygon_sdf_grid(pixels: torch.Tensor, polygon: torch.Tensor, orientation: int = 1, step: int = 2
                     ) -> torch.Tensor:
    """:func:`polygon_sdf` of a regular pixel window (B, h, w, 2), evaluated every ``step`` pixels
    and bilinearly upsampled (exact on the straight parts of the distance field). (B, h, w).
    ``h`` and ``w`` must be multiples of ``step``."""
    batch, h, w, _ = pixels.shape
    origin = pixels[:, :1, :1]  # (B, 1, 1, 2)
    ys = torch.arange(0, h + 1, step, device=pixels.device, dtype=pixels.dtype)
    xs = torch.arange(0, w + 1, step, device=pixels.device, dtype=pixels.dtype)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    coarse = origin + torch.stack([gx, gy], dim=-1).unsqueeze(0)  # (B, h/step+1, w/step+1, 2)
    hc, wc = coarse.shape[1:3]
    sdf = polygon_sdf(coarse.reshape(batch, hc * wc, 2), polygon, orientation).reshape(batch, 1, hc, wc)
    fine = F.interpolate(sdf, size=(h + 1, w + 1), mode="bilinear", align_corners=True)
    return fine[:, 0, :h, :w]


def orientation_of(polygon) -> int:
    """+1 if a closed polygon (N, 2) runs clockwise on screen (image y down), else -1."""
    p = np.asarray(polygon, dtype=np.float64)[:, :2]
    q = np.roll(p, -1, axis=0)
    return 1 if float((p[:, 0] * q[:, 1] - q[:, 0] * p[:, 1]).sum()) > 0 else -1


def similarity_fit(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Least-squares 2-D similarity (rotation, uniform scale, translation) mapping ``source`` (K, 2)
    onto each ``target`` (B, K, 2). Returns (B, 2, 3) affines ``[sR | t]`` with ``target ~ sR @ source + t``."""
    src_mean = source.mean(dim=0)  # (2,)
    tgt_mean = target.mean(dim=1)  # (B, 2)
    xs = source - src_mean  # (K, 2)
    ys = target - tgt_mean.unsqueeze(1)  # (B, K, 2)
    norm = (xs * xs).sum()
    cos = (xs * ys).sum(dim=(1, 2)) / norm  # (B,) = s cos(theta)
    sin = (xs[:, 0] * ys[..., 1] - xs[:, 1] * ys[..., 0]).sum(dim=1) / norm  # (B,) = s sin(theta)
    row0 = torch.stack([cos, -sin], dim=-1)  # (B, 2)
    row1 = torch.stack([sin, cos], dim=-1)
    linear = torch.stack([row0, row1], dim=1)  # (B, 2, 2)
    shift = tgt_mean - torch.einsum("bij,j->bi", linear, src_mean)  # (B, 2)
    return torch.cat([linear, shift.unsqueeze(-1)], dim=2)


def invert_affines(affine: torch.Tensor) -> torch.Tensor:
    """Inverses of (B, 2, 3) affines, (B, 2, 3)."""
    a, b, c = affine[:, 0, 0], affine[:, 0, 1], affine[:, 0, 2]
    d, e, f = affine[:, 1, 0], affine[:, 1, 1], affine[:, 1, 2]
    det = a * e - b * d
    ia, ib, id_, ie = e / det, -b / det, -d / det, a / det
    ic = -(ia * c + ib * f)
    if_ = -(id_ * c + ie * f)
    row0 = torch.stack([ia, ib, ic], dim=-1)
    row1 = torch.stack([id_, ie, if_], dim=-1)
    return torch.stack([row0, row1], dim=1)


def apply_affines(affine: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Apply per-batch affines (B, 2, 3) to points (B, ..., 2) (elementwise; no tiny matmuls)."""
    shape = (affine.shape[0],) + (1,) * (points.dim() - 2)
    a = [affine[:, i, j].reshape(shape) for i in range(2) for j in range(3)]
    x, y = points[..., 0], points[..., 1]
    return torch.stack([a[0] * x + a[1] * y + a[2], a[3] * x + a[4] * y + a[5]], dim=-1)


def sample_at(texture: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of one texture (1, C, S, S) at crop-pixel ``points`` (B, h, w, 2) -> (B, C, h, w).

    The B windows are stacked into one tall grid, so the texture is never copied per frame.
    Outside the texture the border pixels repeat.
    """
    batch, h, w, _ = points.shape
    size = texture.shape[-1]
    grid = (points * 2 + 1) / size - 1  # align_corners=False convention
    out = F.grid_sample(texture, grid.reshape(1, batch * h, w, 2), mode="bilinear",
                        padding_mode="border", align_corners=False)  # (1, C, B*h, w)
    return out.reshape(texture.shape[1], batch, h, w).permute(1, 0, 2, 3)
