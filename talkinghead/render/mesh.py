"""The control mesh of the warp renderer, built once per avatar (numpy, no torch).

Vertices are, in this order::

    [ the 468 mesh landmarks | ring points (hair, ears, neck) | still anchors | crop-border anchors ]

The 10 iris points are not vertices: a closing upper lid must slide over the iris, which a mesh
pinning the iris in place would fold.

Every vertex displacement is a fixed linear function of the 478 landmark displacements,
``vertex_disp = mix @ landmark_disp`` with ``mix`` of shape ``(V, 478)``: identity rows for the
mesh landmarks, decaying smoothed copies of the face-oval displacement for the rings, zero rows
for the anchors.

Rings and still anchors lie on rays from the centre of the face oval through each oval point.
Along each ray, the *still* anchor sits where the ray leaves the region that is pasted back
opaquely (paste mask == 1; beyond it the crop is blended with the photo, so nothing there may
move, or the feather ring would show a double image). The rings sit at fractions of the way from
the oval to that anchor and follow the oval's displacement with a cosine falloff, so a dropping
jaw or a turning head fades out smoothly through the neck, hair and ears, and the triangles
between the face and the still region stay small.

The Delaunay triangulation of the source vertices and the barycentric coordinates of every node
of a coarse grid in its source triangle are precomputed, so that per frame the forward flow on
the grid is ``sum_k weight[g, k] * vertex_disp[vertex[g, k]]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import Delaunay

from ..face import landmarks as L

NUM_LANDMARKS = L.NUM_LANDMARKS  # 478
NUM_MESH = L.NUM_MESH_POINTS  # 468 mesh vertices; the iris points follow no vertex
STILL_LEVEL = 0.999  # paste-mask values below this are blended with the photo: nothing may move there
RAY_STEP = 0.01  # ray marching step, in multiples of the centre->oval distance
RAY_MAX_SCALE = 6.0


@dataclass(frozen=True)
class MeshConfig:
    """How the control mesh around the face is laid out.

    ``ring_fractions``: ring positions along each ray, as fractions of the way from the face oval
    (0) to the still anchor (1); below the jaw each ring follows ``0.5 * (1 + cos(pi * f))`` of
    the oval's displacement. ``ring_sigmas``: smoothing of the oval displacement along the oval for each ring,
    in inter-ocular distances (outer rings move more uniformly). ``ring_strides``: use every n-th
    of the 36 oval rays for that ring. ``anchor_count``: crop-border anchors per side.
    ``grid_size``: the coarse flow grid is ``grid_size x grid_size`` over the crop (128 -> one node
    per 4 px at 512 px). ``min_spacing``: ring points closer than this (in IOD) to another vertex
    are dropped.
    """

    ring_fractions: tuple[float, ...] = (0.2, 0.42, 0.68)
    # Above the jaw the skull carries hair and ears along: there the falloff starts late
    # (``decay(f ** skull_exponent)``); below it (neck) it starts at the oval.
    skull_exponent: float = 3.0
    skull_blend: float = 0.3  # IOD over which the falloff changes from neck to skull around ear level
    ring_sigmas: tuple[float, ...] = (0.12, 0.25, 0.4)
    ring_strides: tuple[int, ...] = (1, 1, 2)
    anchor_count: int = 12
    grid_size: int = 128
    min_spacing: float = 0.06
    # The face outline and the mesh points next to it follow a smoothed displacement (this many
    # Jacobi steps of averaging with their neighbours): MediaPipe's outline points sit irregularly
    # on the silhouette, and a turning head moves them unevenly, which would jag the outline.
    silhouette_smoothing: int = 3


@dataclass(frozen=True)
class ControlMesh:
    """Per-avatar geometry of the warp (see the module docstring). Coordinates are crop pixels
    with pixel centres at integers (x right, y down)."""

    vertices: np.ndarray  # (V, 2) float32 source positions
    mix: np.ndarray  # (V, 478) float32: vertex displacement = mix @ landmark displacement
    triangles: np.ndarray  # (T, 3) int64 vertex indices
    grid_vertex: np.ndarray  # (G, 3) int64 vertices of the triangle holding each grid node, G = n*n
    grid_weight: np.ndarray  # (G, 3) float32 barycentric weights of each grid node
    grid_size: int  # n: the coarse grid is n x n over the crop
    crop_size: int  # crop side in pixels

    @property
    def num_vertices(self) -> int:
        return int(self.vertices.shape[0])


def grid_points(grid_size: int, crop_size: int) -> np.ndarray:
    """Crop-pixel positions of the nodes of an ``n x n`` grid whose cells tile the crop, (n*n, 2).

    Node ``(i, j)`` sits at the centre of cell ``(i, j)``: the convention of ``grid_sample`` /
    ``interpolate`` with ``align_corners=False``, so upsampling the grid lands on pixel centres.
    """
    step = crop_size / grid_size
    axis = (np.arange(grid_size) + 0.5) * step - 0.5
    xs, ys = np.meshgrid(axis, axis)  # (n, n) each, row-major: y varies slowest
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


def still_scales(centre: np.ndarray, oval: np.ndarray, still: np.ndarray) -> np.ndarray:
    """Per oval point, the ray scale ``s`` (``centre + s * (oval - centre)``) where the ray first
    enters the still region (``still`` (S, S) bool, True where nothing may move) or leaves the crop. (36,)"""
    size = still.shape[0]
    scales = np.arange(1.0, RAY_MAX_SCALE, RAY_STEP)  # (K,)
    pts = centre + scales[None, :, None] * (oval - centre)[:, None, :]  # (36, K, 2)
    ij = np.round(pts).astype(int)
    outside = np.any((ij < 0) | (ij >= size), axis=-1)
    ij = np.clip(ij, 0, size - 1)
    hit = outside | still[ij[..., 1], ij[..., 0]]
    hit[:, -1] = True
    return scales[np.argmax(hit, axis=1)]


def _oval_kernel(oval: np.ndarray, iod: float, sigma: float) -> np.ndarray:
    """Gaussian smoothing weights along the closed oval, (36, 36) rows summing to 1; sigma in IOD."""
    seg = np.linalg.norm(np.roll(oval, -1, axis=0) - oval, axis=1)
    arc = np.concatenate([[0.0], np.cumsum(seg)[:-1]])
    d_arc = np.abs(arc[:, None] - arc[None, :])
    d_arc = np.minimum(d_arc, seg.sum() - d_arc) / iod
    kernel = np.exp(-0.5 * (d_arc / sigma) ** 2)
    return kernel / kernel.sum(axis=1, keepdims=True)


def _rings_and_anchors(landmarks: np.ndarray, still: np.ndarray, config: MeshConfig
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ring points (R, 2), their mixing rows (R, 478) and the still anchors (A, 2)."""
    oval_idx = np.asarray(L.FACE_OVAL)
    oval = landmarks[oval_idx]  # (36, 2)
    centre = oval.mean(axis=0)
    iod = max(float(np.linalg.norm(landmarks[list(L.LEFT_EYE)].mean(0) - landmarks[list(L.RIGHT_EYE)].mean(0))), 1e-3)
    reach = still_scales(centre, oval, still) - 1.0  # (36,) ray length beyond the oval, in oval radii
    anchors = centre + (1.0 + reach)[:, None] * (oval - centre)
    ear_level = landmarks[[L.JAW_LINE[0], L.JAW_LINE[-1]], 1].mean()
    skull = np.clip((ear_level - oval[:, 1]) / (config.skull_blend * iod) + 0.5, 0.0, 1.0)  # (36,) 1 above the jaw
    points, rows = [], []
    for fraction, sigma, stride in zip(config.ring_fractions, config.ring_sigmas, config.ring_strides):
        kernel = _oval_kernel(oval, iod, sigma)
        neck = 0.5 * (1.0 + np.cos(np.pi * fraction))
        late = 0.5 * (1.0 + np.cos(np.pi * fraction ** config.skull_exponent))
        for i in range(0, len(oval_idx), stride):
            decay = (1.0 - skull[i]) * neck + skull[i] * late
            points.append(centre + (1.0 + fraction * reach[i]) * (oval[i] - centre))
            row = np.zeros(NUM_LANDMARKS)
            row[oval_idx] = decay * kernel[i]
            rows.append(row)
    return np.asarray(points), np.asarray(rows), anchors


