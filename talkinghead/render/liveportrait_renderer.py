"""The neural renderer: LivePortrait-architecture networks driven by our motion space (a GPU path).

    renderer = load_renderer("liveportrait", "path/to/pretrained_weights")   # the official MIT files
    avatar = renderer.register("portrait.jpg")       # face crop, rig fit, source features, calibration
    frames = renderer.render(avatar, motion)         # (T, H, W, 3) uint8 full photos

Per avatar (once): the face pipeline's crop (the warp renderer's crop, close to LivePortrait's own:
about 2.3 face boxes wide, centred a little above the face centre) and paste mask, the portrait's
rig fit (so the same motion conventions hold as for every renderer, :mod:`.base`), the
appearance volume and LivePortrait's keypoints of the crop, and the expression calibration
(:mod:`.liveportrait.calibration`: warp-rendered probes read by the motion extractor).

Per frame: motion -> driving keypoints (:mod:`.liveportrait.driving`) -> optional eye / lip
retargeting deltas (targets from the rig's landmarks) -> stitching -> warping module -> SPADE
generator -> resize to the crop -> paste-back through the registration's feathered head mask.

The networks run at ``input_size`` (256 officially: 64 x 64 features, 512 px out). On a 2-core CPU
the official sizes take seconds per frame (benchmarks/bench_liveportrait.py); use a GPU.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

from ..config import from_dict
from ..errors import InvalidControlError, TalkingHeadError
from ..face import FaceConfig
from ..motion.channels import EYE_CHANNELS
from .base import Avatar, Portrait, Renderer, as_registration, check_landmarks
from .liveportrait.calibration import CALIBRATED_CHANNELS, CalibrationConfig, ExpressionCalibration, calibrate
from .liveportrait.driving import SourceKeypoints, driving_keypoints, eye_open_ratios, lip_open_ratio
from .liveportrait.keypoints import keypoint_info
from .liveportrait.loader import LivePortraitModels, load_liveportrait, read_weights_config, resolve_weights_dir
from .warp_renderer import WarpRenderer, WarpRendererConfig, renderer_face_config

log = logging.getLogger(__name__)

OFFICIAL_INPUT_SIZE = 256  # LivePortrait's network input side (px)
LIP_CHANNELS = ("jawOpen", "mouthClose")  # the mouth-opening channels the lip MLP takes over when enabled


@dataclass(frozen=True)
class LivePortraitRendererConfig:
    """Settings of :class:`LivePortraitRenderer`.

    face: face registration (crop and paste mask); the warp renderer's by default.
    input_size: network input side in pixels (official 256); the generator's output is resized to
        the crop. Must be a multiple of the networks' total downsampling.
    batch_size: frames per network call.
    stitching: apply LivePortrait's stitching MLP (keeps the face edge aligned with the photo for
        the paste-back).
    eye_retargeting: drive eye openness (``eyeBlink*``, ``eyeWide*``) with LivePortrait's eye MLP
        from the rig's lid landmarks instead of the calibrated deltas.
    lip_retargeting: likewise mouth opening (``jawOpen``, ``mouthClose``) with the lip MLP; off by
        default (the calibrated deltas carry mouth shape, the MLP only one openness number).
    calibration: probe design of the expression calibration.
    """

    face: FaceConfig = field(default_factory=renderer_face_config)
    input_size: int = OFFICIAL_INPUT_SIZE
    batch_size: int = 4
    stitching: bool = True
    eye_retargeting: bool = True
    lip_retargeting: bool = False
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)

    def __post_init__(self):
        if self.input_size < 16 or self.batch_size < 1:
            raise TalkingHeadError("LivePortraitRendererConfig: input_size must be >= 16 and batch_size >= 1")


@dataclass(frozen=True, eq=False)
class LivePortraitAvatar(Avatar):
    """An :class:`~talkinghead.render.base.Avatar` plus LivePortrait's view of it.

    source: LivePortrait's keypoints of the crop; feature_3d: (1, C, D, h, w) appearance volume;
    calibration: channel -> expression deltas; eye_ratios: (2,) and lip_ratio: the crop's openness
    (MediaPipe definition of :mod:`.liveportrait.driving`).
    """

    source: SourceKeypoints
    feature_3d: torch.Tensor
    calibration: ExpressionCalibration
    eye_ratios: np.ndarray
    lip_ratio: float


def _downsampling(models: LivePortraitModels) -> int:
    """Input pixels per feature pixel times the hourglass's total pooling: input_size must divide by it."""
    appearance = models.config.appearance_feature_extractor.num_down_blocks
    hourglass = models.config.warping_module.dense_motion_params.num_blocks
    return 2 ** (appearance + hourglass)


