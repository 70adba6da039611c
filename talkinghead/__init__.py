"""talkinghead: one portrait + speech -> a lip-synced talking-head video, offline or streaming.

The public API is re-exported here and loaded lazily, so ``import talkinghead`` stays fast.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    # errors
    "TalkingHeadError": "errors", "InvalidImageError": "errors", "NoFaceError": "errors",
    "FaceTooSmallError": "errors", "InvalidAudioError": "errors", "InputLimitError": "errors",
    "InvalidControlError": "errors", "ModelNotFoundError": "errors", "ChecksumError": "errors",
    "DependencyError": "errors", "VideoWriteError": "errors",
    # pipeline
    "TalkingHead": "pipeline", "PipelineConfig": "pipeline", "Result": "pipeline", "generate": "pipeline",
    "save_motion": "pipeline",
    # building blocks
    "Motion": "motion.motion", "Controls": "motion.controls", "Limits": "limits",
    "load_audio": "audio.io", "load_image": "face.image_io", "register_face": "face.registration",
    "load_whisper_encoder": "audio.whisper_models", "load_motion_model": "diffusion.checkpoint",
    "load_renderer": "render.registry",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'talkinghead' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
