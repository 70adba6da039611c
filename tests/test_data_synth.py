"""Synthetic speech data: engines with phoneme timing, text, visemes + coarticulation, prosody, augmentation."""

from __future__ import annotations

import ctypes.util
import re

import numpy as np
import pytest

from talkinghead.data import augment, espeak, festival, flite, prosody, text, visemes, voices
from talkinghead.data.speech import check_events
from talkinghead.data.synth import SynthConfig, clip_seed, synthesize_utterance
from talkinghead.errors import DependencyError, TalkingHeadError
from talkinghead.motion.channels import CHANNEL_INDEX, EXPRESSION_NAMES, MOTION_DIM, POSE_NAMES
from talkinghead.timing import FPS, SAMPLE_RATE, SAMPLES_PER_FRAME, num_frames

needs_espeak = pytest.mark.skipif(not espeak.available(), reason="libespeak-ng not installed")
needs_flite = pytest.mark.skipif(not flite.available(), reason="flite not installed")
needs_festival = pytest.mark.skipif(not festival.available(), reason="festival not installed")

E = {name: i for i, name in enumerate(EXPRESSION_NAMES)}
MOUTH = [E[n] for n in visemes.MOUTH_CURVE_CHANNELS]


def _frame_at(time_s: float, lead_s: float, frames: int) -> int:
    """The frame whose (lead-shifted) centre is closest to ``time_s``."""
    return int(np.clip(round((time_s - lead_s) * FPS - 0.5), 0, frames - 1))


def _curves(speech):
    frames = num_frames(int(round(speech.duration_s * SAMPLE_RATE)))
    return visemes.mouth_curves(speech.phonemes, speech.phoneset, frames), frames


def _assert_tiles(speech):
    starts = np.array([e.start_s for e in speech.phonemes])
    ends = np.array([e.end_s for e in speech.phonemes])
    assert len(speech.phonemes) > 3
    assert np.all(np.diff(starts) >= 0) and np.all(ends >= starts)
    assert starts[0] >= 0 and ends[-1] <= speech.duration_s + 1e-3
    np.testing.assert_allclose(starts[1:], ends[:-1], atol=1e-6)  # contiguous


@needs_espeak
def test_espeak_returns_audio_and_monotonic_phoneme_events():
    speech = espeak.synthesize("Bob met five people.", "en-us")
    assert speech.audio.dtype == np.float32 and speech.sample_rate == 22050
    assert 0.5 < speech.duration_s < 4.0 and 0.05 < np.abs(speech.audio).max() <= 1.0
    _assert_tiles(speech)
    symbols = [e.symbol for e in speech.phonemes]
    assert symbols.count("b") == 2 and "m" in symbols and "f" in symbols and "p" in symbols
    assert [w.text for w in speech.words] == ["Bob", "met", "five", "people"]
    # the vowel of "Bob" is voiced: its segment is louder than the silence that ends the text
    vowel = next(e for e in speech.phonemes if e.symbol == "0")
    seg = speech.audio[int(vowel.start_s * 22050):int(vowel.end_s * 22050)]
    assert np.sqrt(np.mean(seg ** 2)) > 0.05


@needs_espeak
def test_espeak_voices_variants_and_parameters():
    codes = {v.languages[0] for v in espeak.list_voices("en")}
    assert {"en-us", "en-gb", "en-gb-scotland"} <= codes
    assert {"f3", "m3", "klatt2"} <= set(espeak.list_variants())
    slow = espeak.synthesize("This is a test sentence.", "en-gb+f3", rate=110)
    fast = espeak.synthesize("This is a test sentence.", "en-gb+f3", rate=300)
    assert slow.duration_s > 1.6 * fast.duration_s
    with pytest.raises(TalkingHeadError, match="unknown espeak-ng variant"):
        espeak.synthesize("Hello.", "en-us+nosuchvariant")
    with pytest.raises(TalkingHeadError, match="unknown espeak-ng voice"):
        espeak.synthesize("Hello.", "xx-nowhere")
    with pytest.raises(TalkingHeadError, match="outside"):
        espeak.synthesize("Hello.", "en-us", rate=10)


