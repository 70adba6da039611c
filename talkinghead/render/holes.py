"""Holes of the face mesh: regions a warp must not stretch (numpy + OpenCV, once per avatar).

The mouth opening (inside the inner-lip contour) and the eye openings (inside each eye contour)
are where the source texture is not skin: teeth and cavity, eyeballs. The base warp samples a
*filled* copy of the crop in which these regions are inpainted from the surrounding lip or lid
skin, so closing lips or lids never drag teeth or irises along; what is inside each *target*
opening is drawn by its own layer (:mod:`~talkinghead.render.mouth`, :mod:`~talkinghead.render.eyes`).
Each filled region is the source opening shrunk by the layers' soft edge, so a motion that keeps
the openings as they are renders the source unchanged.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from ..face import landmarks as L
from .geometry import polygon_sdf

HOLE_CONTOURS = {"mouth": L.LIPS_INNER, "right_eye": L.RIGHT_EYE, "left_eye": L.LEFT_EYE}
SDF_CHUNK = 65536  # pixels per signed-distance evaluation (bounds memory at 20 edges)
INPAINT_RADIUS_PX = 5
INPAINT_GROW_PX = 2.5  # the inpainting takes its colours from this far outside each opening


def polygon_sdf_image(polygon: np.ndarray, size: int) -> np.ndarray:
    """Signed distance (pixels, < 0 inside) of every pixel centre of an (S, S) image to a closed
    polygon (N, 2), computed exactly as the per-frame layers do. (S, S) float32."""
    axis = np.arange(size, dtype=np.float32)
    xs, ys = np.meshgrid(axis, axis)
    points = torch.from_numpy(np.stack([xs.ravel(), ys.ravel()], axis=1)).unsqueeze(0)  # (1, S*S, 2)
    poly = torch.as_tensor(np.asarray(polygon, np.float32)[:, :2]).unsqueeze(0)  # (1, N, 2)
    with torch.no_grad():
        sdf = torch.cat([polygon_sdf(chunk, poly) for chunk in points.split(SDF_CHUNK, dim=1)], dim=1)
    return sdf.reshape(size, size).numpy()


def polygon_mask(polygon: np.ndarray, size: int, grow_px: float = 0.0) -> np.ndarray:
    """(S, S) bool mask of the pixel centres inside a closed polygon (N, 2) grown by ``grow_px``
    (negative: shrunk)."""
    return polygon_sdf_image(polygon, size) < grow_px


def fill_holes(crop: np.ndarray, landmarks: np.ndarray, shrink_px: dict[str, float]) -> np.ndarray:
    """A copy of the (S, S, 3) uint8 crop with every source opening, shrunk by
    ``shrink_px[name]`` (names of :data:`HOLE_CONTOURS`), replaced by skin inpainted from *outside*
    the opening (the inpainting sees the opening grown by ``INPAINT_GROW_PX`` as unknown, so no
    iris, sclera or teeth colour leaks into the fill)."""
    size = crop.shape[0]
    replace = np.zeros((size, size), bool)
    unknown = np.zeros((size, size), bool)
    for name, contour in HOLE_CONTOURS.items():
        sdf = polygon_sdf_image(np.asarray(landmarks)[list(contour), :2], size)
        replace |= sdf < -shrink_px[name]
        unknown |= sdf < INPAINT_GROW_PX
    if not replace.any():
        return crop.copy()
    painted = cv2.inpaint(np.ascontiguousarray(crop), unknown.astype(np.uint8), INPAINT_RADIUS_PX, cv2.INPAINT_TELEA)
    out = crop.copy()
    out[replace] = painted[replace]
    return out
