"""The torch modules that are exported to ONNX: thin wrappers fixing each graph's inputs and outputs.

Every wrapper runs the project's own modules (Whisper's :func:`~talkinghead.audio.features.encode_mel`,
:class:`~talkinghead.diffusion.dit.MotionDiT`, :class:`~talkinghead.render.frame.WarpFrameModel`,
:class:`~talkinghead.motion.rig.RigModule`); only what the ONNX exporter cannot express is
rewritten, and the parity tests hold each graph to its torch original.

Graphs (names are the ONNX input / output names; symbolic dims in capitals):

* ``encoder``:  ``windows`` (K, S) float32 -> ``features`` (K, B, 2 d_model) — the Whisper encoder on
  the ONE window shape of the model's :class:`~talkinghead.audio.features.WindowConfig`
  (S = ``window_samples``, B = ``block_frames``), K windows per call.
* ``denoiser``: ``x`` (2, N, 37), ``t`` (2,) float32, ``audio`` (2, N, F), ``audio_mask`` (2,) bool,
  ``prefix_len`` () int64 -> ``prediction`` (2, N, 37) — one MotionDiT step with both classifier-free
  guidance branches in one batch (row 0 with audio, row 1 with the null audio); the batch axis is
  dynamic as well. ``prefix_len`` is an input tensor, so one graph serves every prefix length
  (0 for the first window, ``SamplerConfig.prefix`` after it, any other in streaming) and every
  window length N <= ``max_frames``.
* ``rig`` (per avatar): ``motion`` (T, 37) absolute pose -> ``landmarks`` (T, 478, 2) crop pixels
  (:meth:`Avatar.motion_landmarks` after :meth:`Avatar.absolute_motion`).
* ``render`` (per avatar): ``target`` (T, 478, 2) -> ``crops`` (T, S, S, 3) uint8 — the whole
  per-frame warp + composite (:class:`WarpFrameModel`), for GPU providers.
* ``render_coarse`` (per avatar): ``target`` (T, 478, 2) -> ``back`` (T, n, n, 2) backward map in
  crop pixels plus, per drawn layer (right eye, left eye, mouth), ``<layer>_origin`` (T, 2) int64,
  ``<layer>_rgb`` (T, h, w, 3) in 0..255 and ``<layer>_alpha`` (T, h, w, 1): everything but the two
  full-resolution steps, which OpenCV does on a CPU (as :meth:`WarpFrameModel.render_opencv`).

LivePortrait-architecture renderer (:mod:`talkinghead.render.liveportrait`; per set of weights, B dynamic):

* ``lp_appearance``: ``image`` (B, 3, s, s) in [0, 1] -> ``feature_3d`` (B, C, D, s/4, s/4).
* ``lp_motion``: ``image`` (B, 3, s, s) -> ``kp``, ``exp`` (B, N, 3), ``pitch``, ``yaw``, ``roll`` (B, 1)
  degrees (bin expectation in the graph), ``t`` (B, 3), ``scale`` (B, 1).
* ``lp_warp``: ``feature_3d``, ``kp_driving``, ``kp_source`` (B, N, 3) -> ``feature`` (B, F, s/4, s/4) and
  ``occlusion_map`` (B, 1, s/4, s/4): the warping module with its two 3-D samplings in the gather
  formulation (:mod:`talkinghead.render.liveportrait.grid_sample3d`), so no 5-D ``GridSample`` is needed.
* ``lp_generator``: ``feature`` -> ``image`` (B, 3, 2 s, 2 s) in (0, 1) (SPADE generator).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..audio.features import WindowConfig, encode_mel
from ..audio.mel import HOP, LOG_FLOOR_EPS, LOG_MEL_FLOOR, N_FFT, mel_filters
from ..diffusion.dit import MotionDiT
from ..motion.pose import project, reproject
from ..render.base import POSE_COLUMNS, Avatar
from ..render.frame import WarpFrameModel
from ..render.liveportrait.keypoints import keypoint_info
from ..render.liveportrait.warping import WarpingModule
from ..timing import ENCODER_FRAMES_PER_VIDEO_FRAME, SAMPLES_PER_FRAME

LAYER_NAMES = ("right_eye", "left_eye", "mouth")  # WarpFrameModel.layers() order (compositing order)
FREQ_BINS = N_FFT // 2 + 1  # 201 one-sided STFT bins


def dft_basis(n_fft: int = N_FFT) -> torch.Tensor:
    """Hann-windowed one-sided DFT as conv1d weights (2 (n_fft/2 + 1), 1, n_fft): cos rows then -sin rows.

    Computed in float64 and stored as float32; convolving a signal with it at stride ``HOP`` gives
    the real and imaginary parts of ``torch.stft(..., window=hann, center=False)``.
    """
    n = torch.arange(n_fft, dtype=torch.float64)
    k = torch.arange(n_fft // 2 + 1, dtype=torch.float64)
    window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
    angle = 2.0 * math.pi * k[:, None] * n[None] / n_fft  # (F, n_fft)
    return torch.cat([torch.cos(angle) * window, -torch.sin(angle) * window]).float().unsqueeze(1)


class WindowEncoderGraph(nn.Module):
    """:func:`~talkinghead.audio.features.encode_windows` in exportable ops: (K, S) -> (K, B, 2 d_model).

    ``torch.stft`` returns complex tensors, which the ONNX exporter cannot express, so the
    log-mel front-end (:func:`~talkinghead.audio.mel.log_mel_frames`) is computed here as a
    strided convolution with the windowed DFT basis: the same frames, window, filters, floor and
    scaling (measured max abs difference of the final features 2e-5). The encoder itself is
    :func:`~talkinghead.audio.features.encode_mel` unchanged.
    """

    def __init__(self, encoder: nn.Module, config: WindowConfig):
        super().__init__()
        self.encoder = encoder
        self.config = config
        self.register_buffer("basis", dft_basis())  # (2F, 1, N_FFT)
        self.register_buffer("mel", mel_filters(encoder.config.num_mel_bins).clone())  # (M, F)

    def log_mel(self, samples: torch.Tensor) -> torch.Tensor:
        """(K, n) samples -> (K, M, 1 + (n - 400) // 160) floored, scaled log-mel frames."""
        spec = F.conv1d(samples.unsqueeze(1), self.basis, stride=HOP)  # (K, 2F, T)
        real, imag = spec[:, :FREQ_BINS], spec[:, FREQ_BINS:]
        power = real * real + imag * imag  # (K, F, T)
        log_mel = torch.matmul(self.mel, power).clamp(min=LOG_FLOOR_EPS).log10()  # (K, M, T)
        return (log_mel.clamp(min=LOG_MEL_FLOOR) + 4.0) / 4.0

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        padded = F.pad(windows, (0, cfg.trailing_silence_frames * SAMPLES_PER_FRAME))  # (K, S + 640 P)
        hidden = encode_mel(self.encoder, self.log_mel(padded))  # (K, 2 (W + P), D)
        start = ENCODER_FRAMES_PER_VIDEO_FRAME * cfg.left_context_frames
        block = hidden[:, start:start + ENCODER_FRAMES_PER_VIDEO_FRAME * cfg.block_frames]  # (K, 2B, D)
        width = ENCODER_FRAMES_PER_VIDEO_FRAME * self.encoder.config.d_model
        return block.reshape(-1, cfg.block_frames, width)  # (K, B, 2D): constant sizes, so shapes infer


class DenoiserGraph(nn.Module):
    """One MotionDiT step with ``t`` as float and ``prefix_len`` as a 0-d int64 tensor input."""

    def __init__(self, model: MotionDiT):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, t: torch.Tensor, audio: torch.Tensor, audio_mask: torch.Tensor,
                prefix_len: torch.Tensor) -> torch.Tensor:
        return self.model(x, t, audio, audio_mask, prefix_len)  # (B, N, D)


