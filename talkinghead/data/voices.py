"""The synthetic voices, their train / held-out split, and one call to synthesise with any of them.

A voice id is ``engine:name``: ``espeak:en-gb-scotland+f2``, ``flite:slt``,
``festival:kal_diphone``. The split is by voice, so held-out voices never appear in
training, in four ways (``group``):

* ``heldout_variant``: a training accent with an espeak variant (timbre) never trained on;
* ``heldout_accent``: an accent (pronunciation rules) never trained on, with training variants;
* ``heldout_both``: unseen accent and unseen variant;
* ``heldout_speaker``: flite voices (rms, kal16, kal) whose speakers are not in training;
  ``heldout_engine``: festival, an engine never trained on.

========================  ==============================================================
train espeak accents      en-us, en-gb, en-gb-x-rp, en-gb-scotland, en-029
held-out espeak accents   en-us-nyc, en-gb-x-gbclan, en-gb-x-gbcwmd
train variants            (default), m1 m2 m3 m5 m7 f1 f2 f5 klatt klatt2 klatt4 Alex Andy
                          Annie Alicia anika aunty belinda david edward Gene john Lee linda
                          max Michael norbert pablo steph travis grandpa
held-out variants         m4 m6 f3 f4 klatt3 Andrea grandma shelby steph3 quincy paul robert
train flite               slt (US female), awb (Scottish male)
held-out flite            rms (US male), kal16, kal (US male diphone, 16 / 8 kHz)
held-out festival         kal_diphone
========================  ==============================================================

Synthesis parameters are drawn per clip (:func:`sample_params`): espeak rate 130-260
wpm, base pitch 25-75 and pitch range 20-90 (espeak units 0-100); flite/festival tempo
0.8-1.3 and pitch x0.85-1.2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import TalkingHeadError
from . import espeak, festival, flite
from .speech import Speech

ESPEAK_TRAIN_ACCENTS = ("en-us", "en-gb", "en-gb-x-rp", "en-gb-scotland", "en-029")
ESPEAK_HELDOUT_ACCENTS = ("en-us-nyc", "en-gb-x-gbclan", "en-gb-x-gbcwmd")
ESPEAK_TRAIN_VARIANTS = ("", "m1", "m2", "m3", "m5", "m7", "f1", "f2", "f5", "klatt", "klatt2", "klatt4",
                         "Alex", "Andy", "Annie", "Alicia", "anika", "aunty", "belinda", "david", "edward",
                         "Gene", "john", "Lee", "linda", "max", "Michael", "norbert", "pablo", "steph",
                         "travis", "grandpa")
ESPEAK_HELDOUT_VARIANTS = ("m4", "m6", "f3", "f4", "klatt3", "Andrea", "grandma", "shelby", "steph3",
                           "quincy", "paul", "robert")
FLITE_TRAIN = ("slt", "awb")
FLITE_HELDOUT = ("rms", "kal16", "kal")
FESTIVAL_HELDOUT = ("kal_diphone",)
ENGINES = ("espeak", "flite", "festival")
SPLITS = ("train", "heldout")

ESPEAK_RATE_WPM = (130, 260)
ESPEAK_PITCH = (25, 75)
ESPEAK_PITCH_RANGE = (20, 90)
TEMPO = (0.8, 1.3)
PITCH_SCALE = (0.85, 1.2)


@dataclass(frozen=True)
class Voice:
    """One synthetic voice: ``engine`` and the engine's ``name`` for it, its split and held-out group."""

    engine: str
    name: str
    group: str

    @property
    def id(self) -> str:
        return f"{self.engine}:{self.name}"

    @property
    def split(self) -> str:
        return "train" if self.group == "train" else "heldout"


def _espeak_voices() -> list[Voice]:
    out = []
    for accents, accent_train in ((ESPEAK_TRAIN_ACCENTS, True), (ESPEAK_HELDOUT_ACCENTS, False)):
        for variants, variant_train in ((ESPEAK_TRAIN_VARIANTS, True), (ESPEAK_HELDOUT_VARIANTS, False)):
            group = {(True, True): "train", (True, False): "heldout_variant",
                     (False, True): "heldout_accent", (False, False): "heldout_both"}[accent_train, variant_train]
            out += [Voice("espeak", a + (f"+{v}" if v else ""), group) for a in accents for v in variants]
    return out


def all_voices() -> list[Voice]:
    """Every voice of the registry, installed or not."""
    return (_espeak_voices()
            + [Voice("flite", n, "train") for n in FLITE_TRAIN]
            + [Voice("flite", n, "heldout_speaker") for n in FLITE_HELDOUT]
            + [Voice("festival", n, "heldout_engine") for n in FESTIVAL_HELDOUT])


def _installed(voice: Voice) -> bool:
    if voice.engine == "espeak":
        return espeak.available()
    if voice.engine == "flite":
        return flite.available() and voice.name in flite.list_voices()
    return festival.available() and voice.name in festival.list_voices()


def list_voices(split: str | None = None, installed_only: bool = True) -> list[Voice]:
    """Registered voices of ``split`` (``train``, ``heldout`` or None for all), by default only installed ones."""
    if split is not None and split not in SPLITS:
        raise TalkingHeadError(f"unknown voice split {split!r}; use one of {SPLITS}")
    installed: dict[str, bool] = {}
    out = []
    for voice in all_voices():
        if split is not None and voice.split != split:
            continue
        key = voice.engine if voice.engine == "espeak" else voice.id
        if installed_only and not installed.setdefault(key, _installed(voice)):
            continue
        out.append(voice)
    return out


def parse_voice(voice: str | Voice) -> Voice:
    """A :class:`Voice` from an id (``espeak:en-us+f3``); unregistered espeak voices get group ``custom``."""
    if isinstance(voice, Voice):
        return voice
    engine, sep, name = voice.partition(":")
    if not sep or engine not in ENGINES or not name:
        raise TalkingHeadError(f"voice id {voice!r} must be 'engine:name' with engine in {ENGINES}, "
                               "e.g. 'espeak:en-us+f3', 'flite:slt', 'festival:kal_diphone'")
    for known in all_voices():
        if known.id == voice:
            return known
    return Voice(engine, name, "custom")


def sample_params(voice: Voice, rng: np.random.Generator) -> dict:
    """Random synthesis parameters for ``voice`` (JSON-safe keyword arguments of its engine)."""
    if voice.engine == "espeak":
        return {"rate": int(rng.integers(ESPEAK_RATE_WPM[0], ESPEAK_RATE_WPM[1] + 1)),
                "pitch": int(rng.integers(ESPEAK_PITCH[0], ESPEAK_PITCH[1] + 1)),
                "pitch_range": int(rng.integers(ESPEAK_PITCH_RANGE[0], ESPEAK_PITCH_RANGE[1] + 1))}
    return {"tempo": float(rng.uniform(*TEMPO)), "pitch_scale": float(rng.uniform(*PITCH_SCALE))}


def synthesize_speech(voice: str | Voice, text: str, **params) -> Speech:
    """Speak ``text`` with ``voice`` (id or :class:`Voice`); ``params`` go to the engine's ``synthesize``."""
    return synthesize_many(voice, [text], **params)[0]


def synthesize_many(voice: str | Voice, texts: list[str], **params) -> list[Speech]:
    """Speak each of ``texts`` with ``voice``; reproducible for the same list (espeak: one isolated call)."""
    voice = parse_voice(voice)
    if voice.engine == "espeak":
        return espeak.synthesize_many(texts, voice.name, **params)
    engine = flite if voice.engine == "flite" else festival
    return [engine.synthesize(text, voice.name, **params) for text in texts]