@needs_espeak
def test_espeak_is_reproducible_whatever_was_spoken_before():
    first = espeak.synthesize("The same words again.", "en-gb+klatt2")
    espeak.synthesize("Something else entirely, at another rate.", "en-us+f3", rate=240)
    again = espeak.synthesize("The same words again.", "en-gb+klatt2")
    np.testing.assert_array_equal(first.audio, again.audio)
    assert first.phonemes == again.phonemes
    batch = espeak.synthesize_many(["The same words again.", "Two."], "en-gb+klatt2")
    np.testing.assert_array_equal(batch[0].audio, first.audio)
    assert len(batch) == 2 and batch[1].duration_s < first.duration_s


def test_espeak_missing_library_is_a_dependency_error(monkeypatch):
    monkeypatch.setattr(espeak, "_ENGINE", None)
    monkeypatch.setattr(espeak, "_VOICES", None)
    monkeypatch.setattr(espeak, "_VARIANTS", None)
    monkeypatch.setattr(espeak, "_VOICE_MAPS", None)
    monkeypatch.setattr(espeak, "LIBRARY_NAMES", ("libespeak-ng-does-not-exist.so.9",))
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    with pytest.raises(DependencyError, match="apt-get install libespeak-ng1"):
        espeak.synthesize("Hello.")
    assert not espeak.available()


@needs_espeak
def test_stop_closure_is_attached_to_voiceless_stops():
    raw = espeak.synthesize("a happy puppy", "en-us", attach_closures=False)
    fixed = espeak.synthesize("a happy puppy", "en-us")
    raw_p = [e for e in raw.phonemes if e.symbol == "p"]
    fixed_p = [e for e in fixed.phonemes if e.symbol == "p"]
    assert len(raw_p) == len(fixed_p) == 3
    assert all(f.start_s <= r.start_s for f, r in zip(fixed_p, raw_p))
    assert any(r.start_s - f.start_s >= 0.02 for f, r in zip(fixed_p, raw_p))
    for f in fixed_p:  # the attached stretch is the silent closure
        closure = fixed.audio[int(f.start_s * 22050):int((f.start_s + 0.015) * 22050)]
        assert np.sqrt(np.mean(closure ** 2)) < 0.05 * np.abs(fixed.audio).max()


@needs_flite
def test_flite_segments_tile_the_audio_and_tempo_changes_length():
    speech = flite.synthesize("Maybe the purple fish knew.", "slt")
    assert speech.sample_rate == 16000 and speech.phoneset == "arpabet"
    _assert_tiles(speech)
    assert {"m", "p", "f", "uw"} <= {e.symbol for e in speech.phonemes}
    slower = flite.synthesize("Maybe the purple fish knew.", "slt", tempo=0.7)
    assert slower.duration_s > 1.25 * speech.duration_s


@needs_festival
def test_festival_segments_tile_the_audio():
    speech = festival.synthesize('Say "bob" twice.', "kal_diphone")
    assert speech.phoneset == "arpabet"
    _assert_tiles(speech)
    assert [e.symbol for e in speech.phonemes].count("b") == 2


@needs_espeak
def test_every_phoneme_of_every_registered_voice_has_a_viseme():
    sentences = [item.utterance.text for item in text.generate_script(5, 12)]
    sentences.append("Thirty-three judges measured the vision of Joy's church, ahh, yes.")
    accents = voices.ESPEAK_TRAIN_ACCENTS + voices.ESPEAK_HELDOUT_ACCENTS
    for i, accent in enumerate(accents):
        for sentence in sentences[i::2]:
            speech = espeak.synthesize(sentence, accent)
            assert visemes.unknown_symbols(speech.phonemes, speech.phoneset) == [], (accent, sentence)
    if flite.available():
        speech = flite.synthesize(" ".join(sentences[:6]), "awb")
        assert visemes.unknown_symbols(speech.phonemes, speech.phoneset) == []


