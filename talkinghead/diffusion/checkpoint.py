"""Self-describing MotionDiT checkpoints: safetensors weights + the config and audio front-end in metadata.

``load_motion_model(name_or_path)`` accepts a registry name (a file shipped in
``checkpoints/``), a local ``.safetensors`` path or a folder holding one, or a Hugging Face
hub id (``user/repo``, file ``motion-dit.safetensors``). Shipped files are sha256-verified.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from .. import __version__
from ..config import from_dict, to_dict
from ..errors import ChecksumError, ModelNotFoundError
from ..paths import REPO_CHECKPOINTS_DIR, atomic_path, sha256_file
from .dit import DiTConfig, MotionDiT

HUB_FILENAME = "motion-dit.safetensors"
DEFAULT_MODEL = "small"

# Registry of checkpoints we train and ship: name -> (file in checkpoints/, sha256).
MOTION_CHECKPOINTS: dict[str, tuple[str, str]] = {
    "small": ("motion-dit-small.safetensors", "aff50f08443e3fa88b9dadfece1e1eb06a1da6a3943f3c0b89b9c3886382beaa"),  # checkpoints/README.md
}


def checkpoint_dirs() -> list[Path]:
    """Where shipped checkpoints are looked for: $TALKINGHEAD_CHECKPOINTS, then the source tree's checkpoints/."""
    dirs = [Path(p) for p in os.environ.get("TALKINGHEAD_CHECKPOINTS", "").split(os.pathsep) if p]
    return dirs + [REPO_CHECKPOINTS_DIR]


def save_motion_model(model: MotionDiT, path: str | os.PathLike, audio: dict, extra: dict | None = None) -> Path:
    """Write weights + config (+ the audio front-end they expect, + free-form training info) atomically."""
    path = Path(path)
    meta = {"format": "talkinghead.motion-dit", "talkinghead_version": __version__,
            "config": json.dumps(to_dict(model.config)), "audio": json.dumps(audio),
            "extra": json.dumps(extra or {})}
    tmp = atomic_path(path)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(tmp), metadata=meta)
    os.replace(tmp, path)
    return path


def read_metadata(path: str | os.PathLike) -> dict:
    """Config, audio front-end and training info of a checkpoint file, without loading weights."""
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    if meta.get("format") != "talkinghead.motion-dit":
        raise ModelNotFoundError(f"{path} is not a talkinghead motion checkpoint (no talkinghead metadata)")
    return {"config": json.loads(meta["config"]), "audio": json.loads(meta["audio"]),
            "extra": json.loads(meta.get("extra", "{}"))}


def load_motion_model(name_or_path: str | os.PathLike = DEFAULT_MODEL, device=None) -> tuple[MotionDiT, dict]:
    """Load a MotionDiT in eval mode; returns (model, metadata with the audio front-end it expects)."""
    path = resolve_checkpoint(name_or_path)
    meta = read_metadata(path)
    model = MotionDiT(from_dict(DiTConfig, meta["config"]))
    model.load_state_dict(load_file(str(path)), strict=True)
    return model.to(device or "cpu").eval(), meta


def resolve_checkpoint(name_or_path: str | os.PathLike) -> Path:
    name = str(name_or_path)
    if name in MOTION_CHECKPOINTS:
        return _shipped(name)
    path = Path(name).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        files = sorted(path.glob("*.safetensors"))
        if len(files) == 1:
            return files[0]
        raise ModelNotFoundError(f"{path} holds {len(files)} .safetensors files; pass the file itself")
    if _looks_like_hub_id(name):
        return _from_hub(name)
    raise ModelNotFoundError(
        f"motion model {name!r} not found. Available names: {', '.join(MOTION_CHECKPOINTS) or '(none shipped)'}; "
        "or pass a .safetensors path or a Hugging Face hub id (user/repo).")


def _shipped(name: str) -> Path:
    filename, sha = MOTION_CHECKPOINTS[name]
    for folder in checkpoint_dirs():
        path = folder / filename
        if path.is_file():
            actual = sha256_file(path)
            if actual != sha:
                raise ChecksumError(f"{path} has sha256 {actual}, expected {sha}; the file is corrupt or "
                                    "was replaced: restore it (git checkout checkpoints/) or retrain")
            return path
    raise ModelNotFoundError(f"shipped checkpoint {filename} not found in {[str(d) for d in checkpoint_dirs()]}; "
                             "set TALKINGHEAD_CHECKPOINTS to the folder that holds it")


def _looks_like_hub_id(name: str) -> bool:
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not name.startswith((".", "/", "~"))


def _from_hub(repo_id: str) -> Path:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        return Path(hf_hub_download(repo_id, HUB_FILENAME))
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError) as e:
        raise ModelNotFoundError(f"could not fetch {HUB_FILENAME} from hub repo {repo_id!r}: {e}") from e
