"""The renderer interface: register a portrait once, then turn motion into frames.

    renderer = WarpRenderer(device="cpu")            # or any other Renderer
    avatar = renderer.register("portrait.jpg")       # detection, crop, rig fit, per-avatar tables
    frames = renderer.render(avatar, motion)         # (T, H, W, 3) uint8 full photos

Driving convention (shared by every renderer): a motion's **expression and gaze are absolute**
(``jawOpen = 0`` is a closed jaw, whatever the portrait shows) and, with ``relative_pose=True``
(the default), its **pose is relative to the portrait's own pose** (yaw/pitch/roll/tx/ty added,
scale multiplied), so a generated motion with zero pose keeps the head where the photo has it.
``avatar.rest_motion`` is the motion that renders the portrait unchanged under that convention.

Target landmarks are driven *relative to the portrait*: ``source + rig(motion) - rig(source_motion)``,
so fit residuals never move the face and the rest motion reproduces the source landmarks exactly.
"""

from __future__ import annotations

import abc
import functools
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from ..errors import InvalidControlError
from ..face import FaceConfig, FaceRegistration, register_face
from ..face import landmarks as L
from ..motion.channels import CHANNEL_INDEX
from ..motion.motion import Motion
from ..motion.pose import check_distance, project, reproject
from ..motion.rig import RIG_SLICE, Rig, motion_array

Portrait = str | os.PathLike | np.ndarray | FaceRegistration
ADDITIVE_POSE = tuple(CHANNEL_INDEX[n] for n in ("yaw", "pitch", "roll", "tx", "ty"))
SCALE_COLUMN = CHANNEL_INDEX["scale"]
POSE_COLUMNS = RIG_SLICE.start  # yaw, pitch, roll, tx, ty, scale


@dataclass(frozen=True)
class Avatar:
    """What every renderer knows about a registered portrait.

    registration: the face pipeline's result (photo, crop, crop landmarks, transforms, mask).
    rig: the portrait's own rig (neutral identity + its channel fields, canonical frame).
    to_image: (2, 3) canonical -> crop-pixel similarity the poses refer to.
    source_motion: (1, 37) the portrait's fitted motion (absolute pose against ``to_image``).
    camera_distance: the camera the driven landmarks are seen from, IOD from the head pivot
        (:func:`~talkinghead.motion.pose.reproject`); inf = orthographic.
    """

    registration: FaceRegistration
    rig: Rig
    to_image: np.ndarray
    source_motion: Motion
    camera_distance: float = field(default=math.inf, kw_only=True)

    def __post_init__(self) -> None:
        check_distance(self.camera_distance)

    @property
    def crop_size(self) -> int:
        return self.registration.crop_size

    @property
    def source_landmarks(self) -> np.ndarray:
        """(478, 2) float32 source landmarks in crop pixels."""
        return np.asarray(self.registration.crop_landmarks, dtype=np.float32)[:, :2]

    @property
    def rest_motion(self) -> Motion:
        """One frame that renders the portrait unchanged with ``relative_pose=True``."""
        values = self.source_motion.values.copy()
        values[:, list(ADDITIVE_POSE)] = 0.0
        values[:, SCALE_COLUMN] = 1.0
        return Motion(values, self.source_motion.fps)

    def absolute_motion(self, motion, relative_pose: bool = True) -> np.ndarray:
        """(T, 37) motion with its pose made absolute (against ``to_image``), float64."""
        values = motion_array(motion).copy()
        if relative_pose:
            src = self.source_motion.values[0].astype(np.float64)
            values[:, list(ADDITIVE_POSE)] += src[list(ADDITIVE_POSE)]
            values[:, SCALE_COLUMN] *= src[SCALE_COLUMN]
        return values

    def motion_landmarks(self, motion, relative_pose: bool = True) -> np.ndarray:
        """Target landmarks (T, 478, 2) float32 in crop pixels for a (T, 37) motion."""
        values = self.absolute_motion(motion, relative_pose)
        posed = self.rig.landmarks(values)  # (T, 478, 3)
        rest, rest_depth = self.rest_landmarks
        target = self.source_landmarks[None] + (project(posed, self.to_image) - rest)  # (T, 478, 2)
        target = reproject(target, posed[..., 2], rest_depth, values[:, :POSE_COLUMNS], self.to_image,
                           self.camera_distance)
        return target.astype(np.float32)

    @functools.cached_property
    def rest_landmarks(self) -> tuple[np.ndarray, np.ndarray]:
        """The rig at the portrait's own motion, which driven landmarks are relative to: (478, 2)
        crop pixels (orthographic) and (478,) posed canonical depth; computed once per avatar (shared: do not
        modify)."""
        posed = self.rig.landmarks(self.source_motion.values.astype(np.float64))[0]  # (478, 3)
        return project(posed[None], self.to_image)[0], posed[:, 2].copy()


