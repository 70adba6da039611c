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
* all-silent input (peak below :data:`SILENCE_PEAK`, -80 dBFS) is *not* an error: it warns with a
  ``UserWarning`` and returns the samples, since a silent clip still makes a valid idle video.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from ..errors import InvalidAudioError
from ..timing import SAMPLE_RATE, SAMPLES_PER_FRAME

MIN_SAMPLES = SAMPLES_PER_FRAME // 2  # 320 samples = 20 ms at 16 kHz (half a 40 ms video frame)
MIN_DURATION_S = MIN_SAMPLES / SAMPLE_RATE  # 0.02 s
SILENCE_PEAK = 1e-4  # -80 dBFS: below this everywhere, the clip is treated as silent
RESAMPLE_QUALITY = "HQ"  # soxr quality preset (steep, linear phase)


def load_audio(path_or_array, sr: int | None = None) -> np.ndarray:
    """Audio as 16 kHz mono float32 samples, shape ``(num_samples,)``.

    ``path_or_array`` is a file path (``sr`` is ignored: files carry their rate) or an array whose
    sample rate ``sr`` must be given. Raises :class:`InvalidAudioError` as described in the module
    docstring; warns (``UserWarning``) on all-silent input.
    """
    if isinstance(path_or_array, (str, os.PathLike)):
        samples, source_sr, what = (*_read_file(Path(path_or_array)), str(path_or_array))
    else:
        if sr is None:
            raise InvalidAudioError("audio given as an array needs its sample rate: load_audio(array, sr=...)")
        samples, source_sr, what = _array_channels_last(path_or_array), int(sr), "audio array"
    return _to_model_format(samples, source_sr, what)


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
    if not np.isfinite(samples).all():
        raise InvalidAudioError(f"{what}: contains NaN or infinite samples; fix the audio source")
    duration = samples.shape[0] / source_sr
    if duration < MIN_DURATION_S:
        raise InvalidAudioError(
            f"{what}: {duration * 1e3:.1f} ms is too short (minimum {MIN_DURATION_S * 1e3:.0f} ms of audio)")
    mono = samples.mean(axis=1, dtype=np.float64).astype(np.float32)  # (n,)
    mono = np.ascontiguousarray(resample(mono, source_sr))
    if float(np.abs(mono).max()) < SILENCE_PEAK:
        warnings.warn(f"{what}: audio is silent (peak below -80 dBFS); the avatar will only idle",
                      UserWarning, stacklevel=3)
    return mono


def _array_channels_last(array) -> np.ndarray:
    """Any numpy/torch array -> float32 ``(n, channels)``."""
    if hasattr(array, "detach"):  # torch tensor
        array = array.detach().cpu().numpy()
    array = np.asarray(array)
    if array.dtype.kind in "iu":
        array = pcm_to_float(array)
    elif array.dtype.kind != "f":
        raise InvalidAudioError(f"audio array must hold numbers, got dtype {array.dtype}")
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


def _read_file(path: Path) -> tuple[np.ndarray, int]:
    """Decode a file to float32 ``(n, channels)`` and its sample rate: soundfile first, then PyAV."""
    if not path.is_file():
        raise InvalidAudioError(f"audio file not found: {path}")
    if path.stat().st_size == 0:
        raise InvalidAudioError(f"{path}: file is empty (0 bytes); give a clip of speech")
    import soundfile

    try:
        samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
        return samples, int(rate)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError):
        pass  # not a format libsndfile knows: try FFmpeg's decoders
    return _read_with_pyav(path)


def _read_with_pyav(path: Path) -> tuple[np.ndarray, int]:
    """Decode the first audio stream of any container FFmpeg reads."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise InvalidAudioError(f"{path}: has no audio track")
            stream = container.streams.audio[0]
            blocks, rate = [], None
            for frame in container.decode(stream):
                rate = frame.sample_rate
                blocks.append(_frame_to_channels_last(frame))
    except InvalidAudioError:
        raise
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as e:
        raise InvalidAudioError(
            f"{path}: not a readable audio or video file ({e.__class__.__name__}: {e}); "
            "use wav, flac, mp3, m4a, ogg or a video with an audio track") from e
    if not blocks:
        raise InvalidAudioError(f"{path}: the audio track holds no samples")
    channels = min(block.shape[1] for block in blocks)  # a layout change mid-stream keeps the common ones
    return np.concatenate([block[:, :channels] for block in blocks]), int(rate)


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
    if hasattr(chunk, "detach"):  # torch tensor
        chunk = chunk.detach().cpu().numpy()
    samples = np.asarray(chunk)
    if samples.dtype.kind in "iu":
        samples = pcm_to_float(samples)
    elif samples.dtype.kind == "f":
        samples = samples.astype(np.float32, copy=False)
    else:
        raise InvalidAudioError(f"audio chunk must hold numbers, got dtype {samples.dtype}")
    if samples.ndim == 2:
        samples = samples.mean(axis=1, dtype=np.float64).astype(np.float32)
    elif samples.ndim != 1:
        raise InvalidAudioError(f"audio chunk must be (samples,) or (samples, channels), got shape {samples.shape}")
    if not np.isfinite(samples).all():
        raise InvalidAudioError("audio chunk contains NaN or infinite samples; fix the audio source")
    return samples
