"""Our motion (T, 37) -> LivePortrait's driving keypoints, for one registered portrait.

LivePortrait poses the source's canonical keypoints as ``x = s (kp R + exp) + t`` (t_z unused,
see :mod:`.keypoints`). We keep the source's ``kp`` and replace the rest from our motion, taken
relative to the portrait's own fitted motion (so the rest motion gives ``x_d = x_s`` exactly):

* rotation: LivePortrait's source angles plus ours (yaw/pitch/roll degrees; yaw and pitch times
  the directions found at calibration, roll is in the image plane and maps as is);
* translation: tx, ty (face sizes, :mod:`talkinghead.motion.channels`) -> crop pixels through the
  avatar's canonical->crop similarity -> keypoint units, where the crop's width is 2 (the
  keypoints live in the warp's [-1, 1] grid over the crop);
* scale: the source scale times our scale ratio;
* expression: ``exp_source + (c - c_source) @ E`` (:mod:`.calibration`).

Eye and lip openness for LivePortrait's retargeting MLPs come from MediaPipe landmarks with the
same definition LivePortrait uses on its own landmarks: lid gap (or inner-lip gap) over the
eye's (mouth's) corner distance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ...face import landmarks as L
from ...motion.channels import CHANNEL_INDEX, FACE_SIZE_PER_IOD
from .calibration import CALIBRATED_SLICE, ExpressionCalibration
from .keypoints import keypoint_info, transform_keypoints

KEYPOINT_SPAN = 2.0  # keypoint units across the crop ([-1, 1])
ANGLES = ("pitch", "yaw", "roll")
# Mid-lid points: the middle entries of the 9-point lid contours (corner, 7 inner points, corner).
RIGHT_LID_MID = (L.RIGHT_EYE_UPPER[len(L.RIGHT_EYE_UPPER) // 2], L.RIGHT_EYE_LOWER[len(L.RIGHT_EYE_LOWER) // 2])
LEFT_LID_MID = (L.LEFT_EYE_UPPER[len(L.LEFT_EYE_UPPER) // 2], L.LEFT_EYE_LOWER[len(L.LEFT_EYE_LOWER) // 2])


@dataclass(frozen=True, eq=False)
class SourceKeypoints:
    """LivePortrait's reading of the portrait (one image): torch tensors on the model's device.

    kp, exp, x_s: (1, N, 3) canonical keypoints, expression, posed keypoints; pitch, yaw, roll:
    (1, 1) degrees; t: (1, 3); scale: (1, 1).
    """

    kp: torch.Tensor
    exp: torch.Tensor
    pitch: torch.Tensor
    yaw: torch.Tensor
    roll: torch.Tensor
    t: torch.Tensor
    scale: torch.Tensor
    x_s: torch.Tensor

    @classmethod
    def from_raw(cls, raw: dict[str, torch.Tensor]) -> SourceKeypoints:
        """From the motion extractor's raw output for one image."""
        info = keypoint_info(raw)
        x_s = transform_keypoints(info["kp"], info["pitch"], info["yaw"], info["roll"], info["t"], info["exp"],
                                  info["scale"])
        return cls(kp=info["kp"], exp=info["exp"], pitch=info["pitch"], yaw=info["yaw"], roll=info["roll"],
                   t=info["t"], scale=info["scale"], x_s=x_s)


def pose_offsets(values: np.ndarray, source: np.ndarray) -> dict[str, np.ndarray]:
    """Absolute motion (T, 37) and the portrait's fitted motion (37,) -> per-frame offsets (T,) each:
    ``yaw``, ``pitch``, ``roll`` (degrees), ``tx``, ``ty`` (face sizes) and ``scale`` (a ratio)."""
    values, source = np.asarray(values, np.float64), np.asarray(source, np.float64).reshape(-1)
    out = {name: values[:, CHANNEL_INDEX[name]] - source[CHANNEL_INDEX[name]] for name in ("yaw", "pitch", "roll",
                                                                                           "tx", "ty")}
    out["scale"] = values[:, CHANNEL_INDEX["scale"]] / source[CHANNEL_INDEX["scale"]]
    return out


