"""One synthetic training clip: speech with known phoneme timing and the motion a face makes saying it.

:func:`synthesize_utterance` (deterministic for ``seed``):

1. draws 1-3 sentences (:mod:`.text`) with pauses of varied length, a voice of the
   requested split (:mod:`.voices`) and the engine's rate/pitch parameters;
2. synthesises each sentence, resamples it to 16 kHz and concatenates, with a silent
   lead-in, the pauses and a tail; phoneme times are shifted into clip time and the
   silences become pause events;
3. pads the audio to whole video frames, so ``len(audio) == T * SAMPLES_PER_FRAME`` with
   ``T = ceil(duration * 25)`` and frame ``i`` = samples ``[640 i, 640 (i + 1))``;
4. builds the motion (T, MOTION_DIM) in the layout of :mod:`talkinghead.motion.channels`:
   mouth channels from the phonemes (:mod:`.visemes`, articulation scaled per clip),
   pose, brows and gaze from the clean audio's prosody (:mod:`.prosody`); no blinks;
5. augments the audio (:mod:`.augment`); the motion is computed before, from clean speech.

Independent random streams (``SeedSequence(seed).spawn``) drive text, voice, synthesis
parameters, motion and augmentation, so e.g. turning augmentation off leaves the text,
voice and motion of a seed unchanged. Features and shards are made from
``SyntheticClip.audio`` by the audio front-end's windowing function, frame-aligned with
``SyntheticClip.motion``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
from scipy.signal import resample_poly

from ..errors import DependencyError
from ..motion.channels import CHANNEL_NAMES, EXPRESSION_SLICE, MOTION_DIM, channel_range
from ..timing import FPS, SAMPLE_RATE, SAMPLES_PER_FRAME, num_frames
from .augment import AugmentConfig, augment
from .prosody import ProsodyConfig, prosody_motion
from .speech import SILENCE_SYMBOLS, PhonemeEvent, Speech, check_events
from .text import generate_script
from .visemes import CoarticulationConfig, mouth_curves, unknown_symbols
from .voices import Voice, list_voices, parse_voice, sample_params, synthesize_many

STREAMS = ("text", "voice", "params", "motion", "augment")  # order of SeedSequence children


@dataclass(frozen=True)
class SynthConfig:
    """How one synthetic clip is made (times in seconds)."""

    utterances: tuple[int, int] = (1, 3)  # sentences per clip, inclusive range
    max_duration_s: float = 20.0  # no more sentences are added past this
    lead_silence_s: tuple[float, float] = (0.1, 0.6)
    tail_silence_s: tuple[float, float] = (0.2, 0.8)
    articulation: tuple[float, float] = (0.8, 1.2)  # per-clip scale of non-closure mouth targets
    augment: bool = True
    augmentation: AugmentConfig = AugmentConfig()
    coarticulation: CoarticulationConfig = CoarticulationConfig()
    prosody: ProsodyConfig = ProsodyConfig()


@dataclass
class SyntheticClip:
    """Audio, motion and timing of one synthetic clip.

    ``audio`` and ``clean_audio`` are (T * SAMPLES_PER_FRAME,) float32 at 16 kHz
    (``audio`` augmented), ``motion`` is (T, MOTION_DIM) float32, ``phonemes`` tile the
    audio in clip time (seconds), ``metadata`` is JSON-safe.
    """

    audio: np.ndarray  # (N,) float32, N = T * 640
    clean_audio: np.ndarray  # (N,) float32, before augmentation
    motion: np.ndarray  # (T, 37) float32
    phonemes: list[PhonemeEvent]
    phoneset: str
    metadata: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return self.motion.shape[0]

    @property
    def duration_s(self) -> float:
        return len(self.audio) / SAMPLE_RATE


def clip_seed(base_seed: int, index: int) -> int:
    """The seed of clip ``index`` of a run started with ``base_seed`` (independent streams per clip)."""
    return int(np.random.SeedSequence([base_seed, index]).generate_state(1, np.uint64)[0] >> 1)


def _to_16k(speech: Speech) -> np.ndarray:
    if speech.sample_rate == SAMPLE_RATE:
        return speech.audio.astype(np.float32)
    g = np.gcd(SAMPLE_RATE, speech.sample_rate)
    return resample_poly(speech.audio, SAMPLE_RATE // g, speech.sample_rate // g).astype(np.float32)


def _pick_voice(voice: str | Voice | None, split: str, rng: np.random.Generator) -> Voice:
    if voice is not None:
        return parse_voice(voice)
    candidates = list_voices(split)
    if not candidates:
        raise DependencyError(f"no installed voice for split {split!r}; install espeak-ng "
                              "(apt-get install libespeak-ng1 espeak-ng-data) or flite")
    return candidates[int(rng.integers(len(candidates)))]


def _assemble(pieces: list[tuple[Speech, float]], lead_s: float, phoneset: str):
    """Concatenate 16 kHz speech with silences; returns audio (N,), events and utterance spans."""
    silence = SILENCE_SYMBOLS[phoneset]
    chunks = [np.zeros(int(round(lead_s * SAMPLE_RATE)), np.float32)]
    events = [PhonemeEvent(silence, 0.0, len(chunks[0]) / SAMPLE_RATE)] if len(chunks[0]) else []
    spans = []
    offset = len(chunks[0])
    for speech, pause_s in pieces:
        audio = _to_16k(speech)
        start_s, length_s = offset / SAMPLE_RATE, len(audio) / SAMPLE_RATE
        for e in speech.phonemes:  # times in seconds carry over the resampling
            events.append(PhonemeEvent(e.symbol, start_s + min(e.start_s, length_s), start_s + min(e.end_s, length_s)))
        spans.append((start_s, start_s + length_s))
        pause = np.zeros(int(round(pause_s * SAMPLE_RATE)), np.float32)
        chunks += [audio, pause]
        offset += len(audio) + len(pause)
        if len(pause):
            events.append(PhonemeEvent(silence, (offset - len(pause)) / SAMPLE_RATE, offset / SAMPLE_RATE))
    return np.concatenate(chunks), events, spans


def _pad_to_frames(audio: np.ndarray, events: list[PhonemeEvent], phoneset: str):
    """Zero-pad to whole frames; the padding becomes (or extends) a final pause."""
    frames = num_frames(len(audio))
    padded = np.zeros(frames * SAMPLES_PER_FRAME, np.float32)
    padded[: len(audio)] = audio
    end_s = len(padded) / SAMPLE_RATE
    if events and events[-1].end_s < end_s:
        events = events + [PhonemeEvent(SILENCE_SYMBOLS[phoneset], events[-1].end_s, end_s)]
    return padded, events, frames


def synthesize_utterance(seed: int, voice: str | Voice | None = None, *, split: str = "train",
                         config: SynthConfig = SynthConfig()) -> SyntheticClip:
    """A synthetic clip for ``seed``: identical output for the same seed, voice and config.

    ``voice`` is a voice id (``espeak:en-us+f3``) or None to draw one from ``split``
    (``train`` or ``heldout``, see :mod:`.voices`).
    """
    rngs = dict(zip(STREAMS, (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(len(STREAMS)))))
    chosen = _pick_voice(voice, split, rngs["voice"])
    params = sample_params(chosen, rngs["params"])
    n_utterances = int(rngs["text"].integers(config.utterances[0], config.utterances[1] + 1))
    script = generate_script(rngs["text"], n_utterances)
    lead_s = float(rngs["text"].uniform(*config.lead_silence_s))
    tail_s = float(rngs["text"].uniform(*config.tail_silence_s))
    speeches = synthesize_many(chosen, [item.utterance.text for item in script], **params)
    pieces, total = [], lead_s
    for i, (item, speech) in enumerate(zip(script, speeches)):
        last = i == len(script) - 1 or total + speech.duration_s + item.pause_after_s > config.max_duration_s
        pieces.append((speech, tail_s if last else item.pause_after_s))
        total += speech.duration_s + pieces[-1][1]
        if last:
            break
    phoneset = pieces[0][0].phoneset
    clean, events, spans = _assemble(pieces, lead_s, phoneset)
    clean, events, frames = _pad_to_frames(clean, events, phoneset)
    check_events(events, len(clean) / SAMPLE_RATE)

    articulation = float(rngs["motion"].uniform(*config.articulation))
    coarticulation = dataclasses.replace(config.coarticulation, articulation=articulation)
    motion, prosody_info = prosody_motion(clean, frames, rngs["motion"], config.prosody)
    motion[:, EXPRESSION_SLICE] += mouth_curves(events, phoneset, frames, FPS, coarticulation)
    for k, name in enumerate(CHANNEL_NAMES):
        motion[:, k] = np.clip(motion[:, k], *channel_range(name))
    assert motion.shape == (frames, MOTION_DIM)

    audio, applied = (augment(clean, SAMPLE_RATE, rngs["augment"], config.augmentation)
                      if config.augment else (clean.copy(), []))
    metadata = {
        "seed": int(seed), "voice": chosen.id, "engine": chosen.engine, "voice_split": chosen.split,
        "voice_group": chosen.group, "synthesis_params": params,
        "utterances": [{"text": item.utterance.text, "kind": item.utterance.kind, "start_s": a, "end_s": b}
                       for (item, (a, b)) in zip(script, spans)],
        "text": " ".join(item.utterance.text for item, _ in zip(script, spans)),
        "augmentation": applied, "articulation": articulation, "prosody": prosody_info,
        "phoneset": phoneset, "unknown_phonemes": unknown_symbols(events, phoneset),
        "duration_s": len(clean) / SAMPLE_RATE, "num_frames": frames, "fps": FPS, "sample_rate": SAMPLE_RATE,
        "coarticulation": dataclasses.asdict(coarticulation),
    }
    return SyntheticClip(audio, clean, motion, events, phoneset, metadata)
