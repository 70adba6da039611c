"""What every speech engine returns: audio plus the timing of each phoneme in it.

The engines (:mod:`.espeak`, :mod:`.flite`, :mod:`.festival`) all produce a
:class:`Speech`: mono float32 audio at the engine's native rate and a list of
:class:`PhonemeEvent` that tile the audio in time order. Symbols are the engine's own
(``phoneset`` says which alphabet); :mod:`.visemes` maps each alphabet to visemes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

ESPEAK_PHONESET = "espeak"  # espeak-ng's ASCII phoneme mnemonics (English: p, b, aI, @L, _: ...)
ARPABET_PHONESET = "arpabet"  # lower-case CMU/ARPAbet as used by flite and festival (pau, aa, hh ...)
PHONESETS = (ESPEAK_PHONESET, ARPABET_PHONESET)
SILENCE_SYMBOLS = {ESPEAK_PHONESET: "_", ARPABET_PHONESET: "pau"}  # what a pause is called in each alphabet


@dataclass(frozen=True)
class PhonemeEvent:
    """One phoneme segment: ``symbol`` spoken from ``start_s`` to ``end_s`` (seconds, ``start_s <= end_s``)."""

    symbol: str
    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class WordEvent:
    """A word starting at ``start_s`` (seconds)."""

    text: str
    start_s: float


@dataclass
class Speech:
    """Synthesised speech: ``audio`` (N,) float32 in [-1, 1] at ``sample_rate`` Hz and its phoneme timing."""

    audio: np.ndarray  # (N,) float32
    sample_rate: int
    phonemes: list[PhonemeEvent]
    phoneset: str
    words: list[WordEvent] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return len(self.audio) / self.sample_rate


def check_events(phonemes: list[PhonemeEvent], duration_s: float, tolerance_s: float = 1e-3) -> None:
    """Assert the internal invariants every engine guarantees: ordered, non-negative, inside the audio."""
    previous_start = 0.0
    for event in phonemes:
        assert event.start_s <= event.end_s, event
        assert event.start_s >= previous_start - tolerance_s, event
        assert event.end_s <= duration_s + tolerance_s, (event, duration_s)
        previous_start = event.start_s


def events_from_starts(symbols: list[str], starts_s: list[float], duration_s: float) -> list[PhonemeEvent]:
    """Segments from start times: each ends where the next starts, the last at ``duration_s``.

    Starts are clamped into ``[0, duration_s]`` and made non-decreasing, so a late or
    duplicated engine time never yields a negative duration.
    """
    clamped: list[float] = []
    for start in starts_s:
        start = min(max(start, 0.0), duration_s)
        clamped.append(max(start, clamped[-1]) if clamped else start)
    ends = clamped[1:] + [duration_s]
    return [PhonemeEvent(s, a, b) for s, a, b in zip(symbols, clamped, ends)]


def events_from_ends(symbols: list[str], ends_s: list[float], duration_s: float) -> list[PhonemeEvent]:
    """Segments from end times (festival/flite label files): each starts where the previous ended;
    the last is stretched to ``duration_s`` so the segments tile the audio."""
    clamped: list[float] = []
    for end in ends_s:
        end = min(max(end, 0.0), duration_s)
        clamped.append(max(end, clamped[-1]) if clamped else end)
    if clamped:
        clamped[-1] = duration_s
    starts = [0.0] + clamped[:-1]
    return [PhonemeEvent(s, a, b) for s, a, b in zip(symbols, starts, clamped)]
