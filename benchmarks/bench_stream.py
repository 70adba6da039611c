"""Streaming speed on this machine: a StreamSession fed like a live source and like a TTS burst.

Setup: scikit-image's astronaut (512 px photo, full frames with paste-back), the shipped demo speech
(7.9 s; 4 s with --quick), the shipped motion model when present (``"small"``), else a
``small``-sized DiT with random weights (same architecture and cost), default sampler steps, the
session's default motion window (``DEFAULT_WINDOW`` = 2 frames), one torch thread (the session
overlaps stages on its two worker threads instead).

first_frame_ms: live source (20 ms chunks pushed at real-time pace): from the first pushed chunk
    to the first frame out. It includes the audio the first window must wait for
    (``window_latency_ms`` = 40 (window + 2) + 12.5 ms) plus compute.
first_frame_burst_ms: the whole clip pushed at once (TTS-style): compute only.
stream_latency_ms: live source; per frame, from the moment its audio was complete to the frame
    out: p50 / p95.
stream_fps: burst; frames out per second between the first and the last frame (steady state).
stream_stage_ms_per_frame: burst; wall time per frame of each stage (features, motion, controls,
    render; two threads, so they overlap).
stream_window8: the live numbers and burst fps with window 8 (more throughput, more latency).
stream_load_avg: the 1-minute load average when the benchmark ran (other jobs share the 2 cores).
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import threading
import time

import numpy as np

from benchmarks._timing import percentiles_ms

CHUNK_S = 0.02  # a live source's packet


def _pipeline(tmp: str):
    import torch

    from talkinghead.audio.features import WindowConfig
    from talkinghead.diffusion.checkpoint import DEFAULT_MODEL, resolve_checkpoint, save_motion_model
    from talkinghead.diffusion.dit import MotionDiT, dit_config
    from talkinghead.errors import ModelNotFoundError
    from talkinghead.pipeline import PipelineConfig, TalkingHead

    try:
        model = str(resolve_checkpoint(DEFAULT_MODEL))
    except ModelNotFoundError:  # not trained yet: the same architecture with random weights
        torch.manual_seed(0)
        net = MotionDiT(dit_config(DEFAULT_MODEL, audio_dim=768)).eval()
        audio = {"encoder": "tiny.en", "window": dataclasses.asdict(WindowConfig()), "dim": 768}
        model = str(save_motion_model(net, os.path.join(tmp, "random-small.safetensors"), audio))
    return TalkingHead(PipelineConfig(motion_model=model)), model


def _live(th, avatar, audio: np.ndarray, window: int) -> dict:
    """Push ``audio`` in 20 ms chunks at real-time pace while a consumer takes frames."""
    from talkinghead.stream import StreamSession
    from talkinghead.timing import SAMPLE_RATE

    session = StreamSession(th, avatar, window=window)
    chunk = int(CHUNK_S * SAMPLE_RATE)

    def feed():
        start = time.monotonic()
        for i in range(0, len(audio), chunk):
            time.sleep(max(0.0, start + i / SAMPLE_RATE - time.monotonic()))
            session.push(audio[i:i + chunk])
        session.finish()

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    latencies = [1e3 * frame.latency_s for frame in session]
    feeder.join()
    stats = session.stats()
    session.close()
    return {"first_frame_ms": stats["first_frame_ms"], "latency_ms": percentiles_ms(latencies),
            "window_latency_ms": stats["window_latency_ms"]}


def _burst(th, avatar, audio: np.ndarray, window: int) -> dict:
    from talkinghead.stream import StreamSession

    with StreamSession(th, avatar, window=window) as session:
        session.push(audio)
        session.finish()
        times = [time.perf_counter() for _ in session]
        stats = session.stats()
    return {"first_frame_ms": stats["first_frame_ms"], "fps": (len(times) - 1) / (times[-1] - times[0]),
            "stages": stats["stage_ms_per_frame"]}


def run(quick: bool) -> dict:
    import torch

    from talkinghead.audio.io import load_audio
    from talkinghead.demo import demo_portrait, demo_speech
    from talkinghead.stream import DEFAULT_WINDOW
    from talkinghead.timing import SAMPLE_RATE

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            th, model = _pipeline(tmp)
            avatar = th.register(demo_portrait())
            speech = load_audio(str(demo_speech()))
            audio = speech[:4 * SAMPLE_RATE] if quick else speech
            _burst(th, avatar, speech[:SAMPLE_RATE], DEFAULT_WINDOW)  # warm-up
            live = _live(th, avatar, audio, DEFAULT_WINDOW)
            burst = _burst(th, avatar, audio, DEFAULT_WINDOW)
            result = {
                "first_frame_ms": live["first_frame_ms"],
                "first_frame_burst_ms": burst["first_frame_ms"],
                "stream_latency_ms": {k: round(v, 1) for k, v in live["latency_ms"].items()},
                "stream_fps": round(burst["fps"], 1),
                "stream_stage_ms_per_frame": burst["stages"],
                "stream_window": DEFAULT_WINDOW,
                "stream_window_latency_ms": live["window_latency_ms"],
                "stream_model": os.path.basename(model),
                "stream_load_avg": round(os.getloadavg()[0], 2),
            }
            if not quick:
                w8, b8 = _live(th, avatar, audio, 8), _burst(th, avatar, audio, 8)
                result["stream_window8"] = {"first_frame_ms": w8["first_frame_ms"], "fps": round(b8["fps"], 1),
                                            "latency_ms": {k: round(v, 1) for k, v in w8["latency_ms"].items()}}
    finally:
        torch.set_num_threads(threads)
    return result