def fit_avatar_rig(registration: FaceRegistration) -> tuple[Rig, np.ndarray, Motion]:
    """The driving rig, canonical->crop transform and fitted motion of a portrait.

    The rig pairs the portrait's own 3-D face (its landmarks lifted with the fitted depth and its
    fitted expression removed, :func:`~talkinghead.motion.fit.identity_from`) with the channel
    fields the fit explained the landmarks with, so posing it moves *this* face's points (no
    folds where a real face differs from the canonical one) and the fitted coefficients drive
    the same fields they were measured with.
    """
    from ..motion.fit import fit, identity_from

    landmarks = np.asarray(registration.crop_landmarks, dtype=np.float64)
    fitted = fit(landmarks)
    identity = identity_from(landmarks, fitted, iterations=0)
    return Rig(identity, fitted.basis), fitted.to_image, fitted.motion()


def as_registration(portrait: Portrait, config: FaceConfig | None = None) -> FaceRegistration:
    """A :class:`FaceRegistration` for a path, an RGB array or an existing registration."""
    if isinstance(portrait, FaceRegistration):
        return portrait
    return register_face(portrait, config)


def check_landmarks(landmarks, crop_size: int) -> np.ndarray:
    """Validate target landmarks: (478, 2|3) or (T, 478, 2|3) finite crop pixels -> (T, 478, 2) float32."""
    array = np.asarray(landmarks, dtype=np.float32)
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3 or array.shape[1] != L.NUM_LANDMARKS or array.shape[2] not in (2, 3):
        raise InvalidControlError(
            f"target landmarks must have shape (frames, {L.NUM_LANDMARKS}, 2 or 3), got {array.shape}")
    if not np.isfinite(array).all():
        raise InvalidControlError("target landmarks contain NaN/inf")
    limit = 4.0 * crop_size
    if np.abs(array).max() > limit:
        raise InvalidControlError(f"target landmarks lie far outside the {crop_size} px crop (|x| > {limit:.0f})")
    return array[..., :2]


class Renderer(abc.ABC):
    """Turns an avatar plus per-frame motion (or target landmarks) into video frames.

    Implementations: :class:`~talkinghead.render.warp_renderer.WarpRenderer` (analytic warp, no
    weights). Frames are (T, H, W, 3) uint8 RGB: full photos with the face pasted back
    (``paste=True``) or the (S, S) head crops.
    """

    device: str

    @abc.abstractmethod
    def register(self, portrait: Portrait) -> Avatar:
        """Register a portrait (path, RGB array or :class:`FaceRegistration`) once."""

    @abc.abstractmethod
    def render_landmarks(self, avatar: Avatar, landmarks, paste: bool = True) -> np.ndarray:
        """Frames for target landmarks (T, 478, 2|3) in crop pixels."""

    def render(self, avatar: Avatar, motion, paste: bool = True, relative_pose: bool = True) -> np.ndarray:
        """Frames (T, H, W, 3) uint8 for a :class:`Motion` or (T, 37) array (conventions: module docstring)."""
        return self.render_landmarks(avatar, avatar.motion_landmarks(motion, relative_pose), paste=paste)

    def frames(self, avatar: Avatar, motion, batch_size: int = 8, paste: bool = True,
               relative_pose: bool = True) -> Iterator[np.ndarray]:
        """Frames one at a time, rendered ``batch_size`` at a time (bounded memory for long motion)."""
        if batch_size < 1:
            raise InvalidControlError(f"batch_size must be at least 1, got {batch_size}")
        values = motion_array(motion)
        for start in range(0, len(values), batch_size):
            yield from self.render(avatar, values[start:start + batch_size], paste=paste,
                                   relative_pose=relative_pose)