class AvatarRigGraph(nn.Module):
    """Target landmarks of an avatar: absolute motion (T, 37) -> (T, 478, 2) crop pixels.

    ``rig(motion) + (source - rig(source_motion))``, the offset computed once in float64, then the
    camera's perspective change (:func:`~talkinghead.motion.pose.reproject`): which is
    :meth:`Avatar.motion_landmarks` (``source + rig(motion) - rig(source_motion)``) reordered.
    """

    def __init__(self, avatar: Avatar):
        super().__init__()
        self.rig = avatar.rig.module(avatar.to_image)
        self.camera_distance = avatar.camera_distance
        rest, rest_depth = avatar.rest_landmarks
        offset = avatar.source_landmarks.astype(np.float64) - rest  # (478, 2)
        self.register_buffer("offset", torch.as_tensor(offset, dtype=torch.float32))
        self.register_buffer("rest_depth", torch.as_tensor(rest_depth, dtype=torch.float32))  # (478,)

    def forward(self, motion: torch.Tensor) -> torch.Tensor:
        posed = self.rig.posed(motion)  # (T, 478, 3)
        target = project(posed, self.rig.to_image) + self.offset  # (T, 478, 2)
        return reproject(target, posed[..., 2], self.rest_depth, motion[:, :POSE_COLUMNS], self.rig.to_image,
                         self.camera_distance)