def _border_anchors(crop_size: int, count: int) -> np.ndarray:
    """Fixed anchors just outside the crop border, corners included, (4 * count, 2)."""
    lo, hi = -1.0, crop_size  # one pixel outside the pixel centres 0 .. crop_size - 1
    t = np.linspace(lo, hi, count + 1)[:-1]
    top = np.stack([t, np.full_like(t, lo)], axis=1)
    right = np.stack([np.full_like(t, hi), t], axis=1)
    bottom = np.stack([hi + lo - t, np.full_like(t, hi)], axis=1)
    left = np.stack([np.full_like(t, lo), hi + lo - t], axis=1)
    return np.concatenate([top, right, bottom, left])


def _spaced(points: np.ndarray, existing: np.ndarray, spacing: float) -> np.ndarray:
    """Mask of ``points`` that are at least ``spacing`` px from ``existing`` and from earlier kept points."""
    keep = np.zeros(len(points), bool)
    placed = list(existing)
    for i, p in enumerate(points):
        if np.linalg.norm(np.asarray(placed) - p, axis=1).min() >= spacing:
            keep[i] = True
            placed.append(p)
    return keep


def _smooth_silhouette(triangles: np.ndarray, mix: np.ndarray, steps: int) -> np.ndarray:
    """``mix`` with the rows of the face-oval points and their mesh neighbours replaced by
    ``steps`` Jacobi steps of half-averaging with all their (movable) mesh neighbours."""
    count = mix.shape[0]
    adjacency = np.zeros((count, count), bool)
    for a, b in ((0, 1), (1, 2), (2, 0)):
        adjacency[triangles[:, a], triangles[:, b]] = adjacency[triangles[:, b], triangles[:, a]] = True
    adjacency &= (np.abs(mix).sum(axis=1) > 0)[None, :]  # anchors do not pull
    oval = np.zeros(count, bool)
    oval[list(L.FACE_OVAL)] = True
    chosen = oval | (adjacency[oval].any(axis=0) & (np.arange(count) < NUM_MESH))
    average = adjacency / np.maximum(adjacency.sum(axis=1, keepdims=True), 1)
    step = np.eye(count)
    step[chosen] = 0.5 * step[chosen] + 0.5 * average[chosen]
    for _ in range(steps):
        mix = step @ mix
    return mix


