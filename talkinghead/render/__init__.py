"""Renderers: portrait + motion -> frames.

:class:`Renderer` is the interface (register once, render batches); :class:`WarpRenderer` is the
default analytic warp renderer (no weights, ONNX-exportable per-frame model, fast on a CPU).
"""

from .base import Avatar, Renderer
from .frame import FrameConfig, WarpFrameModel
from .mesh import MeshConfig
from .mouth import MouthStyle
from .warp_renderer import WarpAvatar, WarpRenderer, WarpRendererConfig

__all__ = ["Avatar", "FrameConfig", "MeshConfig", "MouthStyle", "Renderer", "WarpAvatar", "WarpFrameModel",
           "WarpRenderer", "WarpRendererConfig"]