class LivePortraitRenderer(Renderer):
    """LivePortrait-architecture neural renderer (see the module docstring)."""

    def __init__(self, models: LivePortraitModels, config: LivePortraitRendererConfig | None = None,
                 device: str | torch.device | None = None):
        self.config = config or LivePortraitRendererConfig()
        self.device = str(device or next(models.parameters()).device)
        self.models = models.to(self.device).eval()
        step = _downsampling(models)
        if self.config.input_size % step:
            raise TalkingHeadError(f"LivePortrait input_size {self.config.input_size} must be a multiple of {step} "
                                   "for these network sizes (official: 256)")
        # Probes for the calibration: the analytic warp renderer on the same crop, OpenCV on the CPU.
        self.prober = WarpRenderer(WarpRendererConfig(face=self.config.face), device="cpu")
        self._active = self._active_channels()

    def _active_channels(self) -> np.ndarray:
        """(K,) bool: calibrated channels that drive ``exp`` (the rest go to the retargeting MLPs)."""
        taken = set(EYE_CHANNELS if self.config.eye_retargeting else ()) | set(
            LIP_CHANNELS if self.config.lip_retargeting else ())
        return np.array([name not in taken for name in CALIBRATED_CHANNELS])

    # -- registration --------------------------------------------------------------------
    @torch.no_grad()
    def register(self, portrait: Portrait) -> LivePortraitAvatar:
        registration = as_registration(portrait, self.config.face)
        probe_avatar = self.prober.register(registration)
        image = self._network_input(registration.crop[None])  # (1, 3, s, s)
        feature_3d = self.models.appearance_feature_extractor(image)
        source = SourceKeypoints.from_raw(self.models.motion_extractor(image))
        calibration = calibrate(lambda m: self.prober.render(probe_avatar, m, paste=False), self._extract,
                                probe_avatar.rest_motion.values[0], self.config.calibration)
        log.info("LivePortrait calibration: residual %.4g, pose signs %s", calibration.residual, calibration.pose_signs)
        landmarks = np.asarray(registration.crop_landmarks, np.float32)[None, :, :2]  # as the rig's targets
        return LivePortraitAvatar(registration=registration, rig=probe_avatar.rig, to_image=probe_avatar.to_image,
                                  source_motion=probe_avatar.source_motion, source=source, feature_3d=feature_3d,
                                  calibration=calibration, eye_ratios=eye_open_ratios(landmarks)[0],
                                  lip_ratio=float(lip_open_ratio(landmarks)[0]))

    def _network_input(self, crops: np.ndarray) -> torch.Tensor:
        """(B, S, S, 3) uint8 crops -> (B, 3, s, s) float in [0, 1] on the device (no mean/std normalisation)."""
        size = self.config.input_size
        resized = np.stack([cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA) for c in crops])
        tensor = torch.from_numpy(resized).to(self.device).permute(0, 3, 1, 2)
        return tensor.float() / 255.0

    @torch.no_grad()
    def _extract(self, crops: np.ndarray) -> dict[str, np.ndarray]:
        """The motion extractor's ``exp`` (B, N, 3) and ``yaw``/``pitch`` (B,) degrees of crops."""
        info = keypoint_info(self.models.motion_extractor(self._network_input(crops)))
        return {"exp": info["exp"].cpu().numpy(), "yaw": info["yaw"].reshape(-1).cpu().numpy(),
                "pitch": info["pitch"].reshape(-1).cpu().numpy()}

    # -- driving -------------------------------------------------------------------------
    @torch.no_grad()
    def driving_keypoints(self, avatar: LivePortraitAvatar, motion, relative_pose: bool = True) -> torch.Tensor:
        """(T, 37) motion -> the keypoints (T, N, 3) the warp is driven with (retargeted, stitched)."""
        values = avatar.absolute_motion(motion, relative_pose)
        x_d = driving_keypoints(avatar.source, values, avatar.source_motion.values[0], avatar.calibration,
                                avatar.to_image, avatar.crop_size, self._active)
        if self.config.eye_retargeting or self.config.lip_retargeting:
            x_d = x_d + self._retargeting(avatar, avatar.motion_landmarks(values, relative_pose=False))
        if self.config.stitching:
            x_d = self.models.stitching_retargeting.stitch(avatar.source.x_s.expand_as(x_d), x_d)
        return x_d

    def _retargeting(self, avatar: LivePortraitAvatar, landmarks: np.ndarray) -> torch.Tensor:
        """Eye / lip MLP deltas (T, N, 3) towards the openness of the target ``landmarks`` (T, 478, 2).

        Each delta is the MLP's output for the target minus its output for the portrait's own
        openness, so the rest motion gets no delta (the MLPs are not zero there by themselves)."""
        mlps = self.models.stitching_retargeting
        frames = len(landmarks)
        x_s = avatar.source.x_s.expand(frames, -1, -1)

        def columns(*arrays):  # per-frame values -> (T, len(arrays)) tensor
            stacked = np.stack([np.broadcast_to(np.asarray(a, np.float64), (frames,)) for a in arrays], axis=1)
            return torch.as_tensor(stacked, dtype=x_s.dtype, device=x_s.device)

        total = torch.zeros_like(x_s)
        if self.config.eye_retargeting:  # input [source left, source right, target]; LivePortrait's one target
            left, right = avatar.eye_ratios
            target = eye_open_ratios(landmarks).mean(axis=1)
            total = total + (mlps.retarget_eye(x_s, columns(left, right, target))
                             - mlps.retarget_eye(x_s, columns(left, right, (left + right) / 2)))
        if self.config.lip_retargeting:  # input [source, target]
            own = avatar.lip_ratio
            total = total + (mlps.retarget_lip(x_s, columns(own, lip_open_ratio(landmarks)))
                             - mlps.retarget_lip(x_s, columns(own, own)))
        return total

    # -- rendering -----------------------------------------------------------------------
    @torch.no_grad()
    def render_crops(self, avatar: LivePortraitAvatar, motion, relative_pose: bool = True) -> np.ndarray:
        """Head crops (T, S, S, 3) uint8 for a (T, 37) motion."""
        x_d = self.driving_keypoints(avatar, motion, relative_pose)
        out = np.empty((len(x_d), avatar.crop_size, avatar.crop_size, 3), np.uint8)
        step = self.config.batch_size
        for start in range(0, len(x_d), step):
            out[start:start + step] = self._generate(avatar, x_d[start:start + step])
        return out

    def _generate(self, avatar: LivePortraitAvatar, x_d: torch.Tensor) -> np.ndarray:
        """Driving keypoints (B, N, 3) -> (B, S, S, 3) uint8 crops: warp, SPADE, resize to the crop."""
        b = len(x_d)
        warped = self.models.warping_module(avatar.feature_3d.expand(b, -1, -1, -1, -1), kp_driving=x_d,
                                            kp_source=avatar.source.x_s.expand(b, -1, -1))
        images = self.models.spade_generator(warped["out"])  # (B, 3, o, o) in (0, 1)
        images = (images * 255.0).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        size = avatar.crop_size
        if images.shape[1] == size:
            return images
        return np.stack([cv2.resize(im, (size, size), interpolation=cv2.INTER_CUBIC) for im in images])

    def render(self, avatar: Avatar, motion, paste: bool = True, relative_pose: bool = True) -> np.ndarray:
        """Frames (T, H, W, 3) uint8 for a :class:`Motion` or (T, 37) array (conventions: :mod:`.base`)."""
        crops = self.render_crops(self._own(avatar), motion, relative_pose)
        if not paste:
            return crops
        return np.stack([avatar.registration.paste_back(crop) for crop in crops])

    def render_landmarks(self, avatar: Avatar, landmarks, paste: bool = True) -> np.ndarray:
        """Frames for target landmarks (T, 478, 2|3): the rig's motion fit of them, then :meth:`render`."""
        from ..motion.fit import fit

        avatar = self._own(avatar)
        target = check_landmarks(landmarks, avatar.crop_size)
        fitted = fit(target, avatar.rig.identity, avatar.to_image, basis=avatar.rig.basis, shape_modes=False)
        return self.render(avatar, fitted.motion().values, paste=paste, relative_pose=False)

    @staticmethod
    def _own(avatar: Avatar) -> LivePortraitAvatar:
        if not isinstance(avatar, LivePortraitAvatar):
            raise InvalidControlError(f"the LivePortrait renderer needs an avatar it registered itself, got a "
                                      f"{type(avatar).__name__}; call LivePortraitRenderer.register(portrait)")
        return avatar


def load_liveportrait_renderer(weights: str | os.PathLike | None = None, device: str | torch.device | None = None,
                               config: LivePortraitRendererConfig | None = None) -> LivePortraitRenderer:
    """A :class:`LivePortraitRenderer` on the official weights (registry name ``"liveportrait"`` /
    None: the talkinghead cache; a local folder; or a Hugging Face id such as ``KwaiVGI/LivePortrait``).

    ``config`` None takes the folder's ``talkinghead.json`` "renderer" settings when present
    (:mod:`.liveportrait.loader`), else the defaults.
    """
    root = resolve_weights_dir(weights if weights is not None else "liveportrait")
    models = load_liveportrait(root, device=device)
    if config is None:
        config = from_dict(LivePortraitRendererConfig, read_weights_config(root).get("renderer", {}))
    return LivePortraitRenderer(models, config, device=next(models.parameters()).device)


__all__ = ["LivePortraitAvatar", "LivePortraitRenderer", "LivePortraitRendererConfig",
           "load_liveportrait_renderer"]
