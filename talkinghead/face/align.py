"""Square, roll-corrected face crop; its exact inverse; the feathered head mask; paste-back.

Transforms are 2x3 affine matrices acting on pixel-centre coordinates (OpenCV's convention:
pixel (i, j) has centre (x=j, y=i)): ``crop_xy = A @ [x, y, 1]`` maps photo -> crop and
``photo_xy = A_inv @ [u, v, 1]`` maps back. Both are similarities (rotation, uniform scale,
translation), so they are exact inverses of each other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from . import landmarks as L
from .config import FaceConfig
from .pose import HeadPose

# OpenCV interpolation for both directions: bicubic keeps a crop -> photo round trip sharper
# than bilinear at near 1:1 scale (measured in tests: PSNR inside the mask).
INTERPOLATION = cv2.INTER_CUBIC


def invert_affine(A: np.ndarray) -> np.ndarray:
    """Exact inverse of a 2x3 affine transform, (2, 3) float64."""
    M = np.vstack([np.asarray(A, dtype=np.float64), [0.0, 0.0, 1.0]])
    return np.linalg.inv(M)[:2]


def apply_affine(A: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map (N, 2) or (N, 3) points through a 2x3 similarity; a z column is scaled by its scale factor."""
    points = np.asarray(points, dtype=np.float64)
    xy = points[:, :2] @ A[:, :2].T + A[:, 2]
    if points.shape[1] == 2:
        return xy
    scale = math.sqrt(abs(np.linalg.det(A[:, :2])))
    return np.concatenate([xy, points[:, 2:] * scale], axis=1)


def crop_transform(pose: HeadPose, config: FaceConfig) -> np.ndarray:
    """The 2x3 photo -> crop similarity: the head centred, upright (pose roll removed), sized by
    ``config.crop_scale`` eye-centre distances across ``config.crop_size`` pixels."""
    anchor = np.array([[0.0, config.crop_center_y, config.crop_center_z]])
    centre = pose.project(anchor)[0, :2]
    k = config.crop_size / (config.crop_scale * pose.scale)  # crop px per photo px
    theta = math.radians(pose.roll)
    c, s = math.cos(theta), math.sin(theta)
    rot = k * np.array([[c, s], [-s, c]])  # rotate by -roll, then scale
    half = (config.crop_size - 1) / 2.0
    return np.hstack([rot, (np.array([half, half]) - rot @ centre)[:, None]])


def warp_to_crop(photo: np.ndarray, A: np.ndarray, size: int) -> np.ndarray:
    """The (size, size, 3) crop of ``photo`` under the photo -> crop transform ``A``.
    Parts of the crop outside the photo repeat the photo's edge pixels."""
    return cv2.warpAffine(photo, A, (size, size), flags=INTERPOLATION, borderMode=cv2.BORDER_REPLICATE)


def head_mask(crop_landmarks: np.ndarray, config: FaceConfig) -> np.ndarray:
    """Feathered head mask in crop space, (S, S) float32 in [0, 1].

    The region is the convex hull of the 468 mesh points scaled by ``config.mask_expand`` about
    their centre, extended ``config.mask_neck`` IOD downwards (chin, jaw and neck) and
    ``config.mask_hair`` IOD upwards (hair), minus a ``config.mask_border_px`` frame. Its inside
    ramps from 0 at the edge to 1 at ``config.feather_px`` in with a smoothstep; everything outside
    it is exactly 0.
    """
    size = config.crop_size
    pts = crop_landmarks[: L.NUM_MESH_POINTS, :2]
    centre = pts.mean(axis=0)
    grown = centre + config.mask_expand * (pts - centre)
    iod = config.crop_size / config.crop_scale  # crop px per canonical unit, by construction of the crop
    down, up = np.array([0.0, config.mask_neck * iod]), np.array([0.0, -config.mask_hair * iod])
    hull = cv2.convexHull(np.concatenate([grown, grown + down, grown + up]).astype(np.float32))
    region = np.zeros((size, size), np.uint8)
    cv2.fillConvexPoly(region, np.round(hull[:, 0] * 16).astype(np.int32), 1, lineType=cv2.LINE_8, shift=4)
    b = int(math.ceil(config.mask_border_px))
    if b:
        region[:b], region[-b:], region[:, :b], region[:, -b:] = 0, 0, 0, 0
    inside = cv2.distanceTransform(region, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)  # px to the region edge
    t = np.clip(inside / config.feather_px, 0.0, 1.0)
    return (t * t * (3.0 - 2.0 * t)).astype(np.float32)


