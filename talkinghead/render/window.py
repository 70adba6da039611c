"""Fixed-size windows at per-frame positions inside a crop, for layers drawn over part of a frame.

The mouth interior is drawn only inside a window around each frame's mouth, never over the whole
crop. A window has a static size ``(h, w)`` and a per-frame top-left corner, so the torch path
(gather / scatter with computed flat indices) exports to ONNX with static shapes.
"""

from __future__ import annotations

import numpy as np
import torch


def window_origins(centres: torch.Tensor, size: tuple[int, int], crop_size: int) -> torch.Tensor:
    """Top-left corners (B, 2) as (x, y) int64 of ``size = (h, w)`` windows centred on ``centres``
    (B, 2) crop pixels, shifted to lie inside the crop."""
    h, w = size
    x = torch.clamp(torch.round(centres[:, 0] - w / 2.0), 0.0, float(crop_size - w))
    y = torch.clamp(torch.round(centres[:, 1] - h / 2.0), 0.0, float(crop_size - h))
    return torch.stack([x, y], dim=1).to(torch.int64)


def window_pixels(origins: torch.Tensor, size: tuple[int, int], dtype=torch.float32) -> torch.Tensor:
    """Crop-pixel coordinates (B, h, w, 2) as (x, y) of the windows at ``origins`` (B, 2)."""
    h, w = size
    ys = torch.arange(h, device=origins.device, dtype=dtype)
    xs = torch.arange(w, device=origins.device, dtype=dtype)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    local = torch.stack([gx, gy], dim=-1).unsqueeze(0)  # (1, h, w, 2)
    return local + origins.to(dtype).view(-1, 1, 1, 2)


def _flat_index(origins: torch.Tensor, size: tuple[int, int], crop_size: int, channels: int) -> torch.Tensor:
    """Flat pixel indices (B, C, h*w) of each window into a (B, C, S*S) view of the crop."""
    h, w = size
    ys = torch.arange(h, device=origins.device).view(1, h, 1) + origins[:, 1].view(-1, 1, 1)
    xs = torch.arange(w, device=origins.device).view(1, 1, w) + origins[:, 0].view(-1, 1, 1)
    flat = (ys * crop_size + xs).reshape(origins.shape[0], 1, h * w)  # (B, 1, h*w)
    return flat.expand(-1, channels, -1)


def composite_window(frames: torch.Tensor, origins: torch.Tensor, rgb: torch.Tensor, alpha: torch.Tensor
                     ) -> torch.Tensor:
    """``frames`` (B, C, S, S) with ``rgb`` (B, C, h, w) blended in through ``alpha`` (B, 1, h, w)
    at ``origins`` (B, 2); returns a new tensor (torch path, exportable)."""
    batch, channels, size, _ = frames.shape
    h, w = rgb.shape[-2:]
    index = _flat_index(origins, (h, w), size, channels)  # (B, C, h*w)
    flat = frames.reshape(batch, channels, size * size)
    under = torch.gather(flat, 2, index)  # (B, C, h*w)
    over = rgb.reshape(batch, channels, h * w)
    a = alpha.reshape(batch, 1, h * w)
    blended = under + a * (over - under)
    return flat.scatter(2, index, blended).reshape(frames.shape)


def composite_window_numpy(frame: np.ndarray, origin: tuple[int, int], rgb: np.ndarray, alpha: np.ndarray
                           ) -> None:
    """In-place variant for one uint8 frame (S, S, C): ``rgb`` (h, w, C) in 0..255 float and
    ``alpha`` (h, w, 1) blended in at ``origin`` (x, y). Same arithmetic as :func:`composite_window`."""
    x, y = origin
    h, w = alpha.shape[:2]
    region = frame[y:y + h, x:x + w].astype(np.float32)
    region += alpha * (rgb - region)
    frame[y:y + h, x:x + w] = np.clip(np.rint(region), 0, 255).astype(np.uint8)
