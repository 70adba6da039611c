"""End-to-end offline speed and memory, and the motion model's cost.

rtf_offline: compute seconds / audio seconds for astronaut + 10 s of espeak-ng speech, 512 px crop,
    full photo out, mp4 written (register + features + motion + render + encode).
rtf_stages: the same run split per stage (seconds per audio second).
peak_rss_mb: peak resident memory of this benchmark process (ru_maxrss) after the run.
dit_ms_per_frame: offline motion generation (default sampler, 80-frame windows) per frame.
dit_window_ms: one streaming window (8 frames + prefix) of the motion model.
"""

from __future__ import annotations

import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks._timing import median_ms

AUDIO_SECONDS = 10.0


def _speech(seconds: float) -> np.ndarray:
    from talkinghead.audio.io import load_audio
    from talkinghead.demo import demo_speech

    clip = load_audio(str(demo_speech()))
    reps = int(np.ceil(seconds * 16_000 / len(clip)))
    return np.tile(clip, reps)[: int(seconds * 16_000)]


def run(quick: bool) -> dict:
    import torch

    from talkinghead.demo import demo_portrait
    from talkinghead.diffusion.sampler import MotionWindower, SamplerConfig
    from talkinghead.pipeline import TalkingHead

    th = TalkingHead()
    avatar = th.register(demo_portrait())
    seconds = 4.0 if quick else AUDIO_SECONDS
    audio = _speech(seconds)
    runs = []
    for _ in range(1 if quick else 3):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            result = th.generate(demo_portrait(), audio, 16_000, seed=0)
            th.save(result, Path(tmp) / "bench.mp4")
            total = time.perf_counter() - start
        stages = dict(result.timings)
        stages["encode_s"] = total - sum(stages.values())
        runs.append((total, stages))
    total, stages = sorted(runs, key=lambda r: r[0])[len(runs) // 2]
    feats = th.features(audio)
    frames = feats.shape[0]
    dit_offline = median_ms(lambda: th.motion_from_features(feats), repeats=1 if quick else 3)
    windower = MotionWindower(th.motion_model, SamplerConfig(window=8), seed=0)
    windower.generate(feats[:8])  # fill the prefix as in a running stream
    step = iter(range(8, frames - 8, 8))
    dit_window = median_ms(lambda: windower.generate(feats[next(step):][:8]), repeats=3 if quick else 10)
    return {
        "rtf_offline": round(total / seconds, 3),
        "rtf_stages": {k.removesuffix("_s"): round(v / seconds, 4) for k, v in stages.items()},
        "rtf_audio_seconds": seconds,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "dit_ms_per_frame": round(dit_offline / frames, 3),
        "dit_window_ms": round(dit_window, 2),
        "torch_threads": torch.get_num_threads(),
    }
