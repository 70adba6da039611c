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


@pytest.fixture(scope="session")
def tiny_motion_model(tmp_path_factory) -> str:
    """A tiny motion DiT with random weights in the shipped checkpoint format (on tiny.en features).

    The weights are perturbed because adaLN-zero starts as the zero function: like a trained model,
    every output then depends on its inputs. Fast, and no weights downloaded.
    """
    import dataclasses

    import torch

    from talkinghead.audio.features import WindowConfig
    from talkinghead.diffusion.checkpoint import save_motion_model
    from talkinghead.diffusion.dit import MotionDiT, dit_config

    torch.manual_seed(0)
    model = MotionDiT(dit_config("tiny", audio_dim=768)).eval()
    for p in model.parameters():
        p.data.add_(0.02 * torch.randn_like(p))
    audio = {"encoder": "tiny.en", "window": dataclasses.asdict(WindowConfig()), "dim": 768}
    path = tmp_path_factory.mktemp("tiny-motion") / "tiny.safetensors"
    return str(save_motion_model(model, path, audio=audio, extra={"note": "random weights (tests)"}))
