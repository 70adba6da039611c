"""Hypothesis properties: the audio loader turns any array into finite 16 kHz mono float32 of the right
length or refuses it with InvalidAudioError; the streaming chunker gives the same frames whatever the
chunk sizes, sample rate, channels and sample format of the pushes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from talkinghead.audio.io import MAX_LEVEL, MIN_DURATION_S, load_audio
from talkinghead.diffusion.sampler import SamplerConfig
from talkinghead.errors import InvalidAudioError
from talkinghead.pipeline import PipelineConfig, TalkingHead
from talkinghead.stream import StreamSession
from talkinghead.stream.audio_input import AudioInput
from talkinghead.timing import SAMPLE_RATE, SAMPLES_PER_FRAME

RATES = (8_000, 11_025, 16_000, 22_050, 44_100, 48_000, 96_000)
any_rate = st.one_of(st.sampled_from(RATES), st.integers(4_000, 96_000))
DTYPES = ("float32", "float64", "int16", "int32", "uint8")


# -- the audio loader --------------------------------------------------------------------------------
def _make_array(rng, n: int, channels: int, layout: str, dtype: str, level: float) -> np.ndarray:
    """n samples x channels of noise at ``level`` (floats; integers use their full range), laid out as asked."""
    data = rng.uniform(-1, 1, (n, channels)) * level
    if dtype.startswith("int") or dtype == "uint8":
        info = np.iinfo(dtype)
        data = (rng.uniform(-1, 1, (n, channels)) * (info.max - info.min) / 2 + (info.max + info.min) / 2)
        data = np.clip(np.rint(data), info.min, info.max)
    data = data.astype(dtype)
    if layout == "1d":
        return data[:, 0]
    return np.ascontiguousarray(data.T) if layout == "channels_first" else data


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), seconds=st.floats(0, 1.0), sr=any_rate, channels=st.integers(1, 6),
       layout=st.sampled_from(("1d", "channels_last", "channels_first")), dtype=st.sampled_from(DTYPES),
       level=st.sampled_from((0.0, 1e-6, 0.5, 1.0, 4.0, 1e4)), poison=st.sampled_from((None, np.nan, np.inf)))
def test_load_audio_gives_16k_mono_float32_of_the_right_length_or_a_clear_error(
        seed, seconds, sr, channels, layout, dtype, level, poison):
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    if layout == "1d":
        channels = 1
    array = _make_array(rng, n, channels, layout, dtype, level)
    floats = dtype.startswith("float")
    if poison is not None and floats and n:
        array.flat[rng.integers(0, array.size)] = poison
    refused = (n == 0 or n / sr < MIN_DURATION_S or (floats and poison is not None)
               or (floats and level > MAX_LEVEL) or (layout != "1d" and n < channels))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # silent input warns
        try:
            out = load_audio(array, sr)
        except InvalidAudioError as e:
            assert refused, f"refused a valid input: {e}"
            assert str(e) and "\n" not in str(e)
            return
    assert not refused, "accepted an input that must be refused"
    assert out.dtype == np.float32 and out.ndim == 1 and out.flags.c_contiguous
    assert np.isfinite(out).all()
    assert abs(len(out) - n * SAMPLE_RATE / sr) <= 1
    if not floats:  # integer PCM is scaled to full scale (resampling full-scale white noise overshoots ~2x)
        assert np.abs(out).max() <= 4.0


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), sr=any_rate, sizes=st.lists(st.integers(1, 5000), min_size=1, max_size=12))
def test_audio_input_chunking_gives_the_one_push_samples(seed, sr, sizes):
    """The session's input stage: any chunking at any rate yields the samples of one push (+ flush)."""
    signal = np.random.default_rng(seed).normal(0, 0.1, int(0.5 * sr)).astype(np.float32)
    whole = AudioInput()
    expected = np.concatenate([whole.convert(signal, sr), whole.flush()])
    chunked, out, i, k = AudioInput(), [], 0, 0
    while i < len(signal):
        n = sizes[k % len(sizes)]
        out.append(chunked.convert(signal[i:i + n], sr))
        i, k = i + n, k + 1
    out.append(chunked.flush())
    got = np.concatenate(out)
    assert len(got) == len(expected)
    np.testing.assert_allclose(got, expected, atol=1e-5)


# -- the streaming chunker ---------------------------------------------------------------------------
class MotionImageRenderer:
    """A tiny deterministic stand-in for the renderer in chunking properties (the session only calls
    ``render``): each frame is its motion quantised into a (1, 37, 3) image, so equal frames mean equal
    motion (the real renderer is tested in test_render and test_stream)."""

    def render(self, avatar, motion, paste: bool = True, relative_pose: bool = True) -> np.ndarray:
        values = np.asarray(motion, np.float32)  # (T, 37)
        pixels = np.clip(np.rint(values * 40.0 + 128.0), 0, 255).astype(np.uint8)
        return np.repeat(pixels[:, None, :, None], 3, axis=3)  # (T, 1, 37, 3)


@pytest.fixture(scope="module")
def stream_setup(tiny_motion_model, astronaut):
    torch.set_num_threads(1)
    th = TalkingHead(PipelineConfig(motion_model=tiny_motion_model, sampler=SamplerConfig(steps=2)))
    avatar = th.register(astronaut)
    th.renderer = MotionImageRenderer()
    from talkinghead.demo import demo_speech

    speech = load_audio(str(demo_speech()))[: int(0.8 * SAMPLE_RATE)]
    return th, avatar, speech


def _stream(th, avatar, chunks, sr, window):
    with StreamSession(th, avatar, seed=7, window=window, blink_rate=30) as session:
        for chunk in chunks:
            session.push(chunk, sr)
        session.finish()
        return list(session)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sr=any_rate, sizes=st.lists(st.integers(1, 6000), min_size=1, max_size=10), window=st.sampled_from((2, 5, 8)),
       stereo=st.booleans(), pcm16=st.booleans())
def test_stream_frames_do_not_depend_on_how_the_audio_is_chunked(stream_setup, sr, sizes, window, stereo, pcm16):
    import soxr

    th, avatar, speech = stream_setup
    source = soxr.resample(speech, SAMPLE_RATE, sr).astype(np.float32) if sr != SAMPLE_RATE else speech
    if stereo:
        source = np.stack([source, 0.5 * source], axis=1)
    if pcm16:
        source = (source * 32767).astype(np.int16)
    chunks, i, k = [], 0, 0
    while i < len(source):
        chunks.append(source[i:i + sizes[k % len(sizes)]])
        i, k = i + sizes[k % len(sizes)], k + 1
    one = _stream(th, avatar, [source], sr, window)
    many = _stream(th, avatar, chunks, sr, window)
    samples16 = round(len(source) * SAMPLE_RATE / sr)  # what the resampler makes of it (+-1)
    assert len(many) == len(one) and abs(len(one) - samples16 / SAMPLES_PER_FRAME) <= 1
    assert [f.index for f in many] == list(range(len(one)))
    np.testing.assert_allclose(np.stack([f.audio for f in many]), np.stack([f.audio for f in one]), atol=1e-5)
    # features differ by the encoder's batch-shape rounding (~1e-6) only
    np.testing.assert_allclose(np.stack([f.motion for f in many]), np.stack([f.motion for f in one]), atol=1e-4)
    differs = np.mean(np.stack([f.image for f in many]) != np.stack([f.image for f in one]))
    assert differs < 0.01
    assert not any(f.inserted for f in many)
