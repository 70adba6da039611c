"""espeak-ng through its C library (ctypes on ``libespeak-ng.so.1``), with phoneme timing.

The library is initialised once per process in ``AUDIO_OUTPUT_SYNCHRONOUS`` mode with
``espeakINITIALIZE_PHONEME_EVENTS``: ``espeak_Synth`` then returns only when synthesis
is done, and the synth callback receives the wave in 16-bit chunks together with a
list of events. ``espeakEVENT_PHONEME`` events carry the phoneme mnemonic (espeak's
ASCII names, e.g. ``aI``, ``@L``, ``_:``) in ``id.string`` and the time it starts,
``audio_position`` in ms from the start of the ``espeak_Synth`` call. WORD events give
word starts (``text_position``/``length`` index the UTF-8 text).

Closures of voiceless stops: espeak emits the silent closure of ``p t k tS`` *before*
their phoneme event (inside the previous segment), and the event marks the burst. A
face closes the lips (or the tongue) during that silence, so :func:`synthesize` moves
the start of those stops back over the low-energy stretch that precedes them (at most
``MAX_CLOSURE_S``); ``attach_closures=False`` keeps espeak's raw times.

Thread-safety and reproducibility: espeak-ng keeps all its state (voice, parameters,
callback, and hidden wave-generator and prosody state that changes every call) in
process globals. Every in-process call holds the module lock ``_LOCK``, so threads are
serialised; separate processes each load their own copy and run in parallel. Because the
hidden state makes the same text come out differently on successive calls,
:func:`synthesize` by default runs each call in a fork of a helper process that has
initialised the library and never synthesised (:mod:`.forkserver`): identical arguments
then give identical samples, in any order and in any worker.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from dataclasses import dataclass

import numpy as np

from ..errors import DependencyError, TalkingHeadError
from . import forkserver
from .speech import ESPEAK_PHONESET, PhonemeEvent, Speech, WordEvent, check_events, events_from_starts

LIBRARY_NAMES = ("libespeak-ng.so.1", "libespeak-ng.so", "libespeak-ng.1.dylib", "libespeak-ng.dylib")

# From speak_lib.h (API revision 12).
AUDIO_OUTPUT_SYNCHRONOUS = 2
INITIALIZE_PHONEME_EVENTS = 0x0001
CHARS_UTF8 = 1
POS_CHARACTER = 1
EVENT_LIST_TERMINATED, EVENT_WORD, EVENT_SENTENCE, EVENT_END, EVENT_PHONEME = 0, 1, 2, 5, 7
EE_OK = 0
PARAM_RATE, PARAM_VOLUME, PARAM_PITCH, PARAM_RANGE, PARAM_WORDGAP = 1, 2, 3, 4, 7

RATE_RANGE = (80, 450)  # words per minute, espeakRATE_MINIMUM..MAXIMUM
RATE_NORMAL = 175  # espeakRATE_NORMAL
PITCH_RANGE = (0, 100)  # base pitch and pitch range are 0..100, 50 = the voice's default
VOLUME_DEFAULT = 60  # amplitude 0..200; espeak's default 100 saturates 16 bits with some variants

WARM_UP_TEXT = "Ready."  # spoken once by the fork server's helper before it forks children

UNVOICED_STOPS = frozenset({"p", "t", "k", "tS"})  # their closure precedes the phoneme event
MAX_CLOSURE_S = 0.12  # longest closure moved into a stop (espeak's closures are 30-90 ms)
CLOSURE_STEP_S = 0.005  # energy is scanned backwards in 5 ms windows
CLOSURE_SILENCE_RATIO = 0.05  # a window is "closed" below 5 % of the utterance's 95th-percentile RMS
MIN_SEGMENT_LEFT_S = 0.02  # the previous segment keeps at least 20 ms


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    """espeak_EVENT."""

    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
                ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", _EventId)]


class _Voice(ctypes.Structure):
    """espeak_VOICE."""

    _fields_ = [("name", ctypes.c_char_p), ("languages", ctypes.c_void_p), ("identifier", ctypes.c_char_p),
                ("gender", ctypes.c_ubyte), ("age", ctypes.c_ubyte), ("variant", ctypes.c_ubyte),
                ("xx1", ctypes.c_ubyte), ("score", ctypes.c_int), ("spare", ctypes.c_void_p)]


_CALLBACK_TYPE = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                                  ctypes.POINTER(_Event))

_LOCK = threading.RLock()
_SERVER = forkserver.ForkServer(__name__, "_prepare_server")


@dataclass(frozen=True)
class EspeakVoice:
    """A voice or variant file of espeak-ng: ``name`` as shown, ``identifier`` its file (``gmw/en-US``, ``!v/f3``)."""

    name: str
    identifier: str
    languages: tuple[str, ...]
    gender: str  # "male", "female" or "" (unspecified)


class _Engine:
    """The loaded library, its sample rate and the buffers the callback fills during one call."""

    def __init__(self, lib: ctypes.CDLL, sample_rate: int):
        self.lib = lib
        self.sample_rate = sample_rate
        self.chunks: list[np.ndarray] = []
        self.events: list[tuple[int, int, int, int, str]] = []  # (type, ms, text_pos, length, phoneme)
        self.callback = _CALLBACK_TYPE(self._on_synth)  # kept referenced: the library holds the pointer

    def _on_synth(self, wav, num_samples, events) -> int:
        if wav and num_samples > 0:
            self.chunks.append(np.ctypeslib.as_array(wav, shape=(num_samples,)).copy())
        i = 0
        while events[i].type != EVENT_LIST_TERMINATED:
            e = events[i]
            symbol = e.id.string.decode("utf-8", "replace") if e.type == EVENT_PHONEME else ""
            self.events.append((e.type, e.audio_position, e.text_position, e.length, symbol))
            i += 1
        return 0  # continue synthesis


_ENGINE: _Engine | None = None
_VARIANTS: tuple[str, ...] | None = None  # cached: listing reads every voice file
_VOICES: tuple[EspeakVoice, ...] | None = None
_VOICE_MAPS: tuple[dict[str, str], dict[str, str]] | None = None


def _load_library() -> ctypes.CDLL:
    names = list(LIBRARY_NAMES)
    found = ctypes.util.find_library("espeak-ng")
    if found:
        names.append(found)
    for name in names:
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    raise DependencyError(
        "the espeak-ng C library (libespeak-ng.so.1) was not found; install it "
        "(Debian/Ubuntu: apt-get install libespeak-ng1 espeak-ng-data; macOS: brew install espeak-ng)")


def _declare(lib: ctypes.CDLL) -> None:
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetSynthCallback.restype = None
    lib.espeak_SetSynthCallback.argtypes = [_CALLBACK_TYPE]
    lib.espeak_SetVoiceByName.restype = ctypes.c_int
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.restype = ctypes.c_int
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_Synth.restype = ctypes.c_int
    lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                 ctypes.c_uint, ctypes.POINTER(ctypes.c_uint), ctypes.c_void_p]
    lib.espeak_Synchronize.restype = ctypes.c_int
    lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
    lib.espeak_ListVoices.argtypes = [ctypes.POINTER(_Voice)]


def _engine() -> _Engine:
    """Load and initialise the library once per process (caller holds ``_LOCK``)."""
    global _ENGINE
    if _ENGINE is None:
        lib = _load_library()
        _declare(lib)
        sample_rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, None, INITIALIZE_PHONEME_EVENTS)
        if sample_rate <= 0:
            raise DependencyError(
                "espeak-ng failed to initialise (its data directory espeak-ng-data is missing?); "
                "reinstall espeak-ng-data or set ESPEAK_DATA_PATH to the directory containing it")
        engine = _Engine(lib, sample_rate)
        lib.espeak_SetSynthCallback(engine.callback)
        _ENGINE = engine
    return _ENGINE


def available() -> bool:
    """Whether the espeak-ng library can be loaded and initialised here."""
    try:
        with _LOCK:
            _engine()
        return True
    except DependencyError:
        return False


def sample_rate() -> int:
    """espeak-ng's native output rate in Hz (22050 for its standard voices)."""
    with _LOCK:
        return _engine().sample_rate


