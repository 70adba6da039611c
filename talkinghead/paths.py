"""Where talkinghead keeps files it derives (converted weights, exports) and how it checks them."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
ASSETS_DIR = PACKAGE_DIR / "assets"  # small files shipped inside the wheel
REPO_CHECKPOINTS_DIR = PACKAGE_DIR.parent / "checkpoints"  # models we train, in a source checkout


def cache_dir(*parts: str) -> Path:
    """The user cache directory (``$TALKINGHEAD_CACHE`` or ``~/.cache/talkinghead``), created on use."""
    root = Path(os.environ.get("TALKINGHEAD_CACHE") or Path.home() / ".cache" / "talkinghead")
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def sha256_file(path: str | os.PathLike, chunk_bytes: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks so big weights never sit in memory twice."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()


def atomic_path(final: str | os.PathLike) -> Path:
    """A temporary sibling of ``final`` to write to before ``os.replace`` (never half-written files)."""
    final = Path(final)
    return final.with_name(f".{final.name}.{os.getpid()}.tmp")
