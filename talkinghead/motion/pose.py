"""Head pose and projection: canonical face frame -> posed canonical frame -> image pixels.

Frames
------
* **Canonical frame** (:mod:`talkinghead.face.canonical`): x to the image's right, y down,
  z away from the camera; origin between the eye centres; unit = the inter-ocular (eye-centre)
  distance, IOD. Identity and expression live here.
* **Posed frame**: same axes and units, after the head pose of a motion frame::

      posed = scale * R (p - HEAD_PIVOT) + HEAD_PIVOT + FACE_SIZE * (tx, ty, 0)
      R = Rz(roll) @ Ry(yaw) @ Rx(pitch)          (column vectors, angles in degrees)

  With x right / y down / z away this makes positive yaw turn the nose towards the image's
  left, positive pitch nod the nose down and positive roll tilt the face clockwise on screen.
* **Image / crop frame**: pixels, x right, y down. The camera is orthographic (weak
  perspective): ``image = A[:, :2] @ posed[:2] + A[:, 2]`` with ``A`` the avatar's (2, 3)
  canonical->image similarity (``to_image``), typically ``[[s, 0, ox], [0, s, oy]]`` with
  ``s`` pixels per IOD; rotation in ``A`` is allowed but roll normally lives in the pose.
* **Camera distance** (rendering only, :func:`reproject`): a portrait is a pinhole photo, in
  which a point appears magnified by ``D / (D + depth behind the head pivot)`` for a camera ``D``
  IOD in front of the pivot. Driving a portrait moves points in depth, so their magnification
  changes: a turned head's near cheek grows and its far cheek shrinks.

Every function takes and returns torch tensors (any float dtype/device) or numpy arrays
(returned as numpy float64); the torch path uses only matmul/sin/cos/stack so it exports
to ONNX.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import InvalidControlError
from .channels import FACE_SIZE_PER_IOD

# Rotation centre of the head in the canonical frame: the midpoint of the face-oval side
# points 234/454 of MediaPipe's canonical face (ear level, ~1 IOD behind the eyes).
HEAD_PIVOT = (0.0, 0.31, 0.96)
FACE_SIZE = FACE_SIZE_PER_IOD  # canonical units per unit of tx / ty
DEG = math.pi / 180.0
# Nearest camera allowed, IOD in front of the head pivot: the nose tip is ~1.6 IOD in front of it,
# and a turned head's points must stay well in front of the camera.
MIN_CAMERA_DISTANCE = 3.0


def _to_tensor(x, like: torch.Tensor | None = None) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x if like is None else x.to(dtype=like.dtype, device=like.device)
    if like is not None:
        return torch.as_tensor(np.asarray(x), dtype=like.dtype, device=like.device)
    return torch.as_tensor(np.asarray(x, dtype=np.float64))


def _out(x: torch.Tensor, numpy: bool):
    return x.detach().cpu().numpy() if numpy else x


def rotation_matrix(angles):
    """(..., 3) ``yaw, pitch, roll`` in degrees -> (..., 3, 3) ``Rz(roll) @ Ry(yaw) @ Rx(pitch)``."""
    numpy = not isinstance(angles, torch.Tensor)
    a = _to_tensor(angles) * DEG
    cy, sy = torch.cos(a[..., 0]), torch.sin(a[..., 0])
    cp, sp = torch.cos(a[..., 1]), torch.sin(a[..., 1])
    cr, sr = torch.cos(a[..., 2]), torch.sin(a[..., 2])
    rows = (
        (cr * cy, cr * sy * sp - sr * cp, cr * sy * cp + sr * sp),
        (sr * cy, sr * sy * sp + cr * cp, sr * sy * cp - cr * sp),
        (-sy, cy * sp, cy * cp),
    )
    matrix = torch.stack([torch.stack(row, dim=-1) for row in rows], dim=-2)  # (..., 3, 3)
    return _out(matrix, numpy)


def rotation_to_angles(matrix):
    """(..., 3, 3) rotation -> (..., 3) ``yaw, pitch, roll`` degrees (inverse of :func:`rotation_matrix`).

    Yaw is kept in [-90, 90]; away from yaw = +-90 the decomposition is unique.
    """
    numpy = not isinstance(matrix, torch.Tensor)
    r = _to_tensor(matrix)
    yaw = torch.atan2(-r[..., 2, 0], torch.sqrt(r[..., 0, 0] ** 2 + r[..., 1, 0] ** 2))
    pitch = torch.atan2(r[..., 2, 1], r[..., 2, 2])
    roll = torch.atan2(r[..., 1, 0], r[..., 0, 0])
    return _out(torch.stack([yaw, pitch, roll], dim=-1) / DEG, numpy)


def apply_pose(points, pose):
    """Pose canonical points: (T, N, 3) points, (T, 6) pose -> (T, N, 3) posed points (same frame/units)."""
    numpy = not isinstance(points, torch.Tensor)
    p = _to_tensor(points)
    pose = _to_tensor(pose, like=p)
    pivot = p.new_tensor(HEAD_PIVOT)  # (3,)
    rot = rotation_matrix(pose[:, 0:3])  # (T, 3, 3)
    scale = pose[:, 5].reshape(-1, 1, 1)
    shift = torch.cat([pose[:, 3:5] * FACE_SIZE, torch.zeros_like(pose[:, :1])], dim=1)  # (T, 3)
    posed = scale * torch.matmul(p - pivot, rot.transpose(1, 2)) + pivot + shift[:, None, :]
    return _out(posed, numpy)


def check_distance(distance) -> float:
    """Validate a camera distance in IOD (inf = orthographic): well beyond the face's own depth."""
    value = float(distance)
    if not value >= MIN_CAMERA_DISTANCE:
        raise InvalidControlError(f"camera_distance must be at least {MIN_CAMERA_DISTANCE} IOD (the face reaches "
                                  f"~1.6 IOD in front of its pivot) or inf for no perspective, got {distance}")
    return value


