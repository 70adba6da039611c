"""Embedded defaults: a public-domain portrait and a speech clip the project ships."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import DependencyError
from .paths import ASSETS_DIR

DEMO_SPEECH = ASSETS_DIR / "demo" / "speech.wav"  # espeak-ng, made here (assets/demo/README.md)


def demo_portrait() -> np.ndarray:
    """scikit-image's astronaut (public domain), (512, 512, 3) uint8 RGB."""
    try:
        import skimage.data
    except ImportError as e:
        raise DependencyError("the demo portrait comes from scikit-image: pip install scikit-image") from e
    return skimage.data.astronaut()


def demo_speech() -> Path:
    """Path of the shipped demo speech clip (16 kHz mono wav, 7.9 s)."""
    return DEMO_SPEECH
