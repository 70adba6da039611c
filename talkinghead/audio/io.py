"""Reading speech from files or arrays into the one format every stage uses: 16 kHz mono float32.

Accepted inputs
---------------
* Files soundfile (libsndfile) decodes: wav, flac, ogg/vorbis, opus, mp3, aiff, ...
* Anything else PyAV (FFmpeg) decodes: m4a/aac, the audio track of a video (mp4, mkv, webm, mov).
* Arrays (numpy or torch) with their sample rate ``sr``: ``(samples,)``, or 2-D with the shorter
  axis taken as channels (``(samples, channels)`` as soundfile returns, or ``(channels, samples)``).
  Integer arrays are scaled by their type's full range (int16 / 32768, ...).

What happens to them
--------------------
* Channels are averaged (stereo, 5.1, ... -> mono; the LFE channel counts like the others).
* The sample rate is converted to 16 kHz with soxr ("HQ"), whatever the source rate (8 kHz phone
  audio is upsampled and keeps its narrow band; 44.1/48 kHz is downsampled).
* Levels are left as they are (no normalisation): Whisper's front-end is level-aware.

Errors (:class:`~talkinghead.errors.InvalidAudioError`) and warnings
-------------------------------------------------------------------
* missing file, file that no decoder reads (corrupt header, text, image), video without audio;
* no samples at all, or shorter than :data:`MIN_DURATION_S` (20 ms, half a video frame: too short
  to hold any phoneme);
* NaN or infinite samples (never silently repaired: they mean an upstream bug);
* samples beyond :data:`MAX_LEVEL` (+40 dBFS): not a recording but mis-scaled data, typically integer
  PCM stored as float (divide by 32768), which no resampler or encoder would treat sensibly;
* all-silent input (peak below :data:`SILENCE_PEAK`, -80 dBFS) is *not* an error: it warns with a
  ``UserWarning`` and returns the samples, since a silent clip still makes a valid idle video.
* longer than ``max_seconds`` (the pipeline passes :attr:`Limits.max_audio_seconds
  <talkinghead.limits.Limits>`): :class:`~talkinghead.errors.InputLimitError`, from the file's header
  before anything is decoded when the header knows the length, else as soon as decoding passes it.

Memory: files are decoded, downmixed and resampled in blocks of :data:`DECODE_BLOCK_FRAMES`, so
loading an hour of 48 kHz stereo holds the 16 kHz mono result (230 MB per hour) plus one block,
never the decoded source.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from ..errors import InvalidAudioError
from ..limits import Limits
from ..timing import SAMPLE_RATE, SAMPLES_PER_FRAME

MIN_SAMPLES = SAMPLES_PER_FRAME // 2  # 320 samples = 20 ms at 16 kHz (half a 40 ms video frame)
MIN_DURATION_S = MIN_SAMPLES / SAMPLE_RATE  # 0.02 s
SILENCE_PEAK = 1e-4  # -80 dBFS: below this everywhere, the clip is treated as silent
MAX_LEVEL = 100.0  # +40 dBFS: float samples beyond this are mis-scaled data, not audio (full scale is 1)
RESAMPLE_QUALITY = "HQ"  # soxr quality preset (steep, linear phase)
DECODE_BLOCK_FRAMES = 1 << 18  # source frames decoded at a time: 5.5 s of 48 kHz, 6 MB as float32 stereo


def load_audio(path_or_array, sr: int | None = None, max_seconds: float | None = None) -> np.ndarray:
    """Audio as 16 kHz mono float32 samples, shape ``(num_samples,)``.

    ``path_or_array`` is a file path (``sr`` is ignored: files carry their rate) or an array whose
    sample rate ``sr`` must be given. Raises :class:`InvalidAudioError` as described in the module
    docstring, :class:`~talkinghead.errors.InputLimitError` beyond ``max_seconds`` (None: no limit);
    warns (``UserWarning``) on all-silent input.
    """
    if isinstance(path_or_array, (str, os.PathLike)):
        return _load_file(Path(path_or_array), max_seconds)
    if sr is None:
        raise InvalidAudioError("audio given as an array needs its sample rate: load_audio(array, sr=...)")
    samples = _array_channels_last(path_or_array)
    if int(sr) > 0:
        _check_seconds(samples.shape[0] / int(sr), max_seconds)
    return _to_model_format(samples, int(sr), "audio array")


def resample(samples: np.ndarray, source_sr: int, target_sr: int = SAMPLE_RATE) -> np.ndarray:
    """Resample ``(n,)`` or ``(n, channels)`` float32 audio with soxr; identity when the rates match."""
    if source_sr == target_sr:
        return samples
    import soxr

    return soxr.resample(samples, source_sr, target_sr, quality=RESAMPLE_QUALITY).astype(np.float32, copy=False)


def _to_model_format(samples: np.ndarray, source_sr: int, what: str) -> np.ndarray:
    """Check, downmix and resample ``(n, channels)`` float32 samples to 16 kHz mono."""
    if source_sr <= 0:
        raise InvalidAudioError(f"{what}: sample rate must be a positive integer, got {source_sr}")
    if samples.size == 0:
        raise InvalidAudioError(f"{what}: contains no audio samples (empty); give a clip of speech")
    _check_levels(samples, what)
    duration = samples.shape[0] / source_sr
    if duration < MIN_DURATION_S:
        raise InvalidAudioError(
            f"{what}: {duration * 1e3:.1f} ms is too short (minimum {MIN_DURATION_S * 1e3:.0f} ms of audio)")
    mono = samples.mean(axis=1, dtype=np.float64).astype(np.float32)  # (n,)
    mono = np.ascontiguousarray(resample(mono, source_sr))
    _warn_if_silent(mono, what)
    return mono


def _float_samples(samples, what: str) -> np.ndarray:
    """Numpy or torch samples, integer PCM or float -> a float32 numpy array (same shape)."""
    if hasattr(samples, "detach"):  # torch tensor
        samples = samples.detach().cpu().numpy()
    samples = np.asarray(samples)
    if samples.dtype.kind in "iu":
        return pcm_to_float(samples)
    if samples.dtype.kind != "f":
        raise InvalidAudioError(f"{what} must hold numbers, got dtype {samples.dtype}")
    return samples.astype(np.float32, copy=False)


def _array_channels_last(array) -> np.ndarray:
    """Any numpy/torch array -> float32 ``(n, channels)``."""
    array = _float_samples(array, "audio array")
    if array.ndim == 1:
        array = array[:, None]
    elif array.ndim == 2:
        if array.shape[0] < array.shape[1]:  # shorter axis = channels
            array = array.T
    else:
        raise InvalidAudioError(f"audio array must be 1-D or 2-D (samples, channels), got shape {array.shape}")
    return np.ascontiguousarray(array, dtype=np.float32)


def pcm_to_float(data: np.ndarray) -> np.ndarray:
    """Integer PCM -> float32 in [-1, 1): signed by ``-min``, unsigned centred on mid-range first."""
    info = np.iinfo(data.dtype)
    half_range = (float(info.max) - float(info.min) + 1.0) / 2.0  # 32768 for int16, 128 for uint8
    offset = 0.0 if data.dtype.kind == "i" else half_range
    return ((data.astype(np.float64) - offset) / half_range).astype(np.float32)


def _check_levels(samples: np.ndarray, what: str) -> None:
    """Finite samples within :data:`MAX_LEVEL`, else InvalidAudioError saying what to fix."""
    if not np.isfinite(samples).all():
        raise InvalidAudioError(f"{what}: contains NaN or infinite samples; fix the audio source")
    peak = float(np.abs(samples).max(initial=0.0))
    if peak > MAX_LEVEL:
        raise InvalidAudioError(f"{what}: samples reach {peak:.3g}, far beyond full scale (1.0); scale the audio "
                                "to [-1, 1] (integer PCM stored as float: divide by 32768)")


def _check_seconds(seconds: float, max_seconds: float | None) -> None:
    if max_seconds is not None:
        Limits(max_audio_seconds=max_seconds).check_audio_seconds(seconds)


def _load_file(path: Path, max_seconds: float | None) -> np.ndarray:
    """Decode a file block by block (soundfile first, then PyAV) straight into 16 kHz mono."""
    if not path.is_file():
        raise InvalidAudioError(f"audio file not found: {path}")
    if path.stat().st_size == 0:
        raise InvalidAudioError(f"{path}: file is empty (0 bytes); give a clip of speech")
    import soundfile

    try:
        sound = soundfile.SoundFile(str(path))
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError):
        return _load_with_pyav(path, max_seconds)  # not a format libsndfile knows: FFmpeg's decoders
    with sound:
        if sound.samplerate <= 0:
            raise InvalidAudioError(f"{path}: sample rate must be a positive integer, got {sound.samplerate}")
        _check_seconds(sound.frames / sound.samplerate, max_seconds)  # the header's length: nothing decoded yet
        out = _MonoDecoder(str(path), max_seconds, expected_s=sound.frames / sound.samplerate)
        try:
            while len(block := sound.read(DECODE_BLOCK_FRAMES, dtype="float32", always_2d=True)):
                out.add(block, sound.samplerate)
        except (soundfile.LibsndfileError, RuntimeError) as e:
            raise InvalidAudioError(f"{path}: the audio data is corrupt ({e}); re-export the file") from e
    return out.finish()


def _load_with_pyav(path: Path, max_seconds: float | None) -> np.ndarray:
    """Decode the first audio stream of any container FFmpeg reads."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise InvalidAudioError(f"{path}: has no audio track")
            stream = container.streams.audio[0]
            header_s = float(stream.duration * stream.time_base) if stream.duration and stream.time_base \
                else (container.duration or 0) / av.time_base
            _check_seconds(header_s, max_seconds)
            out = _MonoDecoder(str(path), max_seconds, expected_s=header_s)
            for frame in container.decode(stream):
                out.add(_frame_to_channels_last(frame), frame.sample_rate)
    except InvalidAudioError:
        raise
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as e:
        raise InvalidAudioError(
            f"{path}: not a readable audio or video file ({e.__class__.__name__}: {e}); "
            "use wav, flac, mp3, m4a, ogg or a video with an audio track") from e
    if not out.source_samples:
        raise InvalidAudioError(f"{path}: the audio track holds no samples")
    return out.finish()