def _parse_languages(address: int | None) -> tuple[str, ...]:
    """espeak_VOICE.languages: repeated (priority byte, NUL-terminated name), ended by a zero byte."""
    languages: list[str] = []
    if not address:
        return ()
    offset = 0
    while ctypes.string_at(address + offset, 1) != b"\0":  # priority byte; 0 ends the list
        name = ctypes.string_at(address + offset + 1)
        languages.append(name.decode("utf-8", "replace"))
        offset += 2 + len(name)
    return tuple(languages)


def _list(spec: _Voice | None) -> list[EspeakVoice]:
    with _LOCK:
        lib = _engine().lib
        array = lib.espeak_ListVoices(ctypes.byref(spec) if spec is not None else None)
        voices = []
        i = 0
        while array[i]:
            v = array[i].contents
            gender = {1: "male", 2: "female"}.get(v.gender, "")
            voices.append(EspeakVoice(v.name.decode("utf-8", "replace"), v.identifier.decode("utf-8", "replace"),
                                      _parse_languages(v.languages), gender))
            i += 1
    return voices


def list_voices(language_prefix: str = "en") -> list[EspeakVoice]:
    """espeak-ng's voices whose language starts with ``language_prefix`` (mbrola voices excluded:
    they need the separate mbrola program and give no phoneme events of their own)."""
    global _VOICES
    with _LOCK:
        if _VOICES is None:
            _VOICES = tuple(_list(None))
    return [v for v in _VOICES
            if not v.identifier.startswith("mb/") and any(lang.startswith(language_prefix) for lang in v.languages)]


