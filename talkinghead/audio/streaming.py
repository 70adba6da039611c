"""Streaming Whisper features: push audio chunks of any size, get exactly the offline frames.

:class:`StreamingFeatures` cuts the incoming samples into the same windows as
:func:`~talkinghead.audio.features.whisper_features` and encodes each with the same
:func:`~talkinghead.audio.features.encode_windows`, as soon as the window's last sample has arrived
(block fill + look-ahead, see :mod:`talkinghead.audio.features`). :meth:`finish` pads the end with
zeros as the offline path does and returns the tail, so that across all calls the stream yields
``ceil(duration * 25)`` frames equal to the offline ones (up to float rounding from batch shapes,
about 1e-6).

Input chunks are ``(n,)`` or ``(n, channels)`` samples, float or integer PCM (channels are averaged). At 16 kHz the
equality with offline holds by construction; other rates are resampled incrementally with soxr's
streaming resampler, whose output equals the one-shot resampling of
:func:`~talkinghead.audio.io.load_audio` (checked for 22.05 kHz: identical samples).
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import TalkingHeadError
from ..timing import SAMPLE_RATE, num_frames
from .features import WindowConfig, _check_fits, encode_windows, feature_dim
from .io import RESAMPLE_QUALITY, chunk_to_mono


class StreamingFeatures:
    """Incremental :func:`whisper_features`: ``push(chunk)`` -> new frames, ``finish()`` -> the rest.

    Each returned tensor is ``(k, 2 * d_model)`` float32 on CPU, possibly with ``k = 0``; frames come
    in order, frame ``i`` aligned to audio ``[40 i, 40 (i + 1))`` ms.
    """

    def __init__(self, encoder: torch.nn.Module, config: WindowConfig | None = None,
                 sample_rate: int = SAMPLE_RATE):
        self.encoder = encoder
        self.config = config or WindowConfig()
        _check_fits(encoder, self.config)
        self.sample_rate = int(sample_rate)
        self._resampler = None
        if self.sample_rate != SAMPLE_RATE:
            import soxr

            self._resampler = soxr.ResampleStream(self.sample_rate, SAMPLE_RATE, 1, dtype="float32",
                                                  quality=RESAMPLE_QUALITY)
        # Buffer of the zero-led signal; index 0 = first sample of the next window to encode.
        self._buffer = np.zeros(self.config.lead_samples, dtype=np.float32)
        self._received = 0  # 16 kHz samples of real audio so far
        self._emitted = 0  # frames returned so far
        self._finished = False

    @property
    def frames_emitted(self) -> int:
        return self._emitted

    @property
    def samples_received(self) -> int:
        """16 kHz samples of audio pushed so far (after resampling)."""
        return self._received

    def push(self, chunk) -> torch.Tensor:
        """Add audio; returns the frames that became computable (``(k, 2 * d_model)``, maybe empty)."""
        if self._finished:
            raise TalkingHeadError("StreamingFeatures.push after finish(); create a new extractor")
        samples = self._to_mono_16k(chunk, last=False)
        self._buffer = np.concatenate([self._buffer, samples])
        self._received += samples.shape[0]
        return self._encode_ready(limit=None)

    def finish(self) -> torch.Tensor:
        """End of audio: zero-pad like the offline path and return the remaining frames."""
        if self._finished:
            return torch.zeros(0, feature_dim(self.encoder))
        if self._resampler is not None:
            tail = self._to_mono_16k(np.zeros(0, np.float32), last=True)
            self._buffer = np.concatenate([self._buffer, tail])
            self._received += tail.shape[0]
        self._finished = True
        total = num_frames(self._received)
        missing_frames = max(0, total - self._emitted)
        blocks = -(-missing_frames // self.config.block_frames)
        needed = (blocks - 1) * self.config.block_samples + self.config.window_samples if blocks else 0
        self._buffer = np.pad(self._buffer, (0, max(0, needed - self._buffer.shape[0])))
        return self._encode_ready(limit=total)

    @torch.inference_mode()
    def _encode_ready(self, limit: int | None) -> torch.Tensor:
        """Encode every complete window in the buffer; ``limit`` caps the total frame count (at finish)."""
        cfg = self.config
        available = (self._buffer.shape[0] - cfg.window_samples) // cfg.block_samples + 1
        if limit is not None:
            available = min(available, -(-(limit - self._emitted) // cfg.block_frames))
        if available <= 0:
            return torch.zeros(0, feature_dim(self.encoder))
        windows = torch.from_numpy(self._buffer).unfold(0, cfg.window_samples, cfg.block_samples)[:available]
        frames = encode_windows(self.encoder, windows, cfg).cpu().reshape(-1, feature_dim(self.encoder))
        self._buffer = self._buffer[available * cfg.block_samples:].copy()
        if limit is not None:
            frames = frames[:max(0, limit - self._emitted)]
        self._emitted += frames.shape[0]
        return frames

    def _to_mono_16k(self, chunk, last: bool) -> np.ndarray:
        samples = chunk_to_mono(chunk)
        if self._resampler is not None:
            samples = self._resampler.resample_chunk(samples, last=last)
        return samples
