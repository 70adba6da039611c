"""Build a synthetic training-data folder: synthetic clips -> Whisper features -> shards.

Features come from :func:`talkinghead.audio.features.whisper_features`, the same windowing
function inference uses; the encoder name and window are recorded in the manifest and carried
into the trained checkpoint, so the pipeline rebuilds exactly the front-end the model saw.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..audio.features import WindowConfig, feature_dim, whisper_features
from ..audio.whisper_models import DEFAULT_WHISPER, load_whisper_encoder
from ..timing import FPS, SAMPLE_RATE
from .shards import Clip, DataFolderError, ShardWriter
from .synth import SynthConfig, clip_seed, synthesize_utterance

HELDOUT_FRACTION = 0.1  # share of clips drawn from held-out voices (never used for training)


def feature_info(encoder_name: str, encoder, window: WindowConfig) -> dict:
    """What a model trained on these features needs to rebuild the front-end (saved in manifests/checkpoints)."""
    return {"encoder": encoder_name, "window": dataclasses.asdict(window), "dim": feature_dim(encoder)}


def build_synthetic_dataset(out_dir: str | os.PathLike, hours: float, seed: int = 0,
                            encoder_name: str = DEFAULT_WHISPER, window: WindowConfig | None = None,
                            config: SynthConfig | None = None, progress: bool = True) -> Path:
    """Synthesise ``hours`` of speech (+ held-out clips) into ``out_dir``; returns the manifest path.

    Deterministic for ``seed``: clip ``k`` uses seed ``clip_seed(seed, k)`` and held-out clips are
    every ``round(1 / HELDOUT_FRACTION)``-th index.
    """
    window = window or WindowConfig()
    config = config or SynthConfig()
    encoder = load_whisper_encoder(encoder_name)
    writer = ShardWriter(out_dir, feature_info(encoder_name, encoder, window), fps=FPS, resume=True)
    done = writer.extra.get("synthetic", {})
    if done and done.get("seed") != seed:
        raise DataFolderError(f"{out_dir} was made with seed {done.get('seed')}; use that seed or a new folder")
    k, made_s = done.get("next_clip", 0), done.get("train_hours", 0.0) * 3600.0  # resume after the last shard
    target_s = hours * 3600.0
    every = round(1 / HELDOUT_FRACTION)
    start = time.perf_counter() - done.get("wall_s", 0.0)
    bar = tqdm(total=round(target_s), initial=round(made_s), unit="audio s", desc="synth", disable=not progress)
    flushed = len(writer.shards)
    while made_s < target_s:
        split = "heldout" if k % every == every - 1 else "train"
        clip = synthesize_utterance(clip_seed(seed, k), split=split, config=config)
        feats = whisper_features(clip.audio, encoder, window).numpy()  # (T, F)
        meta = dict(clip.metadata, index=k,
                    phonemes=[[p.symbol, round(p.start_s, 4), round(p.end_s, 4)] for p in clip.phonemes])
        writer.add(Clip(feats, clip.motion, meta), split)
        duration = len(clip.audio) / SAMPLE_RATE
        if split == "train":
            made_s += duration
            bar.update(round(duration))
        k += 1
        if len(writer.shards) != flushed or made_s >= target_s:  # progress as of the last complete shard
            flushed = len(writer.shards)
            writer.extra["synthetic"] = _progress(seed, k, made_s, start, config)
    bar.close()
    return writer.close({"synthetic": _progress(seed, k, made_s, start, config)})


def _progress(seed: int, next_clip: int, made_s: float, start: float, config: SynthConfig) -> dict:
    return {"seed": seed, "next_clip": next_clip, "train_hours": made_s / 3600,
            "wall_s": round(time.perf_counter() - start, 1), "synth_config": _jsonable(dataclasses.asdict(config))}


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value
