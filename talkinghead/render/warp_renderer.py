"""The default renderer: an analytic warp of the portrait, no weights, fast on a CPU.

    renderer = WarpRenderer()
    avatar = renderer.register("portrait.jpg")
    frames = renderer.render(avatar, motion)                 # (T, H, W, 3) uint8 full photos
    crops = renderer.render(avatar, motion, paste=False)     # (T, 512, 512, 3) head crops

Per avatar (once): face registration, the portrait's own rig fit, and a
:class:`~talkinghead.render.frame.WarpFrameModel` (control mesh, barycentric tables, hole-filled
texture, mouth and eye layers). Per batch of frames: target landmarks from the motion through the
rig, the frame model, then paste-back into the photo through the registration's feathered mask
(pixels outside the head region stay byte-identical).

Backends: ``"opencv"`` runs the full-resolution resampling with OpenCV on uint8 images (CPU, the
fastest); ``"torch"`` runs the whole frame model in torch on ``device`` (what ONNX export sees);
``"auto"`` picks OpenCV on a CPU device and torch otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import TalkingHeadError
from ..face import FaceConfig
from ..motion.pose import check_distance
from .base import Avatar, Portrait, Renderer, as_registration, check_landmarks, fit_avatar_rig
from .frame import FrameConfig, WarpFrameModel

BACKENDS = ("auto", "opencv", "torch")
DEFAULT_CAMERA_DISTANCE = 8.0  # IOD from the head pivot (see WarpRendererConfig.camera_distance)


def renderer_face_config() -> FaceConfig:
    """The face pipeline settings the warp renderer registers portraits with: a crop reaching
    further below the chin than the face pipeline's default (5.5 IOD, centred 0.55 IOD below the
    eyes), so an opening jaw and the neck it drags stay inside the opaque part of the paste mask."""
    return FaceConfig(crop_scale=5.5, crop_center_y=0.55)


@dataclass(frozen=True)
class WarpRendererConfig:
    """Settings of :class:`WarpRenderer`: face registration, the per-frame model, backend and
    frames per batch."""

    face: FaceConfig = field(default_factory=renderer_face_config)
    frame: FrameConfig = field(default_factory=FrameConfig)
    backend: str = "auto"
    batch_size: int = 16
    # Where the portrait's camera is, IOD in front of the head: turns are drawn in perspective, so a
    # turned head's near side grows. 8 IOD ~ 50 cm (at 6.3 cm per IOD): a webcam or a phone at arm's
    # length. math.inf draws them orthographically.
    camera_distance: float = DEFAULT_CAMERA_DISTANCE

    def __post_init__(self) -> None:
        check_distance(self.camera_distance)
        if self.backend not in BACKENDS:
            raise TalkingHeadError(f"unknown warp renderer backend {self.backend!r}; use one of {BACKENDS}")
        if self.batch_size < 1:
            raise TalkingHeadError(f"WarpRendererConfig.batch_size must be at least 1, got {self.batch_size}")


@dataclass(frozen=True)
class WarpAvatar(Avatar):
    """An :class:`~talkinghead.render.base.Avatar` plus its per-frame warp model."""

    model: WarpFrameModel


class WarpRenderer(Renderer):
    """Analytic warp renderer (see the module docstring)."""

    def __init__(self, config: WarpRendererConfig | None = None, device: str | torch.device = "cpu"):
        self.config = config or WarpRendererConfig()
        self.device = str(device)
        backend = self.config.backend
        if backend == "auto":
            backend = "opencv" if torch.device(self.device).type == "cpu" else "torch"
        if backend == "opencv" and torch.device(self.device).type != "cpu":
            raise TalkingHeadError("the 'opencv' backend runs on the CPU; use backend='torch' with a GPU device")
        self.backend = backend

    def register(self, portrait: Portrait) -> WarpAvatar:
        registration = as_registration(portrait, self.config.face)
        rig, to_image, source_motion = fit_avatar_rig(registration)
        model = WarpFrameModel(registration.crop, registration.crop_landmarks, registration.mask, self.config.frame)
        model = model.to(self.device if self.backend == "torch" else "cpu").eval()
        return WarpAvatar(registration=registration, rig=rig, to_image=to_image, source_motion=source_motion,
                          model=model, camera_distance=self.config.camera_distance)

    def render_crops(self, avatar: WarpAvatar, landmarks) -> np.ndarray:
        """Head crops (T, S, S, 3) uint8 for target landmarks (T, 478, 2|3) in crop pixels."""
        target = check_landmarks(landmarks, avatar.crop_size)
        out = np.empty((len(target), avatar.crop_size, avatar.crop_size, 3), np.uint8)
        step = self.config.batch_size
        for start in range(0, len(target), step):
            out[start:start + step] = self._render_batch(avatar, target[start:start + step])
        return out

    @torch.no_grad()
    def _render_batch(self, avatar: WarpAvatar, target: np.ndarray) -> np.ndarray:
        if self.backend == "opencv":
            return avatar.model.render_opencv(torch.from_numpy(target))
        frames = avatar.model(torch.from_numpy(target).to(self.device))  # (B, 3, S, S) in [0, 1]
        return (frames * 255.0).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()

    def render_landmarks(self, avatar: WarpAvatar, landmarks, paste: bool = True) -> np.ndarray:
        crops = self.render_crops(avatar, landmarks)
        if not paste:
            return crops
        return np.stack([avatar.registration.paste_back(crop) for crop in crops])
