"""flite (CMU Flite 2.x) through its C library (ctypes), with segment times from the utterance.

``flite_synth_text`` returns a ``cst_utterance``; its ``Segment`` relation lists the
phones (lower-case ARPAbet: ``pau``, ``hh``, ``ax`` ...) each with an ``end`` time in
seconds, and ``utt_wave`` the 16-bit wave. Unlike espeak, a stop's segment already
includes its closure. The voices are separate libraries (``libflite_cmu_us_<name>.so.1``,
Debian package ``flite``/``libflite1``); :func:`list_voices` reports those that load.

Speaking rate is the voice feature ``duration_stretch``; pitch is
``int_f0_target_mean`` (Hz), which the clustergen voices (slt, awb) and the diphone
voices (kal, kal16) honour and ``rms`` ignores.

Reproducibility: the clustergen voices draw excitation noise from the C library's
``rand()``; each call reseeds it (``srand(RAND_SEED)``), so the same text and parameters
give the same samples.

Thread-safety: voices and their features are process globals of the library, so every
call holds the module lock ``_LOCK``.
"""

from __future__ import annotations

import ctypes
import threading

import numpy as np

from ..errors import DependencyError, TalkingHeadError
from .speech import ARPABET_PHONESET, Speech, WordEvent, check_events, events_from_ends

LIBRARY_NAME = "libflite.so.1"
VOICE_LIBRARY = "libflite_cmu_us_{name}.so.1"
# Full-domain US English voices of flite 2.2 (awb_time is a limited-domain clock voice, left out).
KNOWN_VOICES = ("slt", "rms", "awb", "kal16", "kal")
# Median F0 of each voice's own output in Hz (measured with librosa.yin on a test sentence),
# the reference that ``pitch_scale`` multiplies.
NOMINAL_F0_HZ = {"slt": 165.0, "rms": 101.0, "awb": 117.0, "kal16": 92.0, "kal": 95.0}
RAND_SEED = 12345  # srand() seed before every synthesis

_LOCK = threading.RLock()
# flite's feature lists keep the *pointer* to a feature's name (it expects C string literals),
# so the names we set live here for the life of the process.
_FEATURE_NAMES = {name: name.encode() for name in ("duration_stretch", "int_f0_target_mean")}


class _Wave(ctypes.Structure):
    """cst_wave."""

    _fields_ = [("type", ctypes.c_char_p), ("sample_rate", ctypes.c_int), ("num_samples", ctypes.c_int),
                ("num_channels", ctypes.c_int), ("samples", ctypes.POINTER(ctypes.c_short))]


class _VoiceStruct(ctypes.Structure):
    """The leading fields of cst_voice (name, features)."""

    _fields_ = [("name", ctypes.c_char_p), ("features", ctypes.c_void_p)]


class _Flite:
    """The loaded core library and the voices registered so far."""

    def __init__(self) -> None:
        try:
            lib = ctypes.CDLL(LIBRARY_NAME)
        except OSError as e:
            raise DependencyError(
                "the flite C library (libflite.so.1) was not found; install it "
                "(Debian/Ubuntu: apt-get install flite) or use the espeak-ng voices") from e
        _declare(lib)
        lib.flite_init()
        self.lib = lib
        self.voices: dict[str, _VoiceStruct] = {}
        self.defaults: dict[str, dict[str, float | None]] = {}

    def voice(self, name: str) -> _VoiceStruct:
        if name not in self.voices:
            if name not in KNOWN_VOICES:
                raise TalkingHeadError(f"unknown flite voice {name!r}; known voices: {', '.join(KNOWN_VOICES)}")
            try:
                voice_lib = ctypes.CDLL(VOICE_LIBRARY.format(name=name))
            except OSError as e:
                raise DependencyError(
                    f"flite voice {name!r} ({VOICE_LIBRARY.format(name=name)}) is not installed; "
                    f"installed voices: {', '.join(list_voices()) or 'none'}") from e
            register = getattr(voice_lib, f"register_cmu_us_{name}")
            register.restype = ctypes.POINTER(_VoiceStruct)
            register.argtypes = [ctypes.c_char_p]
            voice = register(None).contents
            self.voices[name] = voice
            self.defaults[name] = {key: self._get(voice, key) for key in ("duration_stretch", "int_f0_target_mean")}
        return self.voices[name]

    def _get(self, voice: _VoiceStruct, key: str) -> float | None:
        if not self.lib.feat_present(voice.features, _FEATURE_NAMES[key]):
            return None
        return float(self.lib.feat_float(voice.features, _FEATURE_NAMES[key]))

    def set_feature(self, voice: _VoiceStruct, key: str, value: float | None) -> None:
        if value is None:
            self.lib.feat_remove(voice.features, _FEATURE_NAMES[key])
        else:
            self.lib.feat_set_float(voice.features, _FEATURE_NAMES[key], float(value))


