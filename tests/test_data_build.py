"""`talkinghead data synth`: synthetic clips -> Whisper features -> shards, deterministic and resumable."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from talkinghead.data.build import build_synthetic_dataset
from talkinghead.data.shards import load_clips, read_manifest
from talkinghead.motion.channels import MOTION_DIM


def test_build_is_aligned_deterministic_and_resumable(tmp_path):
    first = read_manifest(build_synthetic_dataset(tmp_path / "a", hours=0.002, seed=3, progress=False).parent)
    clips = load_clips(tmp_path / "a", "train")
    assert clips and all(c.features.shape[0] == c.motion.shape[0] for c in clips)
    assert clips[0].motion.shape[1] == MOTION_DIM and clips[0].features.shape[1] == first["features"]["dim"]
    assert clips[0].meta["phonemes"] and clips[0].meta["voice_split"] == "train"
    # same seed, same data
    build_synthetic_dataset(tmp_path / "b", hours=0.002, seed=3, progress=False)
    np.testing.assert_array_equal(load_clips(tmp_path / "b", "train")[0].motion, clips[0].motion)
    # resuming to a larger target keeps what exists and appends
    more = read_manifest(build_synthetic_dataset(tmp_path / "a", hours=0.004, seed=3, progress=False).parent)
    assert more["shards"][: len(first["shards"])] == first["shards"]
    assert more["synthetic"]["train_hours"] >= 0.004


def test_cli_synth(tmp_path):
    run = subprocess.run([sys.executable, "-m", "talkinghead", "data", "synth", "--hours", "0.001", "--out",
                          str(tmp_path / "d")], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert json.loads((tmp_path / "d" / "manifest.json").read_text())["shards"]
    bad = subprocess.run([sys.executable, "-m", "talkinghead", "data", "synth", "--hours", "-1", "--out",
                          str(tmp_path / "e")], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
