"""Whisper's log-mel front-end, in two framings.

Both use Whisper's analysis: 400-sample periodic Hann window (25 ms), hop 160 (10 ms), power
spectrum, Slaney mel filters (80 or 128 bins), ``log10(max(mel, 1e-10))``, then ``(x + 4) / 4``.

* :func:`whisper_log_mel` is Whisper's own recipe for transcription: centred frames (reflect
  padding), 30 s segments, and a floor at ``max - 8`` where ``max`` is taken over the whole clip.
* :func:`log_mel_frames` is the framing of the motion features (:mod:`talkinghead.audio.features`).
  Its floor is the fixed :data:`LOG_MEL_FLOOR` instead of ``max - 8``: a clip-wide maximum would make
  every frame depend on audio that has not arrived yet, so streaming could never equal offline.
  Frames are uncentred with window start :data:`FRAME_START_OFFSET` samples before ``hop * m``, so
  mel frame ``m`` is centred on sample ``160 (m + 1)`` (see the features module for why).
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from ..timing import SAMPLE_RATE, WHISPER_HOP

N_FFT = 400  # samples per analysis window (25 ms), Whisper's value
HOP = WHISPER_HOP  # 160 samples = 10 ms per mel frame
CHUNK_SECONDS = 30  # Whisper's training segment length
CHUNK_SAMPLES = CHUNK_SECONDS * SAMPLE_RATE  # 480000
CHUNK_FRAMES = CHUNK_SAMPLES // HOP  # 3000 mel frames per 30 s segment
LOG_FLOOR_EPS = 1e-10  # Whisper clamps mel power here before log10
DYNAMIC_RANGE = 8.0  # Whisper keeps 8 decades below the clip maximum
# Fixed floor for the feature path, in log10 units (before the (x + 4) / 4 scaling). Whisper's
# floor is (clip max - 8); clip maxima of normal-level speech measured 0.36-1.85 (LibriSpeech,
# LJSpeech, broadcast, interview audio, espeak-ng), about 1.0 typical, hence 1.0 - 8 = -7.0.
LOG_MEL_FLOOR = -7.0
FRAME_START_OFFSET = N_FFT // 2 - HOP  # 40: window of mel frame m = samples [160 m - 40, 160 m + 360)


@functools.lru_cache(maxsize=4)
def mel_filters(n_mels: int = 80) -> torch.Tensor:
    """Slaney-style mel filter bank, shape ``(n_mels, N_FFT // 2 + 1)`` float32 (Whisper's filters)."""
    import librosa

    return torch.from_numpy(librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=n_mels)).float()


@functools.lru_cache(maxsize=4)
def _hann(device: torch.device) -> torch.Tensor:
    return torch.hann_window(N_FFT, periodic=True, device=device)


def _log_mel_power(frames_power: torch.Tensor, n_mels: int) -> torch.Tensor:
    """``(..., F, T)`` power spectrum -> ``(..., n_mels, T)`` log10 mel power."""
    mel = mel_filters(n_mels).to(frames_power.device) @ frames_power
    return torch.clamp(mel, min=LOG_FLOOR_EPS).log10()


def log_mel_frames(samples: torch.Tensor, n_mels: int = 80) -> torch.Tensor:
    """Uncentred log-mel frames of ``samples`` ``(..., n)`` -> ``(..., n_mels, 1 + (n - 400) // 160)``.

    Frame ``t`` uses ``samples[..., 160 t : 160 t + 400]``; the caller positions ``samples`` so that
    this is the window it wants. Values are floored at :data:`LOG_MEL_FLOOR` and scaled like Whisper.
    """
    assert samples.shape[-1] >= N_FFT, samples.shape
    spec = torch.stft(samples, N_FFT, HOP, window=_hann(samples.device), center=False, return_complex=True)
    log_mel = _log_mel_power(spec.abs() ** 2, n_mels)
    return (torch.clamp(log_mel, min=LOG_MEL_FLOOR) + 4.0) / 4.0


def whisper_log_mel(audio: torch.Tensor, n_mels: int = 80) -> torch.Tensor:
    """Whisper's transcription log-mel of ``audio`` ``(n,)`` -> ``(n_mels, 3000 * k)``, ``k`` 30 s segments.

    The audio is zero-padded to a whole number of 30 s segments (at least one), as Whisper does.
    """
    num_segments = max(1, -(-audio.shape[-1] // CHUNK_SAMPLES))
    padded = torch.nn.functional.pad(audio, (0, num_segments * CHUNK_SAMPLES - audio.shape[-1]))
    spec = torch.stft(padded, N_FFT, HOP, window=_hann(padded.device), center=True, return_complex=True)
    log_mel = _log_mel_power(spec[..., :-1].abs() ** 2, n_mels)  # drop the extra centred frame
    log_mel = torch.maximum(log_mel, log_mel.max() - DYNAMIC_RANGE)
    return (log_mel + 4.0) / 4.0


def as_tensor(audio) -> torch.Tensor:
    """float32 1-D tensor from a numpy array or tensor of 16 kHz mono samples."""
    if isinstance(audio, np.ndarray):
        audio = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
    return audio.float()
