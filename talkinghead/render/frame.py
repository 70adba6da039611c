"""One avatar's per-frame model: target landmarks -> rendered head crops.

:class:`WarpFrameModel` is a torch module (ONNX-exportable, static shapes except the batch)::

    target (B, 478, 2) crop px
      -> lips / lids uncrossed; skull motion               (skull)
      -> backward sampling grid from the control mesh      (warp.WarpField)
      -> one grid_sample of the hole-filled source texture (holes)
      -> eye and mouth layers drawn in small windows at the target eyes / mouth
      -> (B, 3, S, S) float RGB in [0, 1]

The CPU renderer runs the same model but replaces the two full-resolution steps (upsampling the
coarse backward map and sampling the texture) by OpenCV's ``resize``/``remap`` on uint8 images,
which is several times faster than ``grid_sample`` on a CPU (:meth:`WarpFrameModel.render_opencv`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..face import landmarks as L
from .eyes import EyeLayer
from .holes import HOLE_CONTOURS, fill_holes, polygon_mask
from .mesh import MeshConfig, build_control_mesh
from .mouth import MouthInterior, MouthStyle
from .skull import SkullMotion, uncross
from .warp import DEFAULT_INVERSE_STEPS, WarpField, pixel_grid
from .window import composite_window, composite_window_numpy, window_origins, window_pixels


SDF_SAFETY_PX = 1.0  # >= the error of the layers' half-resolution distance fields


@dataclass(frozen=True)
class FrameConfig:
    """Per-frame model settings. Window sizes are (height, width) in IOD of the source face."""

    mesh: MeshConfig = field(default_factory=MeshConfig)
    mouth: MouthStyle = field(default_factory=MouthStyle)
    inverse_steps: int = DEFAULT_INVERSE_STEPS
    mouth_window: tuple[float, float] = (0.75, 1.2)
    eye_window: tuple[float, float] = (0.45, 0.8)
    eye_edge_soft: float = 0.006  # soft inner edge of the eye openings, IOD (thin: few eye pixels to stretch)


def eye_distance(landmarks: np.ndarray) -> float:
    """Inter-ocular distance (between the eye-contour centres) of (478, 2+) landmarks, pixels."""
    pts = np.asarray(landmarks, dtype=np.float64)[:, :2]
    return float(np.linalg.norm(pts[list(L.LEFT_EYE)].mean(0) - pts[list(L.RIGHT_EYE)].mean(0)))


def _window_size(size_iod: tuple[float, float], iod: float, crop_size: int) -> tuple[int, int]:
    """Window (h, w) in pixels: IOD multiples rounded up to 8, at most the crop."""
    return tuple(int(min(crop_size, 8 * np.ceil(s * iod / 8))) for s in size_iod)


def _to_texture(image: np.ndarray) -> torch.Tensor:
    """(S, S, C) uint8 -> (1, C, S, S) float32 in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).unsqueeze(0).float() / 255.0