def translation_to_keypoints(tx: np.ndarray, ty: np.ndarray, to_image: np.ndarray, crop_size: int) -> np.ndarray:
    """Head translation (T,) face sizes -> (T, 2) keypoint units: through the canonical->crop
    similarity ``to_image`` (2, 3) to crop pixels, then ``KEYPOINT_SPAN / crop_size`` per pixel."""
    canonical = FACE_SIZE_PER_IOD * np.stack([tx, ty], axis=1)  # (T, 2) canonical units (IOD)
    pixels = canonical @ np.asarray(to_image, np.float64)[:, :2].T  # (T, 2)
    return pixels * (KEYPOINT_SPAN / crop_size)


def driving_keypoints(source: SourceKeypoints, values: np.ndarray, source_motion: np.ndarray,
                      calibration: ExpressionCalibration, to_image: np.ndarray, crop_size: int,
                      active: np.ndarray | None = None) -> torch.Tensor:
    """Absolute motion (T, 37) -> driving keypoints (T, N, 3) on the source's device.

    ``active`` (K,) bool selects which calibrated channels drive ``exp`` (the others are left to
    the retargeting MLPs)."""
    offsets = pose_offsets(values, source_motion)
    like = source.kp

    def tensor(array):  # numpy (T, ...) -> float tensor like the source's
        return torch.as_tensor(np.asarray(array), dtype=like.dtype, device=like.device)

    frames = len(values)
    signs = dict(calibration.pose_signs, roll=1.0)
    angles = {name: getattr(source, name).reshape(1) + tensor(signs[name] * offsets[name]) for name in ANGLES}
    shift = tensor(translation_to_keypoints(offsets["tx"], offsets["ty"], to_image, crop_size))  # (T, 2)
    t = source.t.expand(frames, 3) + torch.cat([shift, torch.zeros_like(shift[:, :1])], dim=1)  # (T, 3)
    scale = source.scale.reshape(1, 1) * tensor(offsets["scale"]).reshape(frames, 1)  # (T, 1)
    channels = np.asarray(values, np.float64)[:, CALIBRATED_SLICE]  # (T, K)
    exp = source.exp + tensor(calibration.expression_offset(channels, active))  # (T, N, 3)
    kp = source.kp.expand(frames, -1, -1)
    return transform_keypoints(kp, angles["pitch"], angles["yaw"], angles["roll"], t, exp, scale)


def _gap_ratio(landmarks: np.ndarray, gap: tuple[int, int], corners: tuple[int, int]) -> np.ndarray:
    points = np.asarray(landmarks, np.float64)[..., :2]
    opening = np.linalg.norm(points[:, gap[0]] - points[:, gap[1]], axis=-1)
    width = np.linalg.norm(points[:, corners[0]] - points[:, corners[1]], axis=-1)
    return opening / np.maximum(width, 1e-6)


def eye_open_ratios(landmarks: np.ndarray) -> np.ndarray:
    """(T, 478, 2|3) landmarks -> (T, 2) lid gap / eye width, subject's (left, right) eye."""
    left = _gap_ratio(landmarks, LEFT_LID_MID, (L.LEFT_EYE_INNER, L.LEFT_EYE_OUTER))
    right = _gap_ratio(landmarks, RIGHT_LID_MID, (L.RIGHT_EYE_INNER, L.RIGHT_EYE_OUTER))
    return np.stack([left, right], axis=1)


def lip_open_ratio(landmarks: np.ndarray) -> np.ndarray:
    """(T, 478, 2|3) landmarks -> (T,) inner-lip gap / mouth width."""
    return _gap_ratio(landmarks, (L.UPPER_LIP_INNER, L.LOWER_LIP_INNER), L.MOUTH_CORNERS)
