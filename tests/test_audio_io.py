"""load_audio: formats, channel layouts, sample rates and every kind of bad input, as documented."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from talkinghead.audio.io import MIN_DURATION_S, load_audio
from talkinghead.errors import InvalidAudioError

from conftest import fixture_path

TONE_HZ = 440.0


def tone(seconds: float, sr: int, channels: int = 1, amplitude: float = 0.5) -> np.ndarray:
    """A 440 Hz sine, ``(n, channels)`` float32 (same signal in every channel)."""
    t = np.arange(int(round(seconds * sr))) / sr
    mono = (amplitude * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.float32)
    return np.repeat(mono[:, None], channels, axis=1)


def peak_hz(samples: np.ndarray, sr: int = 16_000) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / sr)[spectrum.argmax()])


def write_av(path, samples: np.ndarray, sr: int, codec: str, with_video: bool = False) -> None:
    """Encode mono float samples with PyAV (m4a/aac, or an mp4 with a video track too)."""
    import av

    with av.open(str(path), "w") as container:
        if with_video:
            video = container.add_stream("mpeg4", rate=25)
            video.width, video.height, video.pix_fmt = 64, 64, "yuv420p"
        audio = container.add_stream(codec, rate=sr)
        audio.layout = "mono"
        step = 1024
        for i in range(0, len(samples), step):
            frame = av.AudioFrame.from_ndarray(samples[None, i:i + step].astype(np.float32), format="fltp",
                                               layout="mono")
            frame.sample_rate = sr
            container.mux(audio.encode(frame))
        container.mux(audio.encode(None))
        if with_video:
            for _ in range(int(len(samples) / sr * 25)):
                image = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 128, np.uint8), format="rgb24")
                container.mux(video.encode(image))
            container.mux(video.encode(None))


@pytest.mark.parametrize("fmt", ["WAV", "FLAC", "OGG", "MP3"])
def test_soundfile_formats_become_16k_mono(tmp_path, fmt):
    path = tmp_path / f"tone.{fmt.lower()}"
    sf.write(path, tone(1.0, 44_100, channels=2), 44_100, format=fmt)
    audio = load_audio(path)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(len(audio) - 16_000) <= 1200  # mp3/ogg add encoder padding
    assert abs(peak_hz(audio) - TONE_HZ) < 3


def test_m4a_and_video_audio_track(tmp_path):
    samples = tone(1.0, 44_100)[:, 0]
    m4a, mp4 = tmp_path / "tone.m4a", tmp_path / "clip.mp4"
    write_av(m4a, samples, 44_100, "aac")
    write_av(mp4, samples, 44_100, "aac", with_video=True)
    for path in (m4a, mp4):
        audio = load_audio(path)
        assert abs(len(audio) - 16_000) <= 1600
        assert abs(peak_hz(audio) - TONE_HZ) < 3


def test_video_without_audio_is_an_error(tmp_path):
    import av

    path = tmp_path / "silent_video.mp4"
    with av.open(str(path), "w") as container:
        video = container.add_stream("mpeg4", rate=25)
        video.width, video.height, video.pix_fmt = 64, 64, "yuv420p"
        for _ in range(5):
            container.mux(video.encode(av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")))
        container.mux(video.encode(None))
    with pytest.raises(InvalidAudioError, match="no audio track"):
        load_audio(path)


def test_empty_file(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(InvalidAudioError, match="empty"):
        load_audio(tmp_path / "empty.wav")


def test_wav_without_samples(tmp_path):
    sf.write(tmp_path / "none.wav", np.zeros((0, 1), np.float32), 16_000)
    with pytest.raises(InvalidAudioError, match="no audio samples"):
        load_audio(tmp_path / "none.wav")


def test_10ms_is_too_short(tmp_path):
    sf.write(tmp_path / "short.wav", tone(0.010, 16_000), 16_000)
    with pytest.raises(InvalidAudioError, match="too short"):
        load_audio(tmp_path / "short.wav")
    assert len(load_audio(tone(MIN_DURATION_S, 16_000), sr=16_000)) == 320  # the minimum itself is fine


def test_nan_samples(tmp_path):
    samples = tone(0.5, 16_000)
    samples[100] = np.nan
    sf.write(tmp_path / "nan.wav", samples, 16_000, subtype="FLOAT")
    with pytest.raises(InvalidAudioError, match="NaN"):
        load_audio(tmp_path / "nan.wav")
    samples[100] = np.inf
    with pytest.raises(InvalidAudioError, match="NaN or infinite"):
        load_audio(samples, sr=16_000)


def test_corrupt_header_and_non_audio(tmp_path):
    sf.write(tmp_path / "ok.wav", tone(0.5, 16_000), 16_000)
    data = bytearray((tmp_path / "ok.wav").read_bytes())
    data[:44] = b"\x13" * 44
    (tmp_path / "corrupt.wav").write_bytes(bytes(data))
    (tmp_path / "notes.wav").write_text("this is text, not audio\n" * 20)
    for name in ("corrupt.wav", "notes.wav"):
        with pytest.raises(InvalidAudioError):
            load_audio(tmp_path / name)
    with pytest.raises(InvalidAudioError, match="not found"):
        load_audio(tmp_path / "missing.wav")


def test_8khz_is_upsampled(tmp_path):
    sf.write(tmp_path / "phone.wav", tone(1.0, 8_000), 8_000)
    audio = load_audio(tmp_path / "phone.wav")
    assert len(audio) == 16_000
    assert abs(peak_hz(audio) - TONE_HZ) < 3


def test_48khz_stereo_is_averaged(tmp_path):
    stereo = tone(1.0, 48_000, channels=2)
    stereo[:, 1] = 0.0  # right channel silent: the mono mix has half the amplitude
    sf.write(tmp_path / "stereo.wav", stereo, 48_000)
    audio = load_audio(tmp_path / "stereo.wav")
    assert len(audio) == 16_000
    assert abs(np.abs(audio[1000:-1000]).max() - 0.25) < 0.01


def test_5_1_surround_is_averaged(tmp_path):
    surround = tone(1.0, 48_000, channels=6)
    surround[:, 3] = 0.0  # LFE silent
    sf.write(tmp_path / "surround.wav", surround, 48_000)
    audio = load_audio(tmp_path / "surround.wav")
    assert len(audio) == 16_000
    assert abs(np.abs(audio[1000:-1000]).max() - 0.5 * 5 / 6) < 0.01


def test_silence_warns_but_loads():
    with pytest.warns(UserWarning, match="silent"):
        audio = load_audio(np.zeros(16_000, np.float32), sr=16_000)
    assert len(audio) == 16_000 and not audio.any()


def test_arrays_need_sr_and_accept_int16_and_channels_first():
    samples = tone(0.5, 16_000)[:, 0]
    with pytest.raises(InvalidAudioError, match="sr="):
        load_audio(samples)
    as_int16 = (samples * 32767).astype(np.int16)
    np.testing.assert_allclose(load_audio(as_int16, sr=16_000), samples, atol=1e-4)
    channels_first = np.stack([samples, samples])  # (2, n)
    np.testing.assert_allclose(load_audio(channels_first, sr=16_000), samples, atol=1e-6)


@pytest.mark.fixtures
def test_real_broadcast_flac_44k_stereo():
    audio = load_audio(fixture_path("speech", "en_male_broadcast_1961.flac"))
    assert abs(len(audio) / 16_000 - 11.0) < 0.1
