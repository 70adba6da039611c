"""Settings of the face pipeline (detection, crop, mask), one dataclass.

Lengths in "IOD" are multiples of the subject's eye-centre distance, which is 1 in the canonical
frame (:mod:`talkinghead.face.canonical`), so they do not depend on photo resolution or head pose.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class FaceConfig:
    """How a portrait is registered.

    crop_size: side of the square aligned crop in pixels.
    crop_scale: side of the crop in IOD. The canonical face spans about 2.8 IOD from the upper
        forehead (landmark 10) to the chin; 5.0 leaves room for the hair above and the neck below.
    crop_center_y: crop centre below the eye midpoint, in IOD (canonical y points down).
    crop_center_z: depth of the crop centre behind the eye midpoint, in IOD, so that a turned head
        stays centred (the head's middle lies behind the face surface).
    min_face_px: faces whose landmark box (roll removed) is narrower *and* shorter than this many
        photo pixels are refused with :class:`~talkinghead.errors.FaceTooSmallError`.
    max_faces: at most this many faces are looked for (only the largest is used).
    min_detection_confidence: MediaPipe detection threshold.
    mask_expand: the head mask is the convex hull of the 468 mesh points scaled by this factor
        about the face centre (crop space); covers hair, ears and the chin/jaw the renderer moves.
    mask_neck: extra downward extension of the mask (chin, jaw, neck), in IOD.
    mask_hair: extra upward extension of the mask (hair), in IOD.
    feather_px: width of the mask's soft edge in crop pixels (0 -> 1 over this distance).
    mask_border_px: the mask is exactly 0 within this many crop pixels of the crop border.
    """

    crop_size: int = 512
    crop_scale: float = 5.0
    crop_center_y: float = 0.15
    crop_center_z: float = 0.6
    min_face_px: float = 64.0
    max_faces: int = 4
    min_detection_confidence: float = 0.5
    mask_expand: float = 1.6
    mask_neck: float = 0.6
    mask_hair: float = 1.0
    feather_px: float = 32.0
    mask_border_px: float = 16.0

    def __post_init__(self) -> None:
        from ..errors import TalkingHeadError

        if self.crop_size < 64 or self.crop_size > 4096:
            raise TalkingHeadError(f"FaceConfig.crop_size={self.crop_size}; use 64..4096 (default 512)")
        if not 2.0 <= self.crop_scale <= 12.0:
            raise TalkingHeadError(f"FaceConfig.crop_scale={self.crop_scale}; use 2..12 IOD (default 5.0)")
        if self.max_faces < 1:
            raise TalkingHeadError(f"FaceConfig.max_faces={self.max_faces}; must be at least 1")
        if self.feather_px < 1 or self.mask_border_px < 0:
            raise TalkingHeadError("FaceConfig.feather_px must be >= 1 and mask_border_px >= 0")
        if 2 * (self.feather_px + self.mask_border_px) >= self.crop_size:
            raise TalkingHeadError("FaceConfig.feather_px + mask_border_px must be well below half the crop size")