def _declare(lib: ctypes.CDLL) -> None:
    p, s, f = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_float
    for name, restype, argtypes in (
            ("flite_init", ctypes.c_int, []),
            ("flite_synth_text", p, [s, p]),
            ("utt_wave", ctypes.POINTER(_Wave), [p]),
            ("utt_relation", p, [p, s]),
            ("relation_head", p, [p]),
            ("item_next", p, [p]),
            ("item_feat_float", f, [p, s]),
            ("item_feat_string", s, [p, s]),
            ("ffeature_float", f, [p, s]),
            ("delete_utterance", None, [p]),
            ("feat_present", ctypes.c_int, [p, s]),
            ("feat_float", f, [p, s]),
            ("feat_set_float", None, [p, s, f]),
            ("feat_remove", ctypes.c_int, [p, s])):
        getattr(lib, name).restype = restype
        getattr(lib, name).argtypes = argtypes


_FLITE: _Flite | None = None
_C_LIBRARY = ctypes.CDLL(None)  # the process's C library, whose rand() flite uses
_C_LIBRARY.srand.argtypes = [ctypes.c_uint]
_C_LIBRARY.srand.restype = None


def _flite() -> _Flite:
    global _FLITE
    if _FLITE is None:
        _FLITE = _Flite()
    return _FLITE


def list_voices() -> list[str]:
    """The flite voices that can be loaded here (a subset of ``KNOWN_VOICES``)."""
    names = []
    for name in KNOWN_VOICES:
        try:
            ctypes.CDLL(VOICE_LIBRARY.format(name=name))
            names.append(name)
        except OSError:
            continue
    return names


def available() -> bool:
    """Whether libflite loads and at least one voice is installed."""
    try:
        with _LOCK:
            _flite()
    except DependencyError:
        return False
    return bool(list_voices())


def _items(lib: ctypes.CDLL, utterance: int, relation: bytes):
    rel = lib.utt_relation(utterance, relation)
    item = lib.relation_head(rel) if rel else None
    while item:
        yield item
        item = lib.item_next(item)


def synthesize(text: str, voice: str = "slt", *, tempo: float = 1.0, pitch_scale: float = 1.0) -> Speech:
    """Speak ``text`` with flite voice ``voice``; ``tempo`` > 1 speaks faster, ``pitch_scale`` scales F0.

    Returns :class:`Speech` at the voice's native rate (16000 Hz, 8000 Hz for ``kal``)
    with ARPAbet phonemes that tile the audio.
    """
    if not text.strip():
        raise TalkingHeadError("flite was asked to speak empty text; give at least one word")
    if not (0.3 <= tempo <= 3.0 and 0.5 <= pitch_scale <= 2.0):
        raise TalkingHeadError(f"flite tempo={tempo} must be in [0.3, 3] and pitch_scale={pitch_scale} in [0.5, 2]")
    with _LOCK:
        engine = _flite()
        v = engine.voice(voice)
        defaults = engine.defaults[voice]
        engine.set_feature(v, "duration_stretch", (defaults["duration_stretch"] or 1.0) / tempo)
        f0 = defaults["int_f0_target_mean"]
        engine.set_feature(v, "int_f0_target_mean", f0 if pitch_scale == 1.0 else
                           (f0 or NOMINAL_F0_HZ[voice]) * pitch_scale)
        lib = engine.lib
        _C_LIBRARY.srand(RAND_SEED)
        utterance = lib.flite_synth_text(text.encode("utf-8"), ctypes.addressof(v))
        if not utterance:
            raise TalkingHeadError(f"flite failed to synthesise {text[:40]!r}")
        try:
            wave = lib.utt_wave(utterance).contents
            audio = np.ctypeslib.as_array(wave.samples, shape=(wave.num_samples * wave.num_channels,))
            audio = audio.reshape(-1, wave.num_channels)[:, 0].astype(np.float32) / 32768.0  # (N,)
            rate = int(wave.sample_rate)
            segments = [(lib.item_feat_string(i, b"name").decode(), float(lib.item_feat_float(i, b"end")))
                        for i in _items(lib, utterance, b"Segment")]
            words = [WordEvent(lib.item_feat_string(i, b"name").decode(),
                               float(lib.ffeature_float(i, b"R:SylStructure.daughter1.daughter1.R:Segment.p.end")))
                     for i in _items(lib, utterance, b"Word")]
        finally:
            lib.delete_utterance(utterance)
    duration_s = len(audio) / rate
    events = events_from_ends([s for s, _ in segments], [e for _, e in segments], duration_s)
    check_events(events, duration_s)
    return Speech(audio, rate, events, ARPABET_PHONESET, words)
