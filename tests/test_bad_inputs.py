"""Every case of the bad-input corpus (tests/badinputs.py) through the API and the CLI: a whole mp4 of
the right length, or the documented TalkingHeadError with a message saying what to do (CLI: exit 2,
one line, no traceback); never a half-written output or a temporary file left beside it."""

from __future__ import annotations

import warnings

import av
import numpy as np
import pytest

import talkinghead
from talkinghead.diffusion.sampler import SamplerConfig
from talkinghead.errors import InvalidAudioError, TalkingHeadError
from talkinghead.pipeline import PipelineConfig, TalkingHead

from conftest import save_tiny_motion_model
from badinputs import (HOUR_S, LIMIT_ENV, SAMPLE_RATE, SHORT_SPEECH_S, build_corpus, exif_upright, mp4_duration_s,
                       run_api, run_cli)

STEPS = 2  # denoising steps: the handling of inputs does not depend on them


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return {case.name: case for case in build_corpus(tmp_path_factory.mktemp("corpus"))}


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> str:
    """What is tested is input handling: a tiny random model whose motion stays at its mean, so the
    extreme-but-valid controls case stays in range as with the shipped model."""
    return save_tiny_motion_model(tmp_path_factory.mktemp("ckpt") / "tiny.safetensors", perturb=0.0)


@pytest.fixture(scope="module")
def th(tiny_model):
    return TalkingHead(PipelineConfig(motion_model=tiny_model, sampler=SamplerConfig(steps=STEPS)))


def _video_size(path) -> tuple[int, int]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return stream.height, stream.width


def _check_api(th, corpus, kind, tmp_path) -> list:
    outcomes = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # silent audio and several faces warn: expected here
        for case in corpus.values():
            if case.kind == kind:
                outcomes.append(run_api(th, case, tmp_path))
    failed = [f"{o.case.name}: expected {o.case.expect}, got {o.status} {o.message!r} duration={o.duration_s} "
              f"leftovers={o.leftovers}" for o in outcomes if not o.handled]
    assert not failed, "\n".join(failed)
    for o in outcomes:
        if o.status != "ok":
            assert not (tmp_path / "api" / o.case.name.replace("/", "__") / o.case.output).is_file()
    return outcomes


def test_bad_images_through_the_api(th, corpus, tmp_path):
    outcomes = _check_api(th, corpus, "image", tmp_path)
    for o in outcomes:  # a whole photo comes out, upright, the size it is shown at
        if o.status == "ok":
            height, width = talkinghead.load_image(o.case.path).shape[:2]
            assert _video_size(tmp_path / "api" / o.case.name.replace("/", "__") / "out.mp4") == \
                (height - height % 2, width - width % 2), o.case.name
    by_name = {o.case.name: o for o in outcomes}
    assert "resize it first" in by_name["image/8000x8000"].message
    assert "one face is clearly visible" in by_name["image/no-face"].message


def test_exif_orientation_is_applied(corpus):
    upright = exif_upright()
    loaded = talkinghead.load_image(corpus["image/exif-rotated"].path)
    assert loaded.shape == upright.shape  # (512, 400, 3), not the stored (400, 512, 3)
    assert np.abs(loaded.astype(np.int16) - upright).mean() < 4  # JPEG loss only


def test_bad_audio_through_the_api(th, corpus, tmp_path):
    outcomes = _check_api(th, corpus, "audio", tmp_path)
    by_name = {o.case.name: o for o in outcomes}
    assert "NaN" in by_name["audio/nan-inf"].message
    assert "TALKINGHEAD_MAX_AUDIO_SECONDS" in by_name["audio/1-hour-plus-1s"].message


def test_one_hour_is_refused_from_the_header_and_accepted_at_the_default_limit(corpus):
    import time

    hour = corpus["audio/1-hour-lowered-limit"].path
    start = time.perf_counter()
    with pytest.raises(talkinghead.InputLimitError, match="limit is 600 s"):
        talkinghead.load_audio(hour, max_seconds=600)
    assert time.perf_counter() - start < 0.5, "the length comes from the header: nothing is decoded"
    with pytest.warns(UserWarning, match="silent"):
        audio = talkinghead.load_audio(hour, max_seconds=talkinghead.Limits().max_audio_seconds)
    assert audio.dtype == np.float32 and len(audio) == HOUR_S * SAMPLE_RATE


def test_bad_controls_through_the_api(th, corpus, tmp_path):
    outcomes = _check_api(th, corpus, "controls", tmp_path)
    by_name = {o.case.name: o for o in outcomes}
    assert "known controls" in by_name["controls/unknown-name"].message
    assert "[0.0, 2.0]" in by_name["controls/pose-scale-out-of-range"].message


def test_bad_outputs_through_the_api(th, corpus, tmp_path):
    _check_api(th, corpus, "output", tmp_path)


