"""Synthetic training-data speed: seconds of finished data (audio + motion + Whisper features) per CPU second.

CPU seconds are this process's and its children's (the espeak-ng fork server) user + system time.
"""

from __future__ import annotations

import os
import time


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def run(quick: bool) -> dict:
    from talkinghead.audio.features import whisper_features
    from talkinghead.audio.whisper_models import load_whisper_encoder
    from talkinghead.data.synth import clip_seed, synthesize_utterance

    encoder = load_whisper_encoder("tiny.en")
    synthesize_utterance(clip_seed(99, 0))  # warm-up: library load, first-call compilation
    cpu0, wall0, audio_s = _cpu_seconds(), time.perf_counter(), 0.0
    for k in range(3 if quick else 12):
        clip = synthesize_utterance(clip_seed(7, k))
        whisper_features(clip.audio, encoder)
        audio_s += len(clip.audio) / 16_000
    cpu, wall = _cpu_seconds() - cpu0, time.perf_counter() - wall0
    return {"synth_audio_s_per_cpu_s": round(audio_s / cpu, 2), "synth_audio_s_per_wall_s": round(audio_s / wall, 2)}
