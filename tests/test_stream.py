"""Streaming: StreamSession equals the offline pipeline for the same window schedule, idles through
silence, paces in real time, frees everything on close, and keeps memory bounded on long streams."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest
import torch

from talkinghead.audio.io import load_audio
from talkinghead.demo import demo_speech
from talkinghead.diffusion.sampler import SamplerConfig
from talkinghead.errors import InvalidAudioError, InvalidControlError, TalkingHeadError
from talkinghead.motion.channels import CHANNEL_INDEX, MOUTH_CHANNELS
from talkinghead.motion.controls import apply_controls
from talkinghead.pipeline import PipelineConfig, TalkingHead
from talkinghead.stream import RealtimeStream, StreamSession
from talkinghead.stream.audio_input import AudioInput
from talkinghead.stream.idle import IDLE_RAMP_FRAMES
from talkinghead.stream.session import RENDER_BATCH
from talkinghead.timing import FPS, SAMPLE_RATE, SAMPLES_PER_FRAME

STEPS = 4  # denoising steps: fewer than the default, the schedule logic is the same
MOUTH = [CHANNEL_INDEX[n] for n in MOUTH_CHANNELS]
BLINK = CHANNEL_INDEX["eyeBlinkLeft"]


@pytest.fixture(scope="module")
def th(tiny_motion_model):
    torch.set_num_threads(1)
    return TalkingHead(PipelineConfig(motion_model=tiny_motion_model,
                                      sampler=SamplerConfig(window=8, prefix=10, steps=STEPS)))


@pytest.fixture(scope="module")
def avatar(th, astronaut):
    return th.register(astronaut)


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    """2 s of the shipped espeak-ng demo speech, 16 kHz."""
    return load_audio(str(demo_speech()))[: 2 * SAMPLE_RATE]


def _push_randomly(session: StreamSession, audio: np.ndarray, sr: int, rng) -> None:
    """Push ``audio`` (at ``sr``) in chunks of random size: 1 sample .. 250 ms."""
    i = 0
    while i < len(audio):
        n = int(rng.integers(1, sr // 4))
        session.push(audio[i:i + n], sr)
        i += n


def _offline(th, avatar, audio16, window, prefix, **kwargs):
    """``th.generate`` with the offline sampler window set to ``window`` (and ``prefix``)."""
    saved = th.config.sampler
    th.config.sampler = SamplerConfig(window=window, prefix=prefix, steps=STEPS)
    try:
        return th.generate(avatar, audio16, SAMPLE_RATE, **kwargs)
    finally:
        th.config.sampler = saved


@pytest.mark.parametrize("sr, channels, dtype, window, prefix", [
    (16_000, 1, np.float32, 8, 10),  # the default schedule
    (48_000, 2, np.int16, 5, 3),  # stereo PCM at 48 kHz; a window that is no multiple of the feature block
])
def test_stream_equals_offline_for_the_same_window_schedule(th, avatar, speech, sr, channels, dtype, window, prefix):
    import soxr

    rng = np.random.default_rng(sr)
    source = soxr.resample(speech, SAMPLE_RATE, sr) if sr != SAMPLE_RATE else speech  # (n,) at sr
    stereo = np.stack([source, 0.5 * source], axis=1)[:, :channels]
    chunked = (stereo * 32767).astype(np.int16) if dtype == np.int16 else stereo.astype(np.float32)
    audio16 = load_audio(chunked if channels > 1 else chunked[:, 0], sr)
    offline = _offline(th, avatar, audio16, window, prefix, seed=5, pose_scale=0.7, blink_rate=40)

    with StreamSession(th, avatar, seed=5, window=window, prefix=prefix, pose_scale=0.7, blink_rate=40) as session:
        _push_randomly(session, chunked if channels > 1 else chunked[:, 0], sr, rng)
        session.finish()
        frames = list(session)
        stats = session.stats()

    assert len(frames) == offline.num_frames == -(-len(audio16) // SAMPLES_PER_FRAME)
    assert [f.index for f in frames] == list(range(len(frames)))
    assert [f.pts for f in frames] == [i / FPS for i in range(len(frames))]
    # lock-step audio: frame i carries samples [640 i, 640 (i + 1)) of the stream (the last one zero-padded)
    streamed_audio = np.concatenate([f.audio for f in frames])
    np.testing.assert_allclose(streamed_audio[:len(audio16)], audio16, atol=1e-5)
    assert not streamed_audio[len(audio16):].any() and not any(f.inserted for f in frames)
    # motion: equal up to the encoder's batch-shape rounding (~1e-6 on features)
    motion = np.stack([f.motion for f in frames])
    np.testing.assert_allclose(motion, offline.motion.values, atol=1e-4)
    # pixels: the renderer is deterministic, so streamed frames are the renderer's on that motion (same
    # batch of RENDER_BATCH frames: torch's rounding depends on batch shapes) ...
    images = np.stack([f.image for f in frames])
    np.testing.assert_array_equal(images[:RENDER_BATCH], th.renderer.render(avatar, motion[:RENDER_BATCH]))
    # ... and equal to the offline frames except where 1e-6 motion rounding flips a pixel
    differs = (images != offline.to_array()).mean()
    assert differs < 1e-3, f"{differs:.2e} of the pixel values differ from offline"
    assert stats["frames"] == len(frames) and stats["stage_ms_per_frame"]["render"] > 0


def test_other_window_schedule_differs_only_in_the_motion_sampling(th, avatar, speech):
    """Window 8 streaming vs the offline default (80): features, audio, frame count and timing are
    schedule-free; the motion is another draw from the model (the schedule cuts the seeded noise
    differently), so it differs from offline by no more than a different seed does."""
    from talkinghead.motion.controls import Controls

    controls = Controls(blink_rate=0)
    feats = th.features(speech)
    sample = lambda seed, window: apply_controls(  # noqa: E731
        th.motion_windower(seed, window=window).generate(feats).numpy(), controls, FPS, seed=seed)
    offline80, offline80_seed1 = sample(0, 80), sample(0 + 1, 80)
    with StreamSession(th, avatar, seed=0, window=8, blink_rate=0, output_size="crop") as session:
        session.push(speech)
        session.finish()
        frames = list(session)
    streamed = np.stack([f.motion for f in frames])
    np.testing.assert_allclose(streamed, sample(0, 8), atol=1e-4)  # the same schedule offline: equal
    assert streamed.shape == offline80.shape
    schedule_gap = np.abs(streamed - offline80).mean()
    seed_gap = np.abs(offline80_seed1 - offline80).mean()
    assert 0 < schedule_gap <= 1.25 * seed_gap, (schedule_gap, seed_gap)


def test_idles_through_a_3s_underrun_and_recovers(th, avatar, speech):
    """1 s speech, 3 s of silence inserted by the session (nothing pushed), 1 s speech."""
    with StreamSession(th, avatar, seed=3, blink_rate=60, output_size="crop") as session:
        session.push(speech[:SAMPLE_RATE])
        assert session.pad_silence(4.0) == 3 * SAMPLE_RATE
        assert session.pad_silence(3.5) == 0  # already there
        session.push(speech[SAMPLE_RATE:])
        session.finish()
        frames = list(session)
    assert [f.index for f in frames] == list(range(5 * FPS))  # nothing dropped, nothing frozen
    inserted = np.array([f.inserted for f in frames])
    assert not inserted[:FPS].any() and inserted[FPS:4 * FPS].all() and not inserted[4 * FPS:].any()
    motion = np.stack([f.motion for f in frames])
    idle = motion[FPS + IDLE_RAMP_FRAMES:4 * FPS]
    assert np.abs(idle[:, MOUTH]).max() == 0, "the mouth rests closed while idling"
    assert np.abs(motion[:FPS, MOUTH]).max() > 0.05 and np.abs(motion[4 * FPS:, MOUTH]).max() > 0.05
    assert idle[:, BLINK].max() > 0.9, "blinks go on while idling"
    assert np.ptp(idle[:, :3], axis=0).max() > 0, "the head keeps moving while idling"
    crops = np.stack([f.image for f in frames[FPS:4 * FPS]]).astype(np.int16)
    assert np.abs(np.diff(crops, axis=0)).mean(axis=(1, 2, 3)).min() > 0, "no two idle frames are identical"
    back = np.concatenate([f.audio for f in frames[4 * FPS:]])
    np.testing.assert_array_equal(back, speech[SAMPLE_RATE:])  # speech resumes where it was pushed


def test_end_of_speech_emits_the_tail_and_keeps_the_stream_open(th, avatar, speech):
    with StreamSession(th, avatar, seed=1, window=8, output_size="crop") as session:
        session.push(speech[:int(0.5 * SAMPLE_RATE)])  # 12.5 frames: not a whole window, no look-ahead
        session.end_of_speech()
        got = [session.get(timeout=60) for _ in range(16)]  # 2 windows, all computable now
        assert [f.index for f in got] == list(range(16))
        assert not any(f.inserted for f in got[:13]) and all(f.inserted for f in got[13:])
        assert session.poll() is None and not session.ended  # open: waiting for more audio
        session.push(speech[:SAMPLE_RATE])
        session.end_of_speech()
        assert session.get(timeout=60).index == 16 and not session.ended


def test_realtime_stream_paces_and_fills_an_underrun(th, avatar, speech):
    """A consumer at 25 fps keeps getting frames while nothing is pushed (idle frames)."""
    with StreamSession(th, avatar, seed=2, output_size="crop") as session:
        realtime = RealtimeStream(session, margin_s=0.3)
        session.push(speech[:int(0.4 * SAMPLE_RATE)])  # then the producer goes quiet
        start = time.monotonic()
        frames = [realtime.next_frame() for _ in range(40)]  # 1.6 s of video
        elapsed = time.monotonic() - start
    assert [f.index for f in frames] == list(range(40))
    assert any(f.inserted for f in frames) and not frames[0].inserted
    assert elapsed >= 39 / FPS, "frames must not come faster than real time"
    assert realtime.frames_delivered == 40


def test_inputs_are_validated_and_close_frees_everything(th, avatar, speech):
    with pytest.raises(InvalidControlError, match="known controls"):
        StreamSession(th, avatar, smile=1)
    with pytest.raises(InvalidControlError):
        StreamSession(th, avatar, window=0)
    session = StreamSession(th, avatar, output_size="crop")
    with pytest.raises(InvalidAudioError, match="sample rate"):
        session.push(speech[:100], sr=0)
    with pytest.raises(InvalidAudioError, match="NaN"):
        session.push(np.full(100, np.nan, np.float32))
    with pytest.raises(InvalidAudioError, match="shape"):
        session.push(np.zeros((2, 2, 2), np.float32))
    session.push(speech[:SAMPLE_RATE])
    threads = list(session._threads)
    session.close()
    session.close()  # idempotent
    assert not any(t.is_alive() for t in threads)
    assert session.closed and session.get() is None
    assert session._windower is None and session._features is None and session._timeline is None
    with pytest.raises(TalkingHeadError, match="closed"):
        session.push(speech[:100])


def test_audio_input_matches_one_shot_resampling_and_survives_rate_changes():
    import soxr

    rng = np.random.default_rng(0)
    signal = rng.normal(0, 0.1, 44_100).astype(np.float32)
    converter = AudioInput()
    out, i = [], 0
    while i < len(signal):
        n = int(rng.integers(1, 3000))
        out.append(converter.convert(signal[i:i + n], 44_100))
        i += n
    out.append(converter.flush())
    np.testing.assert_allclose(np.concatenate(out), soxr.resample(signal, 44_100, SAMPLE_RATE, quality="HQ"), atol=1e-6)
    mixed = [converter.convert(signal[:4800], 48_000), converter.convert(signal[:1600], 16_000),
             converter.convert(signal[:800], 8_000), converter.flush()]
    assert abs(sum(len(m) for m in mixed) - (1600 + 1600 + 1600)) <= 2  # a rate change loses no samples


def test_cli_stream_virtual_camera_error_and_file_output(tmp_path, th, astronaut, speech, capsys):
    import av
    import soundfile as sf
    from PIL import Image

    from talkinghead.cli.main import main

    portrait, audio = tmp_path / "p.png", tmp_path / "a.wav"
    Image.fromarray(astronaut).save(portrait)
    sf.write(audio, speech[:SAMPLE_RATE], SAMPLE_RATE)
    # no v4l2loopback / OBS device here: a clear one-line error, exit status 2, before any model loads
    assert main(["stream", "--portrait", str(portrait), "--audio", str(audio), "--virtual-camera"]) == 2
    err = capsys.readouterr().err
    assert "virtual camera" in err and "Traceback" not in err
    assert "v4l2loopback" in err or "pip install" in err  # what to install: the OS device, or pyvirtualcam
    out = tmp_path / "s.mp4"
    assert main(["stream", "--portrait", str(portrait), "--audio", str(audio), "--out", str(out),
                 "--model", th.config.motion_model, "--steps", "2", "--output-size", "crop"]) == 0
    assert '"frames": 25' in capsys.readouterr().out
    with av.open(str(out)) as c:
        assert c.streams.video[0].frames == FPS and len(c.streams.audio) == 1
    assert main(["stream", "--portrait", str(portrait), "--audio", str(audio)]) == 2  # no output chosen
    assert "choose an output" in capsys.readouterr().err


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


@pytest.mark.slow
def test_long_stream_keeps_memory_bounded(th, avatar, speech):
    """Minutes of audio pushed faster than real time by a producer thread, consumed as fast as the
    session renders: RSS after warm-up must not keep growing."""
    minutes = float(os.environ.get("TALKINGHEAD_LONG_STREAM_MINUTES", "2"))  # 60 for the one-hour run
    total_frames = int(minutes * 60 * FPS)
    chunk = speech[:int(0.2 * SAMPLE_RATE)]
    session = StreamSession(th, avatar, seed=0, output_size="crop", max_pending_s=5.0)

    def produce():
        for _ in range(total_frames // 5):  # 0.2 s chunks of speech and silence, alternating
            session.push(chunk if _ % 3 else np.zeros_like(chunk))
        session.finish()

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    rss, count, start = [], 0, time.monotonic()
    for frame in session:
        count += 1
        if count % (15 * FPS) == 0:
            rss.append(_rss_mb())
    producer.join()
    elapsed = time.monotonic() - start
    stats = session.stats()
    session.close()
    assert count == total_frames
    growth = max(rss[2:]) - rss[1]  # after the first 30 s (allocator warm-up)
    print(f"\nlong stream: {minutes} min audio in {elapsed:.0f} s ({count / elapsed:.1f} fps); RSS every 15 s "
          f"{[round(r) for r in rss]} MB (max growth after 30 s {growth:.1f} MB); {stats}")
    assert growth < 50, f"RSS grew by {growth:.0f} MB over {minutes} min of stream"
