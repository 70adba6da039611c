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