def reproject(pixels, depth, rest_depth, pose, to_image, distance: float):
    """Where the portrait's camera sees driven landmarks: the change of perspective a motion brings.

    pixels: (T, N, 2) driven landmarks as orthographic differences from the portrait's own
    (``source + rig(motion) - rig(source_motion)``); depth / rest_depth: (T, N) / (N,) posed
    canonical depth of each point in the motion and in the portrait; pose: (T, 6). Each point is
    scaled about the image of the posed head pivot by ``gain(depth) / gain(rest_depth)`` with
    ``gain(z) = distance / (distance + z - pivot_z)``: the portrait's own magnification is
    already in its pixels, only its change is applied (unchanged depths, e.g. roll, change nothing).
    ``distance = inf`` returns ``pixels`` unchanged.
    """
    if math.isinf(distance):
        return pixels
    numpy = not isinstance(pixels, torch.Tensor)
    p = _to_tensor(pixels)
    z, z0 = _to_tensor(depth, like=p), _to_tensor(rest_depth, like=p)
    pose = _to_tensor(pose, like=p)
    a = _to_tensor(to_image, like=p)
    pivot = p.new_tensor(HEAD_PIVOT)  # (3,)
    centre = torch.matmul(pivot[:2] + pose[:, 3:5] * FACE_SIZE, a[:, :2].T) + a[:, 2]  # (T, 2) pixels
    gain = (distance + z0 - pivot[2]) / (distance + z - pivot[2])  # (T, N)
    return _out(centre[:, None, :] + (p - centre[:, None, :]) * gain[..., None], numpy)


def project(points, to_image):
    """Orthographic projection: (T, N, 3) posed canonical points, (2, 3) ``to_image`` -> (T, N, 2) pixels."""
    numpy = not isinstance(points, torch.Tensor)
    p = _to_tensor(points)
    a = _to_tensor(to_image, like=p)
    return _out(torch.matmul(p[..., :2], a[:, :2].T) + a[:, 2], numpy)


def similarity_matrix(scale: float, offset, rotation_deg: float = 0.0) -> np.ndarray:
    """A (2, 3) canonical->image similarity: ``scale`` pixels per IOD, rotated, then shifted by ``offset``."""
    c, s = math.cos(rotation_deg * DEG), math.sin(rotation_deg * DEG)
    ox, oy = (float(v) for v in offset)
    return np.array([[scale * c, -scale * s, ox], [scale * s, scale * c, oy]], dtype=np.float64)