class _MonoDecoder:
    """Decoded ``(n, channels)`` float32 blocks at their source rate -> one 16 kHz mono array, incrementally:
    each block is checked (finite), averaged to mono and pushed through a streaming soxr resampler
    (the one-shot resampling's samples, to ~1e-6), so only the output is ever held whole."""

    def __init__(self, what: str, max_seconds: float | None, expected_s: float = 0.0):
        self.what, self.max_seconds = what, max_seconds
        self.source_samples = 0
        self._seconds_before = 0.0  # decoded at earlier rates (a rate change mid-stream)
        self._samples_at_rate = 0  # decoded at the current rate (counted exactly: no float drift)
        self._rate: int | None = None
        self._resampler = None
        self._buffer = np.empty(max(int(expected_s * SAMPLE_RATE) + 1024, SAMPLE_RATE), np.float32)
        self._size = 0

    def add(self, block: np.ndarray, rate: int) -> None:
        if rate <= 0:
            raise InvalidAudioError(f"{self.what}: sample rate must be a positive integer, got {rate}")
        _check_levels(block, self.what)
        if rate != self._rate:  # first block, or a rate change mid-stream: finish the old rate first
            self._flush()
            self._seconds_before = self.seconds
            self._rate, self._samples_at_rate = int(rate), 0
        self.source_samples += block.shape[0]
        self._samples_at_rate += block.shape[0]
        _check_seconds(self.seconds, self.max_seconds)
        mono = block.mean(axis=1, dtype=np.float64).astype(np.float32)  # (n,)
        if self._rate != SAMPLE_RATE:
            if self._resampler is None:
                import soxr

                self._resampler = soxr.ResampleStream(self._rate, SAMPLE_RATE, 1, dtype="float32",
                                                      quality=RESAMPLE_QUALITY)
            mono = self._resampler.resample_chunk(mono, last=False)
        self._append(mono)

    @property
    def seconds(self) -> float:
        """Source audio decoded so far."""
        return self._seconds_before + (self._samples_at_rate / self._rate if self._rate else 0.0)

    def _flush(self) -> None:
        if self._resampler is not None:
            self._append(self._resampler.resample_chunk(np.zeros(0, np.float32), last=True))
            self._resampler = None

    def _append(self, samples: np.ndarray) -> None:
        end = self._size + len(samples)
        if end > len(self._buffer):
            grown = np.empty(max(end, int(1.5 * len(self._buffer))), np.float32)
            grown[:self._size] = self._buffer[:self._size]
            self._buffer = grown
        self._buffer[self._size:end] = samples
        self._size = end

    def finish(self) -> np.ndarray:
        """The 16 kHz mono samples (checks: not empty, not too short; warns when silent)."""
        self._flush()
        if self.source_samples == 0:
            raise InvalidAudioError(f"{self.what}: contains no audio samples (empty); give a clip of speech")
        if self.seconds < MIN_DURATION_S:
            raise InvalidAudioError(f"{self.what}: {self.seconds * 1e3:.1f} ms is too short "
                                    f"(minimum {MIN_DURATION_S * 1e3:.0f} ms of audio)")
        mono = self._buffer[:self._size]
        if self._size < len(self._buffer) - SAMPLE_RATE:  # a header that overstated the length: give memory back
            mono = mono.copy()
        _warn_if_silent(mono, self.what)
        return mono