@needs_espeak
@pytest.mark.parametrize("voice", ["en-us", "en-gb+f3"])
def test_bilabials_close_the_lips(voice):
    speech = espeak.synthesize("Bob bought a maple bubble pump, mom.", voice)
    curves, frames = _curves(speech)
    lead = visemes.CoarticulationConfig().lip_lead_s
    bilabials = [e for e in speech.phonemes if e.symbol in ("p", "b", "m")]
    assert len(bilabials) >= 9
    for e in bilabials:
        window = range(_frame_at(e.start_s, lead, frames), _frame_at(e.end_s, lead, frames) + 1)
        best = max(window, key=lambda i: curves[i, E["mouthClose"]])
        assert curves[best, E["mouthClose"]] > 0.6, e
        assert curves[best, E["mouthPressLeft"]] > 0.4 and curves[best, E["mouthPressRight"]] > 0.4, e
        assert curves[best, E["jawOpen"]] < 0.3, e
    assert curves[:, E["jawOpen"]].max() > 0.45  # the vowels between the closures still open the jaw


@needs_espeak
def test_vowel_height_drives_the_jaw_and_lips_take_their_shapes():
    speech = espeak.synthesize("far, father, car, see, feet, key, who, two, five, vivid.", "en-us", rate=130)
    curves, frames = _curves(speech)
    lead = visemes.CoarticulationConfig().lip_lead_s

    def at(symbols, channel):
        return [curves[_frame_at((e.start_s + e.end_s) / 2, lead, frames), E[channel]]
                for e in speech.phonemes if e.symbol in symbols]

    open_jaw, high_jaw = at({"A:", "aa"}, "jawOpen"), at({"i:"}, "jawOpen")
    assert open_jaw and high_jaw
    assert min(open_jaw) > 0.4 and max(high_jaw) < 0.3 and np.mean(open_jaw) > np.mean(high_jaw) + 0.25
    assert min(at({"u:"}, "mouthPucker")) > 0.4
    assert min(at({"i:"}, "mouthStretchLeft")) > 0.15
    assert min(at({"f", "v"}, "mouthRollLower")) > 0.35


def test_curves_rest_in_silence_and_are_smooth():
    from talkinghead.data.speech import PhonemeEvent
    events = [PhonemeEvent("_", 0.0, 0.5)]
    t = 0.5
    for symbol, dur in [("b", 0.06), ("A:", 0.15), ("p", 0.08), ("u:", 0.12), ("_", 0.8), ("m", 0.07),
                        ("i:", 0.1), ("_", 0.6)]:
        events.append(PhonemeEvent(symbol, t, t + dur))
        t += dur
    frames = num_frames(int(t * SAMPLE_RATE))
    curves = visemes.mouth_curves(events, "espeak", frames)
    assert curves.shape == (frames, len(EXPRESSION_NAMES)) and curves.dtype == np.float32
    # rest: well inside the pauses (the mouth leads the sound by lip_lead_s and anticipates)
    rest = [i for i in range(frames) if i / FPS < 0.3 or 1.1 < i / FPS < 1.5 or i / FPS > 2.1]
    assert np.abs(curves[rest][:, MOUTH]).max() < 0.05
    assert curves[:, E["eyeBlinkLeft"]].max() == 0 and curves[:, E["browInnerUp"]].max() == 0
    assert np.abs(np.diff(curves, 2, axis=0)).max() < 1.0


