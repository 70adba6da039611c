"""The per-frame dense warp: landmark displacements -> backward sampling grid (torch, ONNX-exportable).

Per frame, for a batch of target landmark sets:

1. landmark displacements (target - source);
2. vertex displacements ``mix @ landmark_disp`` (rings and anchors of the control mesh), with
   folds relaxed (vertices of triangles turned over take their neighbours' mean displacement);
3. the forward flow ``d`` on the coarse grid: a gather of 3 vertex displacements per node times
   the precomputed barycentric weights;
4. its inverse: one fixed-point step ``p = p_tgt - d(p_tgt)``, then Newton steps on
   ``p + d(p) = p_tgt`` (one 2-D ``grid_sample`` of ``d`` and its finite-difference Jacobian per
   step), which also converge where the warp stretches or compresses strongly;
5. the backward displacement ``p - p_tgt`` upsampled to the crop size, added to the identity
   grid: a ``grid_sample`` grid that pulls each target pixel from its source position.

Coordinates follow ``grid_sample(align_corners=False)``: pixel ``x`` (centre at integer ``x``)
is ``(2 x + 1) / W - 1`` in normalised units. Only matmul, gather, elementwise ops, bilinear
``interpolate`` and 2-D ``grid_sample`` are used (ONNX opset >= 16).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .mesh import ControlMesh

DEFAULT_INVERSE_STEPS = 3
MIN_JACOBIAN = 0.05  # below this determinant a Newton step is not trusted (fold or collapse)
# ... and above this one it is trusted fully; in between a node blends the Newton and the fixed-point
# step, so the step changes continuously with the flow (a hard switch turned float rounding, e.g.
# onnxruntime vs torch, into visibly different pixels where a fold's determinant sat at the threshold).
TRUSTED_JACOBIAN = 0.1
MAX_STEP_PX = 8.0  # Newton steps are clipped to this length per axis
DEFAULT_UNFOLD_STEPS = 4
MIN_AREA_PX = 0.5  # source triangles smaller than this (px^2) have no orientation to preserve


def identity_grid(size: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Normalised pixel-centre coordinates of a ``size x size`` image, (1, size, size, 2) as (x, y)."""
    axis = (torch.arange(size, device=device, dtype=dtype) * 2 + 1) / size - 1
    ys, xs = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([xs, ys], dim=-1).unsqueeze(0)


def pixel_grid(size: int) -> np.ndarray:
    """Pixel-centre coordinates (x, y) of a ``size x size`` image, (size, size, 2) float32 (OpenCV maps)."""
    axis = np.arange(size, dtype=np.float32)
    xs, ys = np.meshgrid(axis, axis)
    return np.stack([xs, ys], axis=-1)


def _padded(rows: list[list[int]], pad: int | None) -> np.ndarray:
    """Ragged index lists -> (N, K) int64 table padded with ``pad`` (None: each row's first entry)."""
    width = max(len(r) for r in rows)
    out = np.empty((len(rows), width), np.int64)
    for i, r in enumerate(rows):
        out[i] = list(r) + [r[0] if pad is None else pad] * (width - len(r))
    return out


