"""The audio timeline of a stream: what each video frame hears, and when that audio arrived.

Frame ``i`` covers samples ``[640 i, 640 (i + 1))`` of the 16 kHz stream (40 ms). The timeline
keeps the samples not yet handed to a frame, which of them the session inserted as silence (an
underrun or a flush) and the wall-clock time at which each pushed piece arrived, so every frame can
carry its own audio and the moment its audio was complete (for latency). Memory holds only the
samples between the last frame handed out and the newest push.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from ..timing import SAMPLES_PER_FRAME


class AudioTimeline:
    """Append 16 kHz pieces in order; :meth:`take` the audio of the next frames."""

    def __init__(self):
        self._pieces: deque[tuple[np.ndarray, bool]] = deque()  # (samples, inserted) not yet taken
        self._arrivals: deque[tuple[int, float]] = deque()  # (end sample exclusive, arrival time)
        self._base = 0  # stream index of the first sample in _pieces
        self._offset = 0  # samples already taken from _pieces[0]
        self.total = 0  # samples appended so far (the audio horizon)
        self.frames_taken = 0

    def append(self, samples: np.ndarray, inserted: bool, arrival: float) -> None:
        if not len(samples):
            return
        self._pieces.append((samples, inserted))
        self.total += len(samples)
        self._arrivals.append((self.total, arrival))

    def take(self, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The next ``count`` frames: audio (count, 640) float32 (zeros past the end), inserted
        (count,) bool (every real sample of the frame was inserted silence), audio time (count,)
        float (arrival of the frame's last real sample)."""
        audio = np.zeros((count, SAMPLES_PER_FRAME), np.float32)
        inserted = np.ones(count, bool)
        flat = audio.reshape(-1)
        filled = 0
        while filled < flat.size and self._pieces:
            piece, was_inserted = self._pieces[0]
            n = min(flat.size - filled, len(piece) - self._offset)
            flat[filled:filled + n] = piece[self._offset:self._offset + n]
            if not was_inserted:
                first, last = filled // SAMPLES_PER_FRAME, (filled + n - 1) // SAMPLES_PER_FRAME
                inserted[first:last + 1] = False
            filled += n
            self._offset += n
            if self._offset == len(piece):
                self._pieces.popleft()
                self._offset = 0
        start = self.frames_taken * SAMPLES_PER_FRAME
        ends = np.minimum(start + SAMPLES_PER_FRAME * np.arange(1, count + 1), max(self.total, 1))
        times = np.array([self._arrival_of(int(end)) for end in ends])
        self.frames_taken += count
        self._base = start + filled
        while len(self._arrivals) > 1 and self._arrivals[0][0] <= self._base:
            self._arrivals.popleft()
        return audio, inserted, times

    def _arrival_of(self, end: int) -> float:
        """Arrival time of the piece holding sample ``end - 1``."""
        for piece_end, arrival in self._arrivals:
            if piece_end >= end:
                return arrival
        return self._arrivals[-1][1] if self._arrivals else float("nan")