def test_module_level_generate_checks_the_output_first(th, corpus, tmp_path, monkeypatch):
    """``talkinghead.generate``: bad output paths fail before any work; a good call writes the mp4."""
    calls = []
    monkeypatch.setattr(talkinghead.pipeline, "_shared_pipeline", lambda *a, **k: calls.append(a) or th)
    case = corpus["controls/unknown-name"]  # its portrait and audio are valid
    with pytest.raises(talkinghead.VideoWriteError, match="does not exist"):
        talkinghead.generate(case.portrait, case.audio, tmp_path / "nope" / "out.mp4")
    with pytest.raises(talkinghead.InvalidControlError, match="motion output"):
        talkinghead.generate(case.portrait, case.audio, tmp_path / "out.mp4", motion_out=tmp_path / "m.txt")
    assert not calls, "nothing may load or run before the output is checked"
    with pytest.raises(InvalidAudioError):
        talkinghead.generate(case.portrait, corpus["audio/text-as-wav"].path, tmp_path / "out.mp4")
    path = talkinghead.generate(case.portrait, case.audio, tmp_path / "out.mp4", motion_out=tmp_path / "m.csv")
    assert abs(mp4_duration_s(path) - SHORT_SPEECH_S) < 0.05 and (tmp_path / "m.csv").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.csv", "out.mp4"]


@pytest.mark.parametrize("failure", [RuntimeError("renderer failed"), KeyboardInterrupt()])
def test_failure_mid_video_leaves_nothing(th, corpus, tmp_path, failure):
    case = corpus["audio/stereo"]  # 15 frames
    result = th.generate(case.portrait, case.audio)
    real_frames = result.frames

    def failing_frames():
        for i, frame in enumerate(real_frames()):
            if i == 10:
                raise failure
            yield frame

    result.frames = failing_frames
    with pytest.raises(type(failure)):
        th.save(result, tmp_path / "out.mp4")
    assert list(tmp_path.iterdir()) == [], "no output and no temporary file may remain"


def _run_cli_in_process(case, workdir, model, capsys, monkeypatch) -> tuple[int, str]:
    from talkinghead.cli.main import main

    run_dir = workdir / case.name.replace("/", "__")
    run_dir.mkdir(parents=True)
    argv = ["generate", "--portrait", str(case.portrait), "--audio", str(case.audio), "-o",
            str(run_dir / case.output), "--model", model, *case.cli_args]
    with monkeypatch.context() as m:
        for name, value in case.limits.items():
            m.setenv(LIMIT_ENV[name], str(value))
        try:
            code = main(argv)
        except SystemExit as e:  # argparse refusing a flag
            code = e.code
    err = capsys.readouterr().err
    assert not list(run_dir.iterdir()), f"{case.name}: left {list(run_dir.iterdir())}"
    return code, err


def test_every_failing_case_through_the_cli_main(th, corpus, tiny_model, tmp_path, capsys, monkeypatch):
    """In-process (fast: these fail before any model loads): exit 2, one error line, the API's message."""
    failed = []
    api_messages = {}
    for case in corpus.values():
        if case.expect == "ok" or case.cli_args is None:
            continue
        code, err = _run_cli_in_process(case, tmp_path / "cli", tiny_model, capsys, monkeypatch)
        lines = [line for line in err.splitlines() if line.strip()]
        if code != 2 or len(lines) != 1 or "error: " not in lines[0]:
            failed.append(f"{case.name}: exit {code}, stderr {err!r}")
            continue
        if case.expect_cli == "usage":
            assert "--help" in lines[0], lines[0]
        elif case.kind in ("image", "audio", "controls"):  # the same message as the API raises
            if case.name not in api_messages:
                api_messages[case.name] = run_api(th, case, tmp_path / "api").message
            if api_messages[case.name] not in lines[0]:
                failed.append(f"{case.name}: CLI says {lines[0]!r}, API says {api_messages[case.name]!r}")
    assert not failed, "\n".join(failed)


def test_representative_cases_through_the_cli_process(corpus, tiny_model, tmp_path):
    """``talkinghead generate`` as a user runs it, on one case per kind plus one that succeeds (each call
    is a new process that imports torch; the ok one loads the models)."""
    outcomes = [run_cli(case, tmp_path, tiny_model) for case in corpus.values() if case.cli]
    failed = [f"{o.case.name}: expected {o.case.expect_cli}, got {o.status}: {o.message}" for o in outcomes
              if not o.handled]
    assert not failed, "\n".join(failed)
    assert {o.case.kind for o in outcomes} == {"image", "audio", "controls"}
    assert sum(o.status == "ok" for o in outcomes) >= 1
    print("\nCLI process seconds: " + ", ".join(f"{o.case.name} {o.seconds:.1f}" for o in outcomes))


def test_error_types_are_documented(corpus):
    """Every error a corpus case expects is exported from talkinghead, documented, a TalkingHeadError."""
    names = {case.expect for case in corpus.values()} - {"ok"}
    assert names >= {"InvalidImageError", "NoFaceError", "InvalidAudioError", "InputLimitError",
                     "InvalidControlError", "VideoWriteError"}
    for name in names:
        error = getattr(talkinghead, name)
        assert issubclass(error, TalkingHeadError) and error.__doc__, name