@needs_espeak
def test_clip_layout_alignment_and_determinism():
    a = synthesize_utterance(11, "espeak:en-gb+m3")
    b = synthesize_utterance(11, "espeak:en-gb+m3")
    c = synthesize_utterance(12, "espeak:en-gb+m3")
    assert a.motion.shape == (a.num_frames, MOTION_DIM) and a.motion.dtype == np.float32
    assert len(a.audio) == len(a.clean_audio) == a.num_frames * SAMPLES_PER_FRAME
    assert a.audio.dtype == np.float32 and a.num_frames == num_frames(len(a.audio))
    check_events(a.phonemes, a.duration_s)
    np.testing.assert_array_equal(a.audio, b.audio)
    np.testing.assert_array_equal(a.motion, b.motion)
    assert a.metadata == b.metadata and a.phonemes == b.phonemes
    assert a.metadata["text"] != c.metadata["text"]
    assert a.metadata["voice"] == "espeak:en-gb+m3" and a.metadata["voice_split"] == "train"
    assert a.metadata["unknown_phonemes"] == []
    assert np.all(a.motion[:, CHANNEL_INDEX["eyeBlinkLeft"]] == 0)  # no blinks
    assert np.abs(a.motion[:, CHANNEL_INDEX["gazeX"]]).max() < 0.3
    # without augmentation: same text, voice and motion; clean audio untouched
    d = synthesize_utterance(11, "espeak:en-gb+m3", config=SynthConfig(augment=False))
    np.testing.assert_array_equal(d.motion, a.motion)
    np.testing.assert_array_equal(d.audio, a.clean_audio)
    assert d.metadata["augmentation"] == []


@needs_espeak
def test_energy_envelope_correlates_with_jaw_and_motion_is_smooth():
    rs = []
    for i in range(4):
        clip = synthesize_utterance(clip_seed(3, i), "espeak:en-us+f2")
        envelope = np.sqrt(np.mean(clip.clean_audio.reshape(clip.num_frames, SAMPLES_PER_FRAME) ** 2, axis=1))
        jaw = clip.motion[:, CHANNEL_INDEX["jawOpen"]]
        # the mouth leads the sound by lip_lead_s (one frame): compare jaw[i] with envelope[i + lag]
        rs.append(max(np.corrcoef(envelope[lag:], jaw[:len(jaw) - lag])[0, 1] for lag in (0, 1, 2)))
        d2 = np.abs(np.diff(clip.motion, 2, axis=0))
        assert d2[:, 6:35].max() < 1.0  # expressions, per frame^2
        assert d2[:, :3].max() < 2.0  # yaw/pitch/roll, degrees per frame^2
    assert min(rs) > 0.4 and np.mean(rs) > 0.55, rs


@needs_espeak
def test_prosody_moves_head_and_brows_with_speech():
    clip = synthesize_utterance(4, "espeak:en-us", config=SynthConfig(utterances=(3, 3), augment=False))
    m = clip.motion
    pose = m[:, :3]
    assert 0.3 < np.abs(pose).max() < 20
    assert np.std(m[:, CHANNEL_INDEX["scale"]]) < 0.05 and abs(np.mean(m[:, CHANNEL_INDEX["scale"]]) - 1) < 0.05
    info = clip.metadata["prosody"]
    assert info["nods"] >= 1 and 0.2 < info["speaking_fraction"] < 0.95
    brows = m[:, [CHANNEL_INDEX[n] for n in ("browInnerUp", "browOuterUpLeft", "browOuterUpRight")]]
    assert brows.min() >= 0 and brows.max() <= 1
    features = prosody.prosody_features(clip.clean_audio, clip.num_frames)
    assert np.nanstd(features.f0_semitones) > 0.5  # espeak's intonation is seen by the pitch tracker
    assert not features.speaking[:5].any()  # the lead-in silence
    assert set(POSE_NAMES) <= set(CHANNEL_INDEX)


