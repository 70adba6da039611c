"""Renderers by name: ``load_renderer("warp")`` (default, no weights) or ``load_renderer("liveportrait", weights)``."""

from __future__ import annotations

import os

import torch

from ..errors import InvalidControlError
from .base import Renderer

RENDERERS = ("warp", "liveportrait")


def load_renderer(name: str = "warp", path_or_hub_id: str | os.PathLike | None = None,
                  device: str | torch.device | None = None, config=None) -> Renderer:
    """The renderer ``name`` on ``device``.

    * ``"warp"``: :class:`~talkinghead.render.warp_renderer.WarpRenderer` (analytic, no weights; a
      ``path_or_hub_id`` is an error); ``device`` None = CPU.
    * ``"liveportrait"``: :class:`~talkinghead.render.liveportrait_renderer.LivePortraitRenderer` on
      the official LivePortrait weights: ``path_or_hub_id`` a local folder (the official layout, or
      its parent holding ``liveportrait/``), a Hugging Face id (``KwaiVGI/LivePortrait``, downloaded
      once), or None for ``<talkinghead cache>/liveportrait``; ``device`` None = CUDA when available.
      Missing files raise :class:`~talkinghead.errors.ModelNotFoundError` saying where to get them.

    ``config``: the renderer's config dataclass (default: its defaults; for LivePortrait, the
    weights folder's ``talkinghead.json`` when present).
    """
    if name == "warp":
        from .warp_renderer import WarpRenderer

        if path_or_hub_id is not None:
            raise InvalidControlError("the warp renderer has no weights; drop the renderer weights or use "
                                      "renderer='liveportrait'")
        return WarpRenderer(config, device=device or "cpu")
    if name == "liveportrait":
        from .liveportrait_renderer import load_liveportrait_renderer

        return load_liveportrait_renderer(path_or_hub_id, device, config)
    raise InvalidControlError(f"unknown renderer {name!r}; available: {', '.join(RENDERERS)}")
