"""Live audio chunks of any size, sample rate and channel layout -> 16 kHz mono float32, incrementally.

Chunks are ``(n,)`` or ``(n, channels)`` (channels are averaged first, as
:func:`~talkinghead.audio.io.load_audio` does), float in [-1, 1] or integer PCM. A rate other than
16 kHz goes through soxr's streaming resampler with the same quality as the offline path, so a
stream pushed at one rate yields the samples of the one-shot resampling. The resampler holds a few
milliseconds back (its filter delay); :meth:`AudioInput.flush` releases them at a gap or at the end.
When the rate changes mid-stream the old resampler is flushed first, so no sample is lost.
"""

from __future__ import annotations

import numpy as np

from ..audio.io import RESAMPLE_QUALITY, chunk_to_mono
from ..errors import InvalidAudioError
from ..timing import SAMPLE_RATE

MIN_SAMPLE_RATE = 1_000  # Hz: below this nothing speech-like survives
MAX_SAMPLE_RATE = 384_000  # Hz: the highest rate audio interfaces offer


def check_sample_rate(sr) -> int:
    """A sample rate as int, or :class:`InvalidAudioError` naming the accepted range."""
    if isinstance(sr, bool) or not isinstance(sr, (int, np.integer, float)) or sr != int(sr) \
            or not MIN_SAMPLE_RATE <= int(sr) <= MAX_SAMPLE_RATE:
        raise InvalidAudioError(f"sample rate must be an integer in [{MIN_SAMPLE_RATE}, {MAX_SAMPLE_RATE}] Hz, "
                                f"got {sr!r}")
    return int(sr)


class AudioInput:
    """Stateful converter: :meth:`convert` each chunk, :meth:`flush` at a gap or the end."""

    def __init__(self):
        self._rate: int | None = None  # rate of the open resampler (None: none open)
        self._resampler = None

    def convert(self, chunk, sr) -> np.ndarray:
        """One chunk at ``sr`` Hz -> the 16 kHz mono samples that became available (maybe none)."""
        sr = check_sample_rate(sr)
        samples = chunk_to_mono(chunk)
        head = self.flush() if self._rate is not None and sr != self._rate else None
        if sr == SAMPLE_RATE:
            out = samples
        else:
            if self._resampler is None:
                import soxr

                self._resampler = soxr.ResampleStream(sr, SAMPLE_RATE, 1, dtype="float32", quality=RESAMPLE_QUALITY)
                self._rate = sr
            out = self._resampler.resample_chunk(samples, last=False)
        return out if head is None or not len(head) else np.concatenate([head, out])

    def flush(self) -> np.ndarray:
        """The samples the resampler still holds (empty at 16 kHz); the next chunk starts afresh."""
        if self._resampler is None:
            return np.zeros(0, np.float32)
        tail = self._resampler.resample_chunk(np.zeros(0, np.float32), last=True)
        self._resampler, self._rate = None, None
        return np.asarray(tail, np.float32)
