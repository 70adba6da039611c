"""Pictures of a registration, for people: the aligned crop with its landmarks, and the head mask."""

from __future__ import annotations

import cv2
import numpy as np

from . import landmarks as L
from .registration import FaceRegistration

# RGB colours of the drawn contours.
_CONTOURS = (
    (L.FACE_OVAL, True, (255, 255, 255)),
    (L.LIPS_OUTER, True, (255, 80, 80)), (L.LIPS_INNER, True, (255, 160, 160)),
    (L.RIGHT_EYE, True, (80, 200, 255)), (L.LEFT_EYE, True, (80, 255, 120)),
    (L.RIGHT_EYEBROW_UPPER, False, (80, 200, 255)), (L.RIGHT_EYEBROW_LOWER, False, (80, 200, 255)),
    (L.LEFT_EYEBROW_UPPER, False, (80, 255, 120)), (L.LEFT_EYEBROW_LOWER, False, (80, 255, 120)),
    (L.NOSE_BRIDGE + L.NOSE_COLUMELLA[1:], False, (255, 220, 80)),
)
_MESH_COLOUR = (150, 150, 150)
_IRIS_COLOUR = (255, 255, 0)
_SHIFT = 4  # sub-pixel bits for OpenCV drawing
_MASK_DIM = 0.3  # brightness of the crop where the mask is 0


def _pts(xy: np.ndarray) -> np.ndarray:
    return np.round(xy * (1 << _SHIFT)).astype(np.int32)


def draw_landmarks(crop: np.ndarray, crop_landmarks: np.ndarray) -> np.ndarray:
    """The crop (S, S, 3) with mesh points, named contours and irises drawn on a copy."""
    out = crop.copy()
    xy = crop_landmarks[:, :2]
    for p in _pts(xy[: L.NUM_MESH_POINTS]):
        cv2.circle(out, tuple(p), 1 << _SHIFT, _MESH_COLOUR, -1, cv2.LINE_AA, _SHIFT)
    for group, closed, colour in _CONTOURS:
        cv2.polylines(out, [_pts(xy[list(group)])], closed, colour, 1, cv2.LINE_AA, _SHIFT)
    for iris in (L.RIGHT_IRIS, L.LEFT_IRIS):
        centre, ring = xy[iris[0]], xy[list(iris[1:])]
        radius = float(np.linalg.norm(ring - centre, axis=1).mean())
        cv2.circle(out, tuple(_pts(centre)), int(round(radius * (1 << _SHIFT))), _IRIS_COLOUR, 1, cv2.LINE_AA, _SHIFT)
    return out


def draw_mask(crop: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The crop dimmed where the head mask is 0, with the mask's outer (>0) and inner (=1) edges drawn."""
    weight = _MASK_DIM + (1.0 - _MASK_DIM) * mask[:, :, None]
    out = np.clip(np.rint(crop.astype(np.float32) * weight), 0, 255).astype(np.uint8)
    for level, colour in (((mask > 0), (255, 60, 60)), ((mask >= 1.0), (255, 230, 60))):
        contours, _ = cv2.findContours(level.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, colour, 1, cv2.LINE_AA)
    return out


def registration_preview(reg: FaceRegistration) -> np.ndarray:
    """Side-by-side (S, 2S, 3) picture: crop with landmarks | crop through the feathered mask, captioned."""
    left = draw_landmarks(reg.crop, reg.crop_landmarks)
    right = draw_mask(reg.crop, reg.mask)
    p = reg.pose
    captions = (f"yaw {p.yaw:+.1f}  pitch {p.pitch:+.1f}  roll {p.roll:+.1f} deg",
                "head mask: red edge = 0, yellow = 1")
    for panel, text in zip((left, right), captions):
        scale = panel.shape[0] / 1024
        for colour, thickness in (((0, 0, 0), 3), ((255, 255, 255), 1)):
            cv2.putText(panel, text, (8, panel.shape[0] - 10), cv2.FONT_HERSHEY_SIMPLEX, scale, colour,
                        thickness, cv2.LINE_AA)
    return np.concatenate([left, right], axis=1)