class WarpField(nn.Module):
    """Backward sampling grids from target landmarks, for one avatar's control mesh.

    ``forward(target)``: ``target`` (B, 478, 2) landmark positions in crop pixels ->
    ``grid`` (B, S, S, 2): normalised source positions for ``grid_sample``.
    """

    def __init__(self, mesh: ControlMesh, source_landmarks, inverse_steps: int = DEFAULT_INVERSE_STEPS,
                 unfold_steps: int = DEFAULT_UNFOLD_STEPS):
        super().__init__()
        self.crop_size = mesh.crop_size
        self.grid_size = mesh.grid_size
        self.inverse_steps = int(inverse_steps)
        self.unfold_steps = int(unfold_steps)
        self.max_step = MAX_STEP_PX * 2.0 / mesh.crop_size  # normalised
        self._register_unfolding(mesh)
        src = torch.as_tensor(source_landmarks, dtype=torch.float32)[:, :2]
        self.register_buffer("source", src)  # (478, 2) crop px
        self.register_buffer("mix", torch.from_numpy(mesh.mix))  # (V, 478)
        self.register_buffer("grid_vertex", torch.from_numpy(mesh.grid_vertex))  # (G, 3)
        self.register_buffer("grid_weight", torch.from_numpy(mesh.grid_weight).unsqueeze(-1))  # (G, 3, 1)
        self.register_buffer("coarse_identity", identity_grid(mesh.grid_size))  # (1, n, n, 2)
        self.register_buffer("crop_identity", identity_grid(mesh.crop_size))  # (1, S, S, 2)

    def _register_unfolding(self, mesh: ControlMesh) -> None:
        """Buffers for :meth:`unfold`: triangles, source orientations, per-vertex incident triangles
        and neighbours (padded tables, so per frame everything is a gather)."""
        tri = mesh.triangles  # (T, 3)
        count = mesh.num_vertices
        v = mesh.vertices.astype(np.float64)
        a, b, c = v[tri[:, 0]], v[tri[:, 1]], v[tri[:, 2]]
        area = 0.5 * ((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]))
        incident = [[] for _ in range(count)]
        neighbours = [set() for _ in range(count)]
        for t, (i, j, k) in enumerate(tri):
            for x, y, z in ((i, j, k), (j, k, i), (k, i, j)):
                incident[x].append(t)
                neighbours[x].update((y, z))
        movable = np.abs(mesh.mix).sum(axis=1) > 0  # anchors never move and never pull
        neighbours = [sorted(n for n in ns if movable[n]) or [x] for x, ns in enumerate(neighbours)]
        self.register_buffer("vertices", torch.from_numpy(mesh.vertices))  # (V, 2) px
        self.register_buffer("triangles", torch.from_numpy(tri))  # (T, 3)
        # Triangles thinner than MIN_AREA_PX (closed lips and lids) have no orientation to keep;
        # a last dummy "triangle" pads the incidence table and never counts as flipped.
        orient = np.append(np.where(np.abs(area) > MIN_AREA_PX, np.sign(area), 0.0), 0.0)
        self.register_buffer("orientation", torch.as_tensor(orient[:-1], dtype=torch.float32))  # (T,)
        self.register_buffer("vertex_triangles", torch.from_numpy(_padded(incident, len(tri))))  # (V, Ki)
        self.register_buffer("vertex_neighbours", torch.from_numpy(_padded(neighbours, None)))  # (V, Kn)
        weights = np.zeros(self.vertex_neighbours.shape, np.float32)
        for x, ns in enumerate(neighbours):
            weights[x, :len(ns)] = 1.0 / len(ns)
        self.register_buffer("neighbour_weights", torch.from_numpy(weights).unsqueeze(-1))  # (V, Kn, 1)
        self.register_buffer("movable", torch.from_numpy(movable).view(1, -1, 1))  # (1, V, 1) bool

    def unfold(self, vertex_disp: torch.Tensor) -> torch.Tensor:
        """Vertex displacements (B, V, 2) px with folds relaxed: every vertex of a triangle that the
        displacement turns over takes the mean displacement of its neighbours, up to
        ``unfold_steps`` times. Driven faces fold where a turning head hides points behind its
        cheek or nose."""
        for _ in range(self.unfold_steps):
            p = (self.vertices + vertex_disp)[:, self.triangles]  # (B, T, 3, 2)
            e1, e2 = p[:, :, 1] - p[:, :, 0], p[:, :, 2] - p[:, :, 0]
            area = 0.5 * (e1[..., 0] * e2[..., 1] - e1[..., 1] * e2[..., 0])  # (B, T)
            flipped = area * self.orientation < 0.0
            if not torch.jit.is_tracing() and not bool(flipped.any()):
                break  # eager shortcut; an exported graph always runs every step
            flipped = torch.cat([flipped, torch.zeros_like(flipped[:, :1])], dim=1)  # (B, T + 1) padding
            touched = flipped[:, self.vertex_triangles].any(dim=2).unsqueeze(-1) & self.movable  # (B, V, 1)
            average = (vertex_disp[:, self.vertex_neighbours] * self.neighbour_weights).sum(dim=2)  # (B, V, 2)
            vertex_disp = torch.where(touched, average, vertex_disp)
        return vertex_disp

    def forward_flow(self, target: torch.Tensor) -> torch.Tensor:
        """Forward displacement on the coarse grid, (B, 2, n, n) in normalised units."""
        batch = target.shape[0]
        disp = target[..., :2] - self.source  # (B, 478, 2) px
        flat = disp.permute(1, 0, 2).reshape(disp.shape[1], batch * 2)  # (478, 2B): one GEMM for the batch
        vertex_disp = torch.matmul(self.mix, flat).reshape(-1, batch, 2).permute(1, 0, 2)  # (B, V, 2)
        vertex_disp = self.unfold(vertex_disp) * (2.0 / self.crop_size)
        node_disp = (vertex_disp[:, self.grid_vertex[:, 0]] * self.grid_weight[:, 0]
                     + vertex_disp[:, self.grid_vertex[:, 1]] * self.grid_weight[:, 1]
                     + vertex_disp[:, self.grid_vertex[:, 2]] * self.grid_weight[:, 2])  # (B, G, 2)
        n = self.grid_size
        return node_disp.reshape(batch, n, n, 2).permute(0, 3, 1, 2)  # (B, 2, n, n)

    def invert(self, flow: torch.Tensor) -> torch.Tensor:
        """Backward displacement on the coarse grid, (B, 2, n, n): solves ``p + d(p) = y`` for every
        node ``y`` by Newton's method on the bilinear flow (its Jacobian from finite differences of
        the grid, sampled alongside it), started from one fixed-point step ``p = y - d(y)``.
        Where the warp folds or compresses to nothing (Jacobian determinant below
        ``MIN_JACOBIAN``) a node takes a plain fixed-point step instead (blended up to
        ``TRUSTED_JACOBIAN``). Plain fixed-point
        iteration only converges where the warp stretches less than twofold, which a turning
        head's cheeks or a closing lid exceed."""
        base = self.coarse_identity.expand(flow.shape[0], -1, -1, -1)  # (B, n, n, 2)
        field = torch.cat([flow, self._jacobian(flow)], dim=1)  # (B, 6, n, n): d, dd/dx, dd/dy
        pos = base - self._sample(flow, base)[..., :2]
        for _ in range(self.inverse_steps):
            sampled = self._sample(field, pos)  # (B, n, n, 6)
            d, dx, dy = sampled[..., 0:2], sampled[..., 2:4], sampled[..., 4:6]
            r = pos + d - base  # residual (B, n, n, 2)
            j00, j01 = 1.0 + dx[..., 0], dy[..., 0]  # J = I + [dd/dx dd/dy]
            j10, j11 = dx[..., 1], 1.0 + dy[..., 1]
            det = j00 * j11 - j01 * j10
            ok = det > MIN_JACOBIAN
            safe = torch.where(ok, det, torch.ones_like(det))
            newton = torch.stack([(j11 * r[..., 0] - j01 * r[..., 1]) / safe,
                                  (-j10 * r[..., 0] + j00 * r[..., 1]) / safe], dim=-1)
            trust = ((det - MIN_JACOBIAN) / (TRUSTED_JACOBIAN - MIN_JACOBIAN)).clamp(0.0, 1.0).unsqueeze(-1)
            step = (trust * newton.clamp(-self.max_step, self.max_step) + (1.0 - trust) * r)
            step = step.clamp(-self.max_step, self.max_step)
            pos = pos - step
        return (pos - base).permute(0, 3, 1, 2)

    def _jacobian(self, flow: torch.Tensor) -> torch.Tensor:
        """Finite-difference derivatives of the flow w.r.t. normalised x and y, (B, 4, n, n):
        central differences inside, one-sided at the grid border."""
        spacing = 2.0 / self.grid_size  # normalised distance between nodes
        def diff(t: torch.Tensor, dim: int) -> torch.Tensor:
            n = t.shape[dim]
            fwd = torch.cat([t.narrow(dim, 1, n - 1), t.narrow(dim, n - 1, 1)], dim=dim)
            bwd = torch.cat([t.narrow(dim, 0, 1), t.narrow(dim, 0, n - 1)], dim=dim)
            steps = torch.full((n,), 2.0, dtype=t.dtype, device=t.device)
            steps[0] = steps[-1] = 1.0
            shape = [1] * t.dim()
            shape[dim] = n
            return (fwd - bwd) / (steps.view(shape) * spacing)
        return torch.cat([diff(flow, 3), diff(flow, 2)], dim=1)

    @staticmethod
    def _sample(field: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """Bilinear samples of a coarse field (B, C, n, n) at normalised points (B, n, n, 2) -> (B, n, n, C)."""
        out = F.grid_sample(field, pos, mode="bilinear", padding_mode="border", align_corners=False)
        return out.permute(0, 2, 3, 1)

    def forward(self, target: torch.Tensor) -> torch.Tensor:
        back = self.invert(self.forward_flow(target))  # (B, 2, n, n)
        size = self.crop_size
        back = F.interpolate(back, size=(size, size), mode="bilinear", align_corners=False)
        return self.crop_identity + back.permute(0, 2, 3, 1)  # (B, S, S, 2)
