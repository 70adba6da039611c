"""Renderers: portrait + motion -> frames.

:class:`Renderer` is the interface (register once, render batches); :class:`WarpRenderer` is the
default analytic warp renderer (no weights, ONNX-exportable per-frame model, fast on a CPU);
:class:`LivePortraitRenderer` is the neural renderer on the official LivePortrait weights a user
downloads (a GPU path); :func:`load_renderer` picks one by name.
"""

from .base import Avatar, Renderer
from .frame import FrameConfig, WarpFrameModel
from .liveportrait_renderer import LivePortraitAvatar, LivePortraitRenderer, LivePortraitRendererConfig
from .mesh import MeshConfig
from .mouth import MouthStyle
from .registry import RENDERERS, load_renderer
from .warp_renderer import WarpAvatar, WarpRenderer, WarpRendererConfig

__all__ = ["Avatar", "FrameConfig", "LivePortraitAvatar", "LivePortraitRenderer", "LivePortraitRendererConfig",
           "MeshConfig", "MouthStyle", "RENDERERS", "Renderer", "WarpAvatar", "WarpFrameModel", "WarpRenderer",
           "WarpRendererConfig", "load_renderer"]
