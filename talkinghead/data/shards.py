"""Training data on disk: shards of (audio features, motion) clips plus a manifest.

Layout of a data folder::

    manifest.json        # fps, feature description, shards (file, split, clips, frames)
    train-00000.npz      # features (N, F) float16, motion (N, D) float32,
    heldout-00000.npz    # offsets (clips + 1,) int64, meta (clips,) JSON strings

Clip ``k`` of a shard spans rows ``offsets[k]:offsets[k + 1]``. Features come from the
audio front-end's one windowing function, motion is in ``motion/channels.py`` layout, both
at 25 fps and frame-aligned. Every file is written to a temporary name and renamed.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import TalkingHeadError
from ..motion.channels import CHANNEL_NAMES, MOTION_DIM
from ..paths import atomic_path

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
_MANIFEST_KEYS = ("version", "fps", "channels", "features", "shards")


class DataFolderError(TalkingHeadError):
    """A training-data folder is missing, empty or inconsistent."""


@dataclass
class Clip:
    """One aligned training clip."""

    features: np.ndarray  # (T, F)
    motion: np.ndarray  # (T, D)
    meta: dict


class ShardWriter:
    """Collect clips and write them as shards of about ``frames_per_shard`` frames per split."""

    def __init__(self, out_dir: str | os.PathLike, feature_info: dict, fps: int, frames_per_shard: int = 10_000,
                 resume: bool = False):
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.feature_info, self.fps, self.frames_per_shard = feature_info, fps, frames_per_shard
        self._pending: dict[str, list[Clip]] = {}
        self._shards: list[dict] = []
        self.extra: dict = {}  # free-form manifest fields (kept up to date by the caller)
        if resume and (self.out_dir / MANIFEST).is_file():
            manifest = read_manifest(self.out_dir)
            if manifest["features"] != feature_info or manifest["fps"] != fps:
                raise DataFolderError(f"{out_dir} holds data made with other features/fps; use a new folder")
            self._shards = manifest["shards"]
            self.extra = {k: v for k, v in manifest.items() if k not in _MANIFEST_KEYS}

    @property
    def shards(self) -> list[dict]:
        """Shards written so far (file, split, clips, frames)."""
        return list(self._shards)

    def add(self, clip: Clip, split: str) -> None:
        if clip.features.shape[0] != clip.motion.shape[0] or clip.motion.shape[1] != MOTION_DIM:
            raise DataFolderError(f"clip features {clip.features.shape} and motion {clip.motion.shape} do not align")
        pending = self._pending.setdefault(split, [])
        pending.append(clip)
        if sum(c.motion.shape[0] for c in pending) >= self.frames_per_shard:
            for name in list(self._pending):  # all splits together: every clip so far is on disk
                self._flush(name)

    def _flush(self, split: str) -> None:
        clips = self._pending.pop(split, [])
        if not clips:
            return
        index = sum(1 for s in self._shards if s["split"] == split)
        name = f"{split}-{index:05d}.npz"
        offsets = np.cumsum([0] + [c.motion.shape[0] for c in clips]).astype(np.int64)
        tmp = atomic_path(self.out_dir / name)
        with open(tmp, "wb") as f:
            np.savez(f, features=np.concatenate([c.features for c in clips]).astype(np.float16),
                     motion=np.concatenate([c.motion for c in clips]).astype(np.float32),
                     offsets=offsets, meta=np.array([json.dumps(c.meta) for c in clips]))
        os.replace(tmp, self.out_dir / name)
        self._shards.append({"file": name, "split": split, "clips": len(clips), "frames": int(offsets[-1])})
        self._write_manifest()

    def close(self, extra: dict | None = None) -> Path:
        """Write the remaining shards and the manifest; returns the manifest path."""
        self.extra.update(extra or {})
        for split in list(self._pending):
            self._flush(split)
        return self._write_manifest()

    def _write_manifest(self) -> Path:
        """The manifest lists only complete shards, so the folder is usable (and resumable) at any time."""
        manifest = {"version": MANIFEST_VERSION, "fps": self.fps, "channels": list(CHANNEL_NAMES),
                    "features": self.feature_info, "shards": self._shards, **self.extra}
        path = self.out_dir / MANIFEST
        tmp = atomic_path(path)
        tmp.write_text(json.dumps(manifest, indent=2))
        os.replace(tmp, path)
        return path


def read_manifest(data_dir: str | os.PathLike) -> dict:
    path = Path(data_dir) / MANIFEST
    if not path.is_file():
        raise DataFolderError(f"{data_dir} has no {MANIFEST}; make data with `talkinghead data synth` "
                              "or `talkinghead data from-videos`")
    manifest = json.loads(path.read_text())
    if manifest.get("channels") != list(CHANNEL_NAMES):
        raise DataFolderError(f"{data_dir} was made with a different motion layout; regenerate it")
    return manifest


def load_clips(data_dir: str | os.PathLike, split: str) -> list[Clip]:
    """All clips of one split ("train", "heldout", ...) of a data folder, in manifest order."""
    manifest = read_manifest(data_dir)
    clips: list[Clip] = []
    for shard in manifest["shards"]:
        if shard["split"] != split:
            continue
        with np.load(Path(data_dir) / shard["file"]) as z:
            feats, motion, offsets, meta = z["features"], z["motion"], z["offsets"], z["meta"]
        for k in range(len(offsets) - 1):
            a, b = offsets[k], offsets[k + 1]
            clips.append(Clip(feats[a:b], motion[a:b], json.loads(str(meta[k]))))
    return clips
