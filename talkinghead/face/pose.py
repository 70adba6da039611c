"""Head pose by rigid (similarity) alignment of detected landmarks to the canonical face.

The fit finds ``s, R, t`` minimising ``sum_i w_i |p_i - (s R c_i + t)|^2`` (Umeyama 1991) over
MediaPipe's Procrustes landmark basis, where ``c_i`` are canonical points
(:mod:`talkinghead.face.canonical`) and ``p_i`` detected points in photo pixels (x right, y down,
z away from the camera).

Angles follow :mod:`talkinghead.motion.channels`: ``R = Rz(roll) @ Ry(yaw) @ Rx(pitch)`` in that
frame, so positive yaw turns the face towards the image's left, positive pitch nods down and
positive roll tilts the face clockwise in the image. ``tx, ty`` is where the canonical origin
(the eye midpoint) lands in the photo (pixels) and ``scale`` is photo pixels per canonical unit,
i.e. the eye-centre distance in pixels as if the face were frontal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import landmarks as L
from .canonical import canonical_landmarks


@dataclass(frozen=True, eq=False)
class HeadPose:
    """Pose of a detected head relative to the canonical face (see module docstring for conventions)."""

    yaw: float  # degrees
    pitch: float  # degrees
    roll: float  # degrees
    tx: float  # photo px
    ty: float  # photo px
    scale: float  # photo px per canonical unit (eye-centre distance)
    rotation: np.ndarray  # (3, 3) R
    translation: np.ndarray  # (3,) t, photo px (z in MediaPipe's depth units scaled like x)
    rms_error: float  # weighted RMS fit residual, in canonical units (scale-free)

    def project(self, canonical_points: np.ndarray) -> np.ndarray:
        """Canonical points (N, 3) -> photo coordinates (N, 3) under this pose."""
        return self.scale * canonical_points @ self.rotation.T + self.translation


def umeyama(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None
            ) -> tuple[float, np.ndarray, np.ndarray]:
    """Weighted least-squares similarity ``dst ~ s R src + t`` for (N, D) point sets.

    Returns ``(s, R, t)`` with R a proper rotation (det +1), shapes (), (D, D), (D,).
    """
    assert src.shape == dst.shape and src.ndim == 2, (src.shape, dst.shape)
    w = np.ones(len(src)) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    mu_s, mu_d = w @ src, w @ dst
    xs, xd = src - mu_s, dst - mu_d
    cov = (xd * w[:, None]).T @ xs  # (D, D)
    U, S, Vt = np.linalg.svd(cov)
    sign = np.ones(src.shape[1])
    if np.linalg.det(U) * np.linalg.det(Vt) < 0:
        sign[-1] = -1.0
    R = (U * sign) @ Vt
    var_s = float(w @ (xs**2).sum(axis=1))
    s = float((S * sign).sum() / var_s)
    t = mu_d - s * R @ mu_s
    return s, R, t


def euler_from_rotation(R: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees of ``R = Rz(roll) @ Ry(yaw) @ Rx(pitch)``."""
    yaw = math.asin(float(np.clip(-R[2, 0], -1.0, 1.0)))
    pitch = math.atan2(R[2, 1], R[2, 2])
    roll = math.atan2(R[1, 0], R[0, 0])
    return math.degrees(yaw), math.degrees(pitch), math.degrees(roll)


def rotation_from_euler(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """``Rz(roll) @ Ry(yaw) @ Rx(pitch)`` from angles in degrees, (3, 3)."""
    y, p, r = (math.radians(a) for a in (yaw, pitch, roll))
    Rz = np.array([[math.cos(r), -math.sin(r), 0.0], [math.sin(r), math.cos(r), 0.0], [0.0, 0.0, 1.0]])
    Ry = np.array([[math.cos(y), 0.0, math.sin(y)], [0.0, 1.0, 0.0], [-math.sin(y), 0.0, math.cos(y)]])
    Rx = np.array([[1.0, 0.0, 0.0], [0.0, math.cos(p), -math.sin(p)], [0.0, math.sin(p), math.cos(p)]])
    return Rz @ Ry @ Rx


def estimate_pose(landmarks_px: np.ndarray) -> HeadPose:
    """Head pose of detected landmarks (478, 3) in photo pixels."""
    idx = list(L.POSE_LANDMARKS)
    canon = canonical_landmarks()[idx]  # (33, 3)
    pts = np.asarray(landmarks_px, dtype=np.float64)[idx]
    s, R, t = umeyama(canon, pts, np.asarray(L.POSE_WEIGHTS))
    residual = pts - (s * canon @ R.T + t)
    w = np.asarray(L.POSE_WEIGHTS) / np.sum(L.POSE_WEIGHTS)
    rms = float(np.sqrt(w @ (residual**2).sum(axis=1)) / s)
    yaw, pitch, roll = euler_from_rotation(R)
    return HeadPose(yaw=yaw, pitch=pitch, roll=roll, tx=float(t[0]), ty=float(t[1]), scale=s,
                    rotation=R, translation=t, rms_error=rms)
