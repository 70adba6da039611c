"""Registration: everything about one portrait computed once (Ditto's term), reused every frame.

    reg = register_face("portrait.jpg")          # or an RGB array
    reg.crop                                      # (512, 512, 3) upright head crop
    frame = reg.paste_back(edited_crop)           # full photo, untouched outside reg.mask
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field

import numpy as np

from ..errors import FaceTooSmallError, NoFaceError
from . import landmarks as L
from .align import (PastePlan, apply_affine, crop_transform, head_mask, invert_affine, paste_plan,
                    paste_with_plan, warp_to_crop)
from .config import FaceConfig
from .detector import DetectedFace, FaceDetector, default_detector
from .image_io import load_image
from .pose import HeadPose, estimate_pose


class MultipleFacesWarning(UserWarning):
    """The portrait shows more than one face; the largest is used."""


@dataclass(frozen=True, eq=False)
class FaceRegistration:
    """One registered portrait.

    photo: (H, W, 3) uint8 RGB, the full portrait.
    landmarks: (478, 3) photo pixels (x right, y down, z depth scaled like x).
    pose: head pose of the photo's face (:class:`~talkinghead.face.pose.HeadPose`).
    crop: (S, S, 3) uint8, the upright head crop.
    crop_landmarks: (478, 3) crop pixels.
    transform: (2, 3) photo -> crop affine; inverse: (2, 3) crop -> photo affine.
    mask: (S, S) float32 feathered head mask in crop space, exactly 0 outside the head region.
    num_faces: faces found in the photo (the largest was registered).
    """

    photo: np.ndarray
    landmarks: np.ndarray
    pose: HeadPose
    crop: np.ndarray
    crop_landmarks: np.ndarray
    transform: np.ndarray
    inverse: np.ndarray
    mask: np.ndarray
    num_faces: int
    config: FaceConfig
    _plan: PastePlan | None = field(repr=False, default=None)

    @property
    def crop_size(self) -> int:
        return self.crop.shape[0]

    @property
    def crop_pose(self) -> HeadPose:
        """The head pose in crop coordinates (roll ~0, eye-centre distance ~ crop_size / crop_scale)."""
        return estimate_pose(self.crop_landmarks)

    def paste_back(self, crop: np.ndarray) -> np.ndarray:
        """A copy of the photo with ``crop`` (S, S, 3) composited through the head mask."""
        if crop.shape[:2] != self.crop.shape[:2]:
            raise ValueError(f"crop shape {crop.shape} does not match the registered crop {self.crop.shape}")
        return paste_with_plan(self.photo, crop, self._plan)


def register_face(source: str | os.PathLike | np.ndarray, config: FaceConfig | None = None,
                  detector: FaceDetector | None = None) -> FaceRegistration:
    """Load a portrait, find its largest face and compute crop, pose, mask and transforms once.

    Warns (:class:`MultipleFacesWarning`) when several faces are found; raises
    :class:`~talkinghead.errors.InvalidImageError` for unreadable input,
    :class:`~talkinghead.errors.NoFaceError` when no face is found and
    :class:`~talkinghead.errors.FaceTooSmallError` below ``config.min_face_px``.
    """
    config = config or FaceConfig()
    photo = load_image(source)
    detector = detector or default_detector(config.max_faces, config.min_detection_confidence)
    face, count = choose_face(detector.detect(photo), photo.shape, config)
    face = detector.refine(photo, face)
    pose = estimate_pose(face.landmarks)
    A = crop_transform(pose, config)
    crop_landmarks = apply_affine(A, face.landmarks)
    mask = head_mask(crop_landmarks, config)
    return FaceRegistration(
        photo=photo, landmarks=face.landmarks, pose=pose, crop=warp_to_crop(photo, A, config.crop_size),
        crop_landmarks=crop_landmarks, transform=A, inverse=invert_affine(A), mask=mask, num_faces=count,
        config=config, _plan=paste_plan(photo.shape, A, mask))


def face_extent_px(face: DetectedFace) -> float:
    """Larger side of the face's mesh-landmark box with the in-image roll removed, photo pixels."""
    pts = face.landmarks[: L.NUM_MESH_POINTS, :2]
    d = face.landmarks[L.LEFT_IRIS_CENTER, :2] - face.landmarks[L.RIGHT_IRIS_CENTER, :2]
    angle = np.arctan2(d[1], d[0])
    c, s = np.cos(angle), np.sin(angle)
    upright = pts @ np.array([[c, -s], [s, c]])  # rotate by -angle
    return float(np.max(upright.max(axis=0) - upright.min(axis=0)))


def choose_face(faces: list[DetectedFace], photo_shape: tuple[int, ...], config: FaceConfig
                ) -> tuple[DetectedFace, int]:
    """The largest face and how many were found; errors/warnings as documented in :func:`register_face`."""
    h, w = photo_shape[:2]
    if not faces:
        raise NoFaceError(
            f"no face found in the {w}x{h} portrait; use a photo where one face is clearly visible, "
            "roughly frontal, well lit and not too small (crop the photo around the face if it is far away)")
    face = max(faces, key=face_extent_px)
    if len(faces) > 1:
        more = "at least " if len(faces) >= config.max_faces else ""
        message = f"found {more}{len(faces)} faces in the portrait, using the largest; crop the photo to choose another"
        warnings.warn(message, MultipleFacesWarning, stacklevel=3)
    size = face_extent_px(face)
    if size < config.min_face_px:
        raise FaceTooSmallError(
            f"the face is only {size:.0f} px across (minimum {config.min_face_px:.0f} px); use a higher-resolution "
            "photo or one where the face fills more of the frame")
    return face, len(faces)