def test_text_generator_is_varied_and_deterministic():
    script = text.generate_script(7, 300)
    assert script == text.generate_script(7, 300)
    assert script != text.generate_script(8, 300)
    words = {w.lower() for item in script for w in re.findall(r"[A-Za-z']+", item.utterance.text)}
    assert len(words) > 300
    assert len({item.utterance.text for item in script}) > 250
    kinds = {item.utterance.kind for item in script}
    assert kinds == {"statement", "question", "list", "number", "exclamation", "short", "compound"}
    assert sum(item.utterance.is_question for item in script) > 30
    assert any(re.search(r"\d", item.utterance.text) for item in script)
    lengths = [len(item.utterance.text.split()) for item in script]
    assert min(lengths) <= 2 and max(lengths) >= 18
    pauses = np.array([item.pause_after_s for item in script])
    assert pauses.min() >= 0.15 and pauses.max() <= 2.5 and (pauses > 1.0).mean() > 0.05


def test_augmentation_is_deterministic_keeps_length_and_hits_the_snr():
    rng = np.random.default_rng(0)
    t = np.arange(SAMPLE_RATE * 2) / SAMPLE_RATE
    speechlike = (0.3 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 3 * t) > 0)).astype(np.float32)
    out1, meta1 = augment.augment(speechlike, SAMPLE_RATE, np.random.default_rng(5))
    out2, meta2 = augment.augment(speechlike, SAMPLE_RATE, np.random.default_rng(5))
    np.testing.assert_array_equal(out1, out2)
    assert meta1 == meta2 and meta1[-1]["type"] == "gain" and len(out1) == len(speechlike)
    assert np.abs(out1).max() <= augment.PEAK_LIMIT + 1e-6
    noisy = augment.add_noise(speechlike.astype(np.float64), rng, 10.0, "white")
    active = np.abs(speechlike) > 0.003
    snr = 10 * np.log10(np.mean(speechlike[active] ** 2) / np.mean((noisy - speechlike) ** 2))
    assert abs(snr - 10.0) < 1.5
    low = np.sin(2 * np.pi * 100 * t)
    assert np.std(augment.telephone(low, SAMPLE_RATE)) < 0.2 * np.std(low)
    assert len(augment.resample_round_trip(speechlike, SAMPLE_RATE, 8000)) == len(speechlike)
    rir = augment.room_impulse_response(rng, SAMPLE_RATE, 0.5)
    assert abs(np.sum(rir ** 2) - 1) < 1e-6 and len(rir) == int(0.6 * SAMPLE_RATE)
    kinds = {step["type"] for seed in range(40)
             for step in augment.augment(speechlike, SAMPLE_RATE, np.random.default_rng(seed))[1]}
    assert kinds == {"reverb", "telephone", "resample", "noise", "gain"}


def test_voice_split_holds_out_accents_variants_and_speakers():
    registry = voices.all_voices()
    train = [v for v in registry if v.split == "train"]
    heldout = [v for v in registry if v.split == "heldout"]
    assert train and heldout and not {v.id for v in train} & {v.id for v in heldout}
    assert {v.group for v in heldout} == {"heldout_variant", "heldout_accent", "heldout_both",
                                          "heldout_speaker", "heldout_engine"}
    for v in train:
        if v.engine == "espeak":
            accent, _, variant = v.name.partition("+")
            assert accent not in voices.ESPEAK_HELDOUT_ACCENTS and variant not in voices.ESPEAK_HELDOUT_VARIANTS
    assert not set(voices.FLITE_TRAIN) & set(voices.FLITE_HELDOUT)
    assert voices.parse_voice("espeak:en-us+f3").group == "heldout_variant"
    with pytest.raises(TalkingHeadError, match="engine:name"):
        voices.parse_voice("en-us")


@needs_espeak
def test_registered_espeak_voices_all_resolve():
    for v in voices.all_voices():
        if v.engine == "espeak":
            espeak.resolve_voice(v.name)  # raises on an unknown accent or variant


@needs_espeak
def test_heldout_split_draws_only_heldout_voices():
    drawn = {synthesize_utterance(seed, split="heldout",
                                  config=SynthConfig(utterances=(1, 1), augment=False)).metadata["voice_split"]
             for seed in range(3)}
    assert drawn == {"heldout"}
