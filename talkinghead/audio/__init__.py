"""Audio front-end: reading speech, Whisper weights, and the windowed Whisper features of the motion model.

* :func:`load_audio` - any file/array -> 16 kHz mono float32 (:mod:`.io`)
* :func:`load_whisper_encoder`, :func:`load_whisper_model` - registry name / local dir / hub id (:mod:`.whisper_models`)
* :class:`WindowConfig`, :func:`whisper_features` - the one windowing for training and inference (:mod:`.features`)
* :class:`StreamingFeatures` - the same frames from audio chunks (:mod:`.streaming`)
* :func:`transcribe` - greedy Whisper transcription (:mod:`.transcribe`)
"""

from .features import WindowConfig, encode_mel, encode_windows, feature_dim, whisper_features
from .io import load_audio
from .streaming import StreamingFeatures
from .transcribe import transcribe
from .whisper_models import (DEFAULT_WHISPER, REGISTRY, WhisperBundle, available_whisper_models,
                             load_whisper_encoder, load_whisper_model)

__all__ = ["DEFAULT_WHISPER", "REGISTRY", "StreamingFeatures", "WhisperBundle", "WindowConfig",
           "available_whisper_models", "encode_mel", "encode_windows", "feature_dim", "load_audio",
           "load_whisper_encoder", "load_whisper_model", "transcribe", "whisper_features"]
