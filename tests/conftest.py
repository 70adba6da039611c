"""Shared test fixtures: paths to optional real media, small deterministic inputs."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("TALKINGHEAD_SHARED", REPO.parent / "shared"))
FIXTURES = SHARED / "fixtures"


def fixture_path(*parts: str) -> Path:
    """Path inside ../shared/fixtures, or skip the test when that media is absent."""
    path = FIXTURES.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not present (optional real-media fixture)")
    return path


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """scikit-image's public-domain astronaut portrait, (512, 512, 3) uint8 RGB."""
    import skimage.data

    return skimage.data.astronaut()


def save_tiny_motion_model(path, perturb: float = 0.02) -> str:
    """A tiny motion DiT with random weights in the shipped checkpoint format (on tiny.en features).

    ``perturb``: adaLN-zero starts as the zero function; perturbed weights make every output depend
    on its inputs like a trained model's (0 keeps the motion at the model's mean: quiet, in range).
    """
    import dataclasses

    import torch

    from talkinghead.audio.features import WindowConfig
    from talkinghead.diffusion.checkpoint import save_motion_model
    from talkinghead.diffusion.dit import MotionDiT, dit_config

    torch.manual_seed(0)
    model = MotionDiT(dit_config("tiny", audio_dim=768)).eval()
    for p in model.parameters():
        p.data.add_(perturb * torch.randn_like(p))
    audio = {"encoder": "tiny.en", "window": dataclasses.asdict(WindowConfig()), "dim": 768}
    return str(save_motion_model(model, path, audio=audio, extra={"note": "random weights (tests)"}))


@pytest.fixture(scope="session")
def tiny_motion_model(tmp_path_factory) -> str:
    """:func:`save_tiny_motion_model` once per test session (fast; no weights downloaded)."""
    return save_tiny_motion_model(tmp_path_factory.mktemp("tiny-motion") / "tiny.safetensors")
