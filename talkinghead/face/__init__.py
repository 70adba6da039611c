"""Face pipeline: load a portrait, find the face and its 478 MediaPipe landmarks, estimate head pose,
cut an upright head crop with its exact inverse, and paste edited crops back through a feathered mask.

Left/Right in landmark names are the subject's own (see :mod:`talkinghead.face.landmarks`).
"""

from .align import apply_affine, crop_transform, head_mask, invert_affine, paste_back, warp_to_crop
from .canonical import canonical_landmarks
from .config import FaceConfig
from .detector import DetectedFace, FaceDetector, default_detector
from .image_io import load_image
from .pose import HeadPose, estimate_pose
from .registration import FaceRegistration, MultipleFacesWarning, choose_face, register_face

__all__ = [
    "DetectedFace", "FaceConfig", "FaceDetector", "FaceRegistration", "HeadPose", "MultipleFacesWarning",
    "apply_affine", "canonical_landmarks", "choose_face", "crop_transform", "default_detector",
    "estimate_pose", "head_mask", "invert_affine", "load_image", "paste_back", "register_face",
    "warp_to_crop",
]
