"""The one windowing function: alignment, frame count, look-ahead, and streaming == offline."""

from __future__ import annotations

import math
import subprocess

import numpy as np
import pytest
import torch

from talkinghead.audio import (StreamingFeatures, WindowConfig, encode_mel, feature_dim, load_audio,
                               load_whisper_encoder, whisper_features)
from talkinghead.audio.features import LOOKAHEAD_TAIL_SAMPLES
from talkinghead.errors import TalkingHeadError
from talkinghead.timing import SAMPLES_PER_FRAME

SENTENCE = "Please call me tomorrow morning when you arrive at the station."


@pytest.fixture(scope="module")
def tiny_en():
    return load_whisper_encoder("tiny.en")


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> np.ndarray:
    """About 3.5 s of espeak-ng speech, 16 kHz mono (falls back to a synthetic signal without espeak-ng)."""
    path = tmp_path_factory.mktemp("speech") / "sentence.wav"
    try:
        subprocess.run(["espeak-ng", "-w", str(path), SENTENCE], check=True, capture_output=True)
        return load_audio(path)
    except FileNotFoundError:
        rng = np.random.default_rng(0)
        t = np.arange(56_000) / 16_000
        return (0.3 * np.sin(2 * np.pi * 150 * t) * np.clip(np.sin(2 * np.pi * 3 * t), 0, None)
                + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def test_short_window_forward_matches_transformers_at_full_length(tiny_en):
    mel = torch.randn(1, 80, 3000)
    with torch.inference_mode():
        torch.testing.assert_close(encode_mel(tiny_en, mel), tiny_en(mel).last_hidden_state, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("num_samples", [320, 639, 640, 641, 16_000, 16_001, 23_456])
def test_frame_count_is_ceil_duration_times_25(tiny_en, num_samples):
    audio = np.random.default_rng(num_samples).standard_normal(num_samples).astype(np.float32) * 0.1
    features = whisper_features(audio, tiny_en)
    assert features.shape == (math.ceil(num_samples / 16_000 * 25), feature_dim(tiny_en))
    assert features.shape[1] == 768 and torch.isfinite(features).all()


def test_each_frame_sees_exactly_its_documented_look_ahead(tiny_en, speech):
    """Frame i's features change with audio inside its window and never with audio after it."""
    config = WindowConfig()
    frame = 20  # first frame of block 10 when B = 2
    assert frame % config.block_frames == 0
    window_end = (frame + config.block_frames + config.lookahead_frames) * SAMPLES_PER_FRAME + LOOKAHEAD_TAIL_SAMPLES
    reference = whisper_features(speech, tiny_en, config)[frame]
    later = speech.copy()
    later[window_end:] = 0.5 * np.random.default_rng(1).standard_normal(len(later) - window_end)
    torch.testing.assert_close(whisper_features(later, tiny_en, config)[frame], reference, atol=1e-5, rtol=0)
    inside = speech.copy()
    inside[window_end - 100:window_end] += 0.5
    assert (whisper_features(inside, tiny_en, config)[frame] - reference).abs().max() > 1e-3
    window_start = (frame - config.left_context_frames) * SAMPLES_PER_FRAME - 40
    earlier = speech.copy()
    earlier[:window_start] = 0.5
    torch.testing.assert_close(whisper_features(earlier, tiny_en, config)[frame], reference, atol=1e-5, rtol=0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_streaming_equals_offline_for_random_chunks(tiny_en, speech, seed):
    offline = whisper_features(speech, tiny_en)
    rng = np.random.default_rng(seed)
    stream, pieces, start = StreamingFeatures(tiny_en), [], 0
    while start < len(speech):
        size = int(rng.integers(160, 8001))  # 10-500 ms
        pieces.append(stream.push(speech[start:start + size]))
        start += size
    pieces.append(stream.finish())
    streamed = torch.cat(pieces)
    assert streamed.shape == offline.shape == (math.ceil(len(speech) / 640), 768)
    assert (streamed - offline).abs().max() <= 1e-4
    assert stream.finish().shape[0] == 0  # a second finish adds nothing


def test_streaming_emits_a_block_as_soon_as_its_window_is_complete(tiny_en, speech):
    config = WindowConfig()
    needed = int(config.first_frame_audio_ms() * 16)  # samples before the first block is computable
    stream = StreamingFeatures(tiny_en, config)
    assert stream.push(speech[:needed - 1]).shape[0] == 0
    assert stream.push(speech[needed - 1:needed]).shape[0] == config.block_frames


def test_streaming_resamples_other_rates_and_mixes_channels(tiny_en, speech):
    import soxr

    audio_48k = soxr.resample(speech, 16_000, 48_000).astype(np.float32)
    stereo = np.stack([audio_48k, audio_48k], axis=1)
    offline = whisper_features(load_audio(stereo, sr=48_000), tiny_en)
    stream = StreamingFeatures(tiny_en, sample_rate=48_000)
    pieces = [stream.push(stereo[i:i + 7_000]) for i in range(0, len(stereo), 7_000)] + [stream.finish()]
    streamed = torch.cat(pieces)
    assert streamed.shape == offline.shape
    assert (streamed - offline).abs().max() <= 1e-4


def test_streaming_rejects_bad_chunks_and_push_after_finish(tiny_en):
    stream = StreamingFeatures(tiny_en)
    with pytest.raises(TalkingHeadError, match="NaN"):
        stream.push(np.array([0.0, np.nan], np.float32))
    stream.finish()
    with pytest.raises(TalkingHeadError, match="after finish"):
        stream.push(np.zeros(100, np.float32))


def test_window_config_validation(tiny_en):
    with pytest.raises(TalkingHeadError, match="block_frames >= 1"):
        WindowConfig(block_frames=0)
    with pytest.raises(TalkingHeadError, match="encoder positions"):
        whisper_features(np.zeros(16_000, np.float32), tiny_en, WindowConfig(left_context_frames=800))
    assert WindowConfig().first_frame_audio_ms() == pytest.approx(40 * 4 + 12.5)


def test_compiled_window_encoder_runs_the_same_windowing():
    """A compiled encoder (encode_windows/feature_dim/window_config, as the ONNX graph has) gets the
    very windows of the one windowing function, offline and streamed, and is refused for another window."""
    import numpy as np
    import pytest
    import torch

    from talkinghead.audio.features import WindowConfig, whisper_features
    from talkinghead.audio.streaming import StreamingFeatures
    from talkinghead.errors import TalkingHeadError

    config = WindowConfig()

    class Compiled:  # each frame's feature = the mean of its window's samples, repeated
        window_config, feature_dim = config, 4

        def encode_windows(self, windows):
            means = windows.mean(dim=1, keepdim=True)  # (K, 1)
            return means[:, None, :].expand(-1, config.block_frames, 4).clone()  # (K, B, 4)

    audio = np.random.default_rng(0).standard_normal(16_000).astype(np.float32)
    offline = whisper_features(audio, Compiled(), config)
    assert offline.shape == (25, 4)
    stream = StreamingFeatures(Compiled(), config)
    streamed = torch.cat([stream.push(audio[i:i + 1234]) for i in range(0, len(audio), 1234)] + [stream.finish()])
    torch.testing.assert_close(streamed, offline)
    with pytest.raises(TalkingHeadError, match="exported for"):
        whisper_features(audio, Compiled(), WindowConfig(block_frames=4))