def _normalised(weights: np.ndarray) -> np.ndarray:
    """Barycentric weights clipped to [0, 1] (round-off at triangle edges) and summing to 1, (G, 3)."""
    weights = np.clip(weights, 0.0, 1.0)
    return weights / weights.sum(axis=1, keepdims=True)


def build_control_mesh(landmarks: np.ndarray, crop_size: int, paste_mask: np.ndarray | None = None,
                       config: MeshConfig | None = None) -> ControlMesh:
    """Build the control mesh of one avatar.

    landmarks: (478, 2+) source landmarks in crop pixels. paste_mask: (S, S) paste-back mask in
    [0, 1]; nothing moves where it is below 1 (default: only the crop border is still).
    """
    config = config or MeshConfig()
    lmk = np.asarray(landmarks, dtype=np.float64)[:, :2]
    assert lmk.shape == (NUM_LANDMARKS, 2), lmk.shape
    still = np.zeros((crop_size, crop_size), bool) if paste_mask is None else np.asarray(paste_mask) < STILL_LEVEL
    ring_pts, ring_rows, still_pts = _rings_and_anchors(lmk, still, config)
    border = _border_anchors(crop_size, config.anchor_count)
    iod = float(np.linalg.norm(lmk[list(L.LEFT_EYE)].mean(0) - lmk[list(L.RIGHT_EYE)].mean(0)))
    spacing = config.min_spacing * iod
    keep_still = _spaced(still_pts, np.concatenate([lmk[:NUM_MESH], border]), spacing)
    still_pts = still_pts[keep_still]
    keep_ring = _spaced(ring_pts, np.concatenate([lmk[:NUM_MESH], border, still_pts]), spacing)
    ring_pts, ring_rows = ring_pts[keep_ring], ring_rows[keep_ring]
    anchors = np.concatenate([still_pts, border])

    vertices = np.concatenate([lmk[:NUM_MESH], ring_pts, anchors])  # (V, 2)
    mix = np.concatenate([np.eye(NUM_MESH, NUM_LANDMARKS), ring_rows, np.zeros((len(anchors), NUM_LANDMARKS))])
    # Joggling keeps every vertex in the triangulation even when landmarks coincide (closed lips).
    tri = Delaunay(vertices, qhull_options="QJ Qbb")
    mix = _smooth_silhouette(tri.simplices, mix, config.silhouette_smoothing)
    nodes = grid_points(config.grid_size, crop_size)
    simplex = tri.find_simplex(nodes)
    assert np.all(simplex >= 0), "border anchors must enclose every grid node"
    transform = tri.transform[simplex]  # (G, 3, 2)
    bary2 = np.einsum("gij,gj->gi", transform[:, :2], nodes - transform[:, 2])
    weights = np.concatenate([bary2, 1.0 - bary2.sum(axis=1, keepdims=True)], axis=1)
    return ControlMesh(
        vertices=vertices.astype(np.float32),
        mix=mix.astype(np.float32),
        triangles=tri.simplices.astype(np.int64),
        grid_vertex=tri.simplices[simplex].astype(np.int64),
        grid_weight=_normalised(weights).astype(np.float32),
        grid_size=config.grid_size,
        crop_size=int(crop_size),
    )