def _warn_if_silent(mono: np.ndarray, what: str) -> None:
    if not len(mono) or float(np.abs(mono).max()) < SILENCE_PEAK:
        warnings.warn(f"{what}: audio is silent (peak below -80 dBFS); the avatar will only idle",
                      UserWarning, stacklevel=4)


def _frame_to_channels_last(frame) -> np.ndarray:
    """One PyAV AudioFrame -> float32 ``(n, channels)`` whatever its sample format."""
    data = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if frame.format.is_planar:
        data = data.reshape(channels, -1).T  # (n, C)
    else:
        data = data.reshape(-1, channels)  # interleaved (n, C)
    if data.dtype.kind in "iu":
        data = pcm_to_float(data)
    return data.astype(np.float32, copy=False)


def chunk_to_mono(chunk) -> np.ndarray:
    """``(n,)`` or ``(n, channels)`` float/int samples (numpy or torch) -> ``(n,)`` float32."""
    samples = _float_samples(chunk, "audio chunk")
    if samples.ndim == 2:
        samples = samples.mean(axis=1, dtype=np.float64).astype(np.float32)
    elif samples.ndim != 1:
        raise InvalidAudioError(f"audio chunk must be (samples,) or (samples, channels), got shape {samples.shape}")
    _check_levels(samples, "audio chunk")
    return samples