class RenderGraph(nn.Module):
    """The whole per-frame model with the uint8 conversion of ``WarpRenderer``: (T, 478, 2) -> (T, S, S, 3)."""

    def __init__(self, model: WarpFrameModel):
        super().__init__()
        self.model = model

    def forward(self, target: torch.Tensor) -> torch.Tensor:
        frames = self.model(target)  # (T, 3, S, S) in [0, 1]
        return (frames * 255.0).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)


class CoarseRenderGraph(nn.Module):
    """The per-frame model up to the full-resolution steps (see the module docstring for outputs)."""

    def __init__(self, model: WarpFrameModel):
        super().__init__()
        self.model = model

    def forward(self, target: torch.Tensor) -> tuple[torch.Tensor, ...]:
        target, skull, skull_inv = self.model.prepare(target)
        outputs = [self.model.backward_map(target).permute(0, 2, 3, 1)]  # (T, n, n, 2) px
        for origins, rgb, alpha in self.model.layers(target, skull, skull_inv):
            outputs += [origins, (rgb * 255.0).permute(0, 2, 3, 1), alpha.permute(0, 2, 3, 1)]
        return tuple(outputs)


def coarse_output_names() -> list[str]:
    """Output names of :class:`CoarseRenderGraph`, in order."""
    return ["back"] + [f"{layer}_{part}" for layer in LAYER_NAMES for part in ("origin", "rgb", "alpha")]


# ----------------------------------------------------------------------------- LivePortrait
LP_MOTION_OUTPUTS = ("kp", "exp", "pitch", "yaw", "roll", "t", "scale")


class LivePortraitMotionGraph(nn.Module):
    """The motion extractor plus :func:`keypoint_info` (bins -> degrees, (B, 3N) -> (B, N, 3))."""

    def __init__(self, extractor: nn.Module):
        super().__init__()
        self.extractor = extractor

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        info = keypoint_info(self.extractor(image))
        return tuple(info[name] for name in LP_MOTION_OUTPUTS)


class LivePortraitWarpGraph(nn.Module):
    """The warping module in the gather formulation of 3-D sampling: (feature_3d, kp_driving, kp_source)
    -> (warped feature, occlusion map). The module is switched to ``"gather"`` for good (pass a copy)."""

    def __init__(self, warping: WarpingModule):
        super().__init__()
        warping.set_grid_sample("gather")
        self.warping = warping

    def forward(self, feature_3d: torch.Tensor, kp_driving: torch.Tensor,
                kp_source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.warping(feature_3d, kp_driving=kp_driving, kp_source=kp_source)
        return out["out"], out["occlusion_map"]