def list_variants() -> list[str]:
    """Names of espeak-ng's voice variants (the part after ``+`` in ``en-us+f3``), e.g. ``m3``, ``f3``, ``klatt2``."""
    global _VARIANTS
    with _LOCK:
        if _VARIANTS is None:
            name = ctypes.c_char_p(b"variant")
            spec = _Voice(languages=ctypes.cast(name, ctypes.c_void_p))
            _VARIANTS = tuple(sorted(v.identifier.split("/", 1)[1] for v in _list(spec)
                                     if v.identifier.startswith("!v/")))
        return list(_VARIANTS)


def _voice_maps() -> tuple[dict[str, str], dict[str, str]]:
    """(language code -> voice file, lower-case file name or path -> voice file), built once."""
    global _VOICE_MAPS
    with _LOCK:
        if _VOICE_MAPS is None:
            voices = list_voices("")
            by_code = {v.languages[0].lower(): v.identifier for v in voices if v.languages}
            by_file = {v.identifier.lower(): v.identifier for v in voices}
            by_file.update({v.identifier.rsplit("/", 1)[-1].lower(): v.identifier for v in voices})
            _VOICE_MAPS = (by_code, by_file)
        return _VOICE_MAPS


def resolve_voice(voice: str) -> str:
    """The name ``espeak_SetVoiceByName`` accepts for ``voice``: its voice file plus the variant.

    ``voice`` is a language code as listed by :func:`list_voices` (``en-gb``, ``en-us-nyc``)
    or a voice file name (``en``, ``gmw/en-GB-x-rp``), optionally ``+variant``. Unknown
    voices and variants are an error (espeak itself silently falls back to a default
    variant and does not accept every language code).
    """
    language, _, variant = voice.partition("+")
    if variant and variant not in list_variants():
        raise TalkingHeadError(
            f"unknown espeak-ng variant {variant!r} in voice {voice!r}; known variants: {', '.join(list_variants())}")
    by_code, by_file = _voice_maps()
    identifier = by_code.get(language.lower()) or by_file.get(language.lower())
    if identifier is None:
        raise TalkingHeadError(f"unknown espeak-ng voice {language!r}; known voices: {', '.join(sorted(by_code))}")
    return identifier + (f"+{variant}" if variant else "")


