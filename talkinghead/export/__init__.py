"""ONNX export of the pipeline's graphs and the onnxruntime backend (``TalkingHead(backend="onnx")``).

    talkinghead export --out onnx/ [--model NAME_OR_PATH] [--portrait face.jpg]

* :mod:`.graphs` - the exported torch modules (encoder, denoiser, rig, render, render_coarse, and the
  LivePortrait renderer's lp_appearance, lp_motion, lp_warp, lp_generator);
* :mod:`.exporter` - export + ``onnx.checker`` + caching by model / avatar hash;
* :mod:`.manifest` - the ``manifest.json`` format;
* :mod:`.runtime` - sessions and the stage twins the pipeline plugs in;
* :mod:`.options` - :class:`OnnxOptions` (providers, threads, render engine, cache folder).

See docs/onnx.md. Only :mod:`.options` is imported eagerly (no onnxruntime at import time).
"""

from __future__ import annotations

import importlib

from .options import OnnxOptions

_LAZY = {
    "export_model": "exporter", "export_avatar_graphs": "exporter", "export_model_graphs": "exporter",
    "OPSET": "exporter", "read_manifest": "manifest", "verify_files": "manifest",
    "export_liveportrait": "exporter", "export_liveportrait_graphs": "exporter",
    "OnnxBackend": "runtime", "OnnxWhisper": "runtime", "OnnxDenoiser": "runtime", "OnnxWarpRenderer": "runtime",
    "open_session": "runtime", "physical_cores": "runtime", "resolve_providers": "runtime",
}

__all__ = ["OnnxOptions", *sorted(_LAZY)]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
