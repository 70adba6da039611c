"""MediaPipe's canonical (pose-free, neutral) face in talkinghead's canonical frame.

Canonical frame
---------------
* **x** points to the image's right (the subject's left), **y** points down (image rows),
  **z** points away from the camera (into the scene) — the same directions as image pixel
  coordinates plus MediaPipe's landmark depth (smaller z = closer to the camera).
  This is a proper rotation (180 degrees about x) of the published model's frame, not a mirror.
* Origin: the midpoint between the two eye centres (mean of each eye's 16 contour points).
* Scale: the distance between the two eye centres is exactly 1.

Source: the 468 vertices of MediaPipe's ``canonical_face_model.obj`` (Apache-2.0), shipped as
``talkinghead/assets/face/canonical_face_model.json`` (see the README beside it).

Iris points 468-477 are not part of that model. Each iris centre is placed at its eye's contour
centre, and its four ring points at :data:`IRIS_RADIUS_CM` around it in the x-y plane at the
centre's depth, in the order MediaPipe's refined mesh uses: (+x, -y, -x, +y).
"""

from __future__ import annotations

import functools
import json

import numpy as np

from ..paths import ASSETS_DIR
from . import landmarks as L

CANONICAL_MODEL_PATH = ASSETS_DIR / "face" / "canonical_face_model.json"
# Mean adult horizontal visible iris diameter is about 11.7 mm; the model's units are ~centimetres.
IRIS_RADIUS_CM = 1.17 / 2
# Published frame (x subject-left, y up, z to camera) -> ours (x right, y down, z away).
_PUBLISHED_TO_CANONICAL = np.diag([1.0, -1.0, -1.0])
# Ring directions of MediaPipe's refined iris points, in image axes: +x, -y (up), -x, +y (down).
_IRIS_RING_DIRECTIONS = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def _load_published_vertices() -> np.ndarray:
    """The 468 model vertices as published, (468, 3) float64 in ~cm."""
    with open(CANONICAL_MODEL_PATH, encoding="utf-8") as f:
        vertices = np.asarray(json.load(f)["vertices"], dtype=np.float64)
    assert vertices.shape == (L.NUM_MESH_POINTS, 3), vertices.shape
    return vertices


def eye_centres(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(right, left) eye centres = means of the 16 eye-contour points of a (>=468, D) landmark array."""
    return points[list(L.RIGHT_EYE)].mean(axis=0), points[list(L.LEFT_EYE)].mean(axis=0)


@functools.lru_cache(maxsize=1)
def _canonical() -> np.ndarray:
    mesh = _load_published_vertices() @ _PUBLISHED_TO_CANONICAL.T  # (468, 3)
    right, left = eye_centres(mesh)
    cm_per_unit = float(np.linalg.norm(left - right))
    mesh = (mesh - (right + left) / 2) / cm_per_unit
    radius = IRIS_RADIUS_CM / cm_per_unit
    irises = []
    for centre in eye_centres(mesh):  # right iris (468..472) first, then left (473..477)
        irises.append(centre)
        irises.extend(centre + radius * _IRIS_RING_DIRECTIONS)
    out = np.concatenate([mesh, np.asarray(irises)], axis=0)  # (478, 3)
    out.setflags(write=False)
    return out


def canonical_landmarks() -> np.ndarray:
    """The 478 canonical landmarks in the canonical frame described above, (478, 3) float64 (a copy)."""
    return _canonical().copy()


def canonical_iris_radius() -> float:
    """The iris radius used for points 469-472 / 474-477, in canonical units (eye-centre distance 1)."""
    points = _canonical()
    return float(np.linalg.norm(points[L.RIGHT_IRIS[1]] - points[L.RIGHT_IRIS_CENTER]))