def _set_parameters(lib: ctypes.CDLL, rate: int, pitch: int, pitch_range: int, word_gap: int) -> None:
    for name, value, (lo, hi) in (("rate", rate, RATE_RANGE), ("pitch", pitch, PITCH_RANGE),
                                  ("pitch_range", pitch_range, PITCH_RANGE), ("word_gap", word_gap, (0, 100))):
        if not lo <= value <= hi:
            raise TalkingHeadError(f"espeak-ng {name}={value} is outside [{lo}, {hi}]")
    for parameter, value in ((PARAM_RATE, rate), (PARAM_PITCH, pitch), (PARAM_RANGE, pitch_range),
                             (PARAM_WORDGAP, word_gap), (PARAM_VOLUME, VOLUME_DEFAULT)):
        lib.espeak_SetParameter(parameter, int(value), 0)


def synthesize(text: str, voice: str = "en-us", *, rate: int = RATE_NORMAL, pitch: int = 50,
               pitch_range: int = 50, word_gap: int = 0, attach_closures: bool = True,
               isolated: bool = True) -> Speech:
    """Speak ``text`` with espeak-ng; the phonemes tile the returned audio.

    ``voice`` is a voice name with an optional variant (``en-us``, ``en-gb-scotland+f3``,
    ``en+klatt2``); ``rate`` in words per minute (80..450), ``pitch`` and ``pitch_range``
    0..100 (50 = the voice's own), ``word_gap`` extra pause between words in units of 10 ms.
    Returns :class:`Speech` with audio (N,) float32 at :func:`sample_rate` Hz (22050).

    ``isolated`` (default, POSIX) runs the call in a fork of a pristine helper process
    (:mod:`.forkserver`), so the same arguments always give the same samples; in-process
    calls are faster but carry espeak's hidden state from one call to the next.
    """
    return synthesize_many([text], voice, rate=rate, pitch=pitch, pitch_range=pitch_range, word_gap=word_gap,
                           attach_closures=attach_closures, isolated=isolated)[0]


def synthesize_many(texts: list[str], voice: str = "en-us", *, rate: int = RATE_NORMAL, pitch: int = 50,
                    pitch_range: int = 50, word_gap: int = 0, attach_closures: bool = True,
                    isolated: bool = True) -> list[Speech]:
    """:func:`synthesize` for several texts in one go (one fork when ``isolated``): one
    :class:`Speech` per text, reproducible for the same list and arguments."""
    if not texts or any(not t.strip() for t in texts):
        raise TalkingHeadError("espeak-ng was asked to speak empty text; give at least one word per text")
    kwargs = dict(rate=rate, pitch=pitch, pitch_range=pitch_range, word_gap=word_gap, attach_closures=attach_closures)
    resolved = resolve_voice(voice)  # validates in this process, with a clear error
    if isolated and forkserver.supported():
        return _SERVER.call("_synthesize_here", list(texts), resolved, **kwargs)
    return _synthesize_here(list(texts), resolved, **kwargs)


def _prepare_server() -> None:
    """Set-up of the fork server's helper: load the library, cache the voice lists and speak a
    warm-up word, so the English dictionary and tables are loaded once, not in every child."""
    with _LOCK:
        _engine()
    list_voices()
    list_variants()
    _synthesize_one(WARM_UP_TEXT, resolve_voice("en-us"), rate=RATE_NORMAL, pitch=50, pitch_range=50,
                     word_gap=0, attach_closures=False)


def _synthesize_here(texts: list[str], voice_file: str, **kwargs) -> list[Speech]:
    """Synthesis in this process; ``voice_file`` as returned by :func:`resolve_voice`."""
    return [_synthesize_one(text, voice_file, **kwargs) for text in texts]