@dataclass(frozen=True, eq=False)
class PastePlan:
    """What paste-back needs per frame, precomputed once per (transform, mask)."""

    box: tuple[int, int, int, int]  # (x0, y0, x1, y1) photo pixels touched, x1/y1 exclusive
    A_box: np.ndarray  # (2, 3) box pixel -> crop pixel (for cv2.WARP_INVERSE_MAP)
    alpha: np.ndarray  # (h, w, 3) float32 mask resampled into the box, repeated per channel


def paste_plan(photo_shape: tuple[int, ...], transform: np.ndarray, mask: np.ndarray) -> PastePlan | None:
    """Precompute paste-back for photos of ``photo_shape`` (None when the mask is empty/off-photo)."""
    ys, xs = np.nonzero(mask > 0)
    if len(xs) == 0:
        return None
    A_inv = invert_affine(transform)
    corners = np.array([[xs.min() - 1, ys.min() - 1], [xs.max() + 1, ys.min() - 1],
                        [xs.min() - 1, ys.max() + 1], [xs.max() + 1, ys.max() + 1]], dtype=np.float64)
    photo_corners = apply_affine(A_inv, corners)
    h, w = photo_shape[:2]
    x0, y0 = np.floor(photo_corners.min(axis=0)).astype(int)
    x1, y1 = np.ceil(photo_corners.max(axis=0)).astype(int) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x0 >= x1 or y0 >= y1:
        return None
    A_box = np.asarray(transform, dtype=np.float64).copy()
    A_box[:, 2] += A_box[:, :2] @ np.array([x0, y0], dtype=np.float64)
    alpha = cv2.warpAffine(mask.astype(np.float32), A_box, (x1 - x0, y1 - y0),
                           flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT,
                           borderValue=0.0)
    return PastePlan(box=(int(x0), int(y0), int(x1), int(y1)), A_box=A_box,
                     alpha=np.repeat(np.clip(alpha, 0.0, 1.0)[:, :, None], 3, axis=2))


def paste_with_plan(photo: np.ndarray, crop: np.ndarray, plan: PastePlan | None) -> np.ndarray:
    """Composite ``crop`` into a copy of ``photo`` through a :class:`PastePlan`."""
    out = photo.copy()
    if plan is None:
        return out
    x0, y0, x1, y1 = plan.box
    back = cv2.warpAffine(_as_uint8_rgb(crop), plan.A_box, (x1 - x0, y1 - y0),
                          flags=INTERPOLATION | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
    region = out[y0:y1, x0:x1].astype(np.float32)  # (h, w, 3)
    delta = back.astype(np.float32)
    cv2.subtract(delta, region, dst=delta)
    cv2.multiply(delta, plan.alpha, dst=delta)  # exactly 0 where alpha is 0
    cv2.add(region, delta, dst=region)  # a convex mix of two values in [0, 255]
    np.rint(region, out=region)
    out[y0:y1, x0:x1] = region.astype(np.uint8)
    return out


def paste_back(photo: np.ndarray, crop: np.ndarray, transform: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Put an (edited) crop back into the full photo.

    photo: (H, W, 3) uint8; crop: (S, S, 3) uint8 (or float in [0, 1]); transform: the 2x3
    photo -> crop affine the crop was made with; mask: (S, S) float in [0, 1], crop space.
    Only the photo box under the mask is touched; every pixel where the resampled mask is 0 is
    returned byte-identical. Returns a new array.
    """
    if mask.shape[:2] != crop.shape[:2]:
        raise ValueError(f"mask shape {mask.shape} does not match crop shape {crop.shape}")
    return paste_with_plan(photo, crop, paste_plan(photo.shape, transform, mask))


def _as_uint8_rgb(crop: np.ndarray) -> np.ndarray:
    if crop.dtype == np.uint8:
        return crop
    if np.issubdtype(crop.dtype, np.floating):
        return np.clip(np.rint(crop * 255.0), 0, 255).astype(np.uint8)
    raise ValueError(f"crop dtype {crop.dtype} unsupported; use uint8 or float in [0, 1]")