class WarpFrameModel(nn.Module):
    """Renders one avatar; ``forward(target (B, 478, 2))`` -> (B, 3, S, S) float RGB in [0, 1]."""

    def __init__(self, crop: np.ndarray, source_landmarks: np.ndarray, paste_mask: np.ndarray | None = None,
                 config: FrameConfig | None = None):
        """crop: (S, S, 3) uint8 source crop; source_landmarks: (478, 2+) crop px; paste_mask: the
        (S, S) paste-back mask (nothing moves where it is below 1; default: only the crop border)."""
        super().__init__()
        self.config = config = config or FrameConfig()
        crop = np.ascontiguousarray(crop, dtype=np.uint8)
        src = torch.as_tensor(np.asarray(source_landmarks, dtype=np.float32)[None, :, :2])
        src = uncross(src, torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]]))[0].numpy()  # (478, 2)
        size = crop.shape[0]
        self.crop_size = size
        self.iod = iod = eye_distance(src)
        soft_px = config.mouth.edge_soft * iod
        # Each filled region stays inside the part of its opening its layer covers opaquely, so a
        # motion that keeps the openings renders the source unchanged: the layer's soft edge plus
        # the error of its half-resolution distance field.
        eye_px = config.eye_edge_soft * iod + SDF_SAFETY_PX
        shrink = {"mouth": soft_px + SDF_SAFETY_PX, "right_eye": eye_px, "left_eye": eye_px}
        self.filled = fill_holes(crop, src, shrink)  # (S, S, 3) uint8, base-warp texture
        mouth_open = polygon_mask(src[list(HOLE_CONTOURS["mouth"])], size, grow_px=soft_px)
        source = np.concatenate([crop, (mouth_open * 255).astype(np.uint8)[..., None]], axis=2)
        self.register_buffer("texture_filled", _to_texture(self.filled))  # (1, 3, S, S)
        self.register_buffer("texture_source", _to_texture(source))  # (1, 4, S, S): RGB + source opening

        self.warp = WarpField(build_control_mesh(src, size, paste_mask, config.mesh), src, config.inverse_steps)
        self.skull = SkullMotion(src)
        self.mouth = MouthInterior(src, crop, mouth_open, iod, config.mouth)
        eye_soft = config.eye_edge_soft
        self.right_eye = EyeLayer(src, L.RIGHT_EYE, L.RIGHT_IRIS, iod, eye_soft)
        self.left_eye = EyeLayer(src, L.LEFT_EYE, L.LEFT_IRIS, iod, eye_soft)
        self.mouth_window = _window_size(config.mouth_window, iod, size)
        self.eye_window = _window_size(config.eye_window, iod, size)
        self.register_buffer("mouth_index", torch.as_tensor(L.LIPS_INNER, dtype=torch.int64))
        self.register_buffer("right_eye_index", torch.as_tensor(L.RIGHT_EYE, dtype=torch.int64))
        self.register_buffer("left_eye_index", torch.as_tensor(L.LEFT_EYE, dtype=torch.int64))

    def prepare(self, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Target landmarks (B, 478, 2+) -> (uncrossed landmarks (B, 478, 2), skull (B, 2, 3), its inverse)."""
        target = target[..., :2]
        skull, skull_inv = self.skull(target)
        return uncross(target, skull), skull, skull_inv

    def layers(self, target: torch.Tensor, skull: torch.Tensor, skull_inv: torch.Tensor
               ) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """The drawn layers of a prepared batch, in compositing order: ``(origins (B, 2) int64 (x, y),
        rgb (B, 3, h, w) in [0, 1], alpha (B, 1, h, w))`` for the right eye, left eye and mouth."""
        out = []
        for layer, index, size in ((self.right_eye, self.right_eye_index, self.eye_window),
                                   (self.left_eye, self.left_eye_index, self.eye_window),
                                   (self.mouth, self.mouth_index, self.mouth_window)):
            origins = window_origins(target[:, index].mean(dim=1), size, self.crop_size)
            pixels = window_pixels(origins, size)  # (B, h, w, 2)
            rgb, alpha = layer(target, skull, skull_inv, pixels, self.texture_source)
            out.append((origins, rgb, alpha))
        return out

    def backward_map(self, target: torch.Tensor) -> torch.Tensor:
        """Backward displacement on the coarse grid for prepared landmarks, (B, 2, n, n) in crop pixels."""
        flow = self.warp.forward_flow(target)
        return self.warp.invert(flow) * (self.crop_size / 2.0)

    def forward(self, target: torch.Tensor) -> torch.Tensor:
        target, skull, skull_inv = self.prepare(target)
        grid = self.warp(target)  # (B, S, S, 2)
        texture = self.texture_filled.expand(target.shape[0], -1, -1, -1)
        frames = F.grid_sample(texture, grid, mode="bilinear", padding_mode="border", align_corners=False)
        for origins, rgb, alpha in self.layers(target, skull, skull_inv):
            frames = composite_window(frames, origins, rgb, alpha)
        return frames  # (B, 3, S, S)

    @torch.no_grad()
    def render_opencv(self, target: torch.Tensor) -> np.ndarray:
        """The same frames via OpenCV for the full-resolution steps: (B, S, S, 3) uint8 (CPU only)."""
        target, skull, skull_inv = self.prepare(target.float())
        back = self.backward_map(target).permute(0, 2, 3, 1).cpu().numpy()  # (B, n, n, 2) px
        layers = [(o.cpu().numpy(), (rgb * 255.0).permute(0, 2, 3, 1).cpu().numpy(), a.permute(0, 2, 3, 1).cpu().numpy())
                  for o, rgb, a in self.layers(target, skull, skull_inv)]
        base = pixel_grid(self.crop_size)  # (S, S, 2) float32 pixel centres
        size = self.crop_size
        frames = np.empty((len(back), size, size, 3), np.uint8)
        for b in range(len(back)):
            coords = cv2.resize(back[b], (size, size), interpolation=cv2.INTER_LINEAR)
            coords += base
            frames[b] = cv2.remap(self.filled, coords, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            for origins, rgb, alpha in layers:
                composite_window_numpy(frames[b], tuple(int(v) for v in origins[b]), rgb[b], alpha[b])
        return frames