def _synthesize_one(text: str, voice_file: str, *, rate: int, pitch: int, pitch_range: int, word_gap: int,
                    attach_closures: bool) -> Speech:
    """One text, in this process (state carries over from the previous call)."""
    data = text.encode("utf-8")
    with _LOCK:
        engine = _engine()
        if engine.lib.espeak_SetVoiceByName(voice_file.encode()) != EE_OK:
            raise TalkingHeadError(f"espeak-ng could not select voice {voice_file!r}")
        _set_parameters(engine.lib, rate, pitch, pitch_range, word_gap)
        engine.chunks, engine.events = [], []
        status = engine.lib.espeak_Synth(data, len(data) + 1, 0, POS_CHARACTER, 0, CHARS_UTF8, None, None)
        engine.lib.espeak_Synchronize()
        chunks, raw_events = engine.chunks, engine.events
        engine.chunks, engine.events = [], []
        rate_hz = engine.sample_rate
    if status != EE_OK or not chunks:
        raise TalkingHeadError(f"espeak-ng failed to synthesise {text[:40]!r} (status {status})")
    audio = (np.concatenate(chunks).astype(np.float32) / 32768.0)  # (N,)
    duration_s = len(audio) / rate_hz
    phonemes = [(ms / 1000.0, sym) for kind, ms, _, _, sym in raw_events if kind == EVENT_PHONEME and sym]
    events = events_from_starts([s for _, s in phonemes], [t for t, _ in phonemes], duration_s)
    if attach_closures:
        events = attach_stop_closures(events, audio, rate_hz)
    check_events(events, duration_s)
    words = [WordEvent(data[pos - 1:pos - 1 + length].decode("utf-8", "replace"), ms / 1000.0)
             for kind, ms, pos, length, _ in raw_events if kind == EVENT_WORD]
    return Speech(audio, rate_hz, events, ESPEAK_PHONESET, words)


def _window_rms(audio: np.ndarray, sample_rate: int, step_s: float) -> np.ndarray:
    """RMS of consecutive ``step_s`` windows, (W,)."""
    step = max(1, int(round(step_s * sample_rate)))
    usable = len(audio) // step * step
    frames = audio[:usable].reshape(-1, step)  # (W, step)
    return np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))


def attach_stop_closures(events: list[PhonemeEvent], audio: np.ndarray, sample_rate: int,
                         stops: frozenset[str] = UNVOICED_STOPS) -> list[PhonemeEvent]:
    """Move the start of each stop in ``stops`` back over the silent closure just before it.

    A 5 ms window counts as closed when its RMS is below ``CLOSURE_SILENCE_RATIO`` of the
    utterance's 95th-percentile window RMS; the scan stops at ``MAX_CLOSURE_S`` and leaves the
    previous segment at least ``MIN_SEGMENT_LEFT_S``.
    """
    rms = _window_rms(audio, sample_rate, CLOSURE_STEP_S)  # (W,)
    if len(rms) == 0:
        return list(events)
    threshold = CLOSURE_SILENCE_RATIO * float(np.percentile(rms, 95))
    out = list(events)
    for i in range(1, len(out)):
        if out[i].symbol not in stops:
            continue
        prev = out[i - 1]
        limit = max(prev.start_s + MIN_SEGMENT_LEFT_S, out[i].start_s - MAX_CLOSURE_S)
        start = out[i].start_s
        while start - CLOSURE_STEP_S >= limit:
            w = int(np.floor((start - CLOSURE_STEP_S) / CLOSURE_STEP_S + 1e-6))  # window holding that 5 ms
            if w >= len(rms) or rms[w] >= threshold:
                break
            start -= CLOSURE_STEP_S
        if start < out[i].start_s:
            out[i - 1] = PhonemeEvent(prev.symbol, prev.start_s, start)
            out[i] = PhonemeEvent(out[i].symbol, start, out[i].end_s)
    return out

