"""End to end: astronaut + espeak-ng speech -> mp4 through the public API and the CLI."""

from __future__ import annotations

import subprocess
import sys

import av
import numpy as np
import pytest

import talkinghead
from talkinghead.demo import demo_speech
from talkinghead.errors import InvalidControlError
from talkinghead.motion.channels import CHANNEL_INDEX, MOUTH_CHANNELS
from talkinghead.timing import SAMPLE_RATE


@pytest.fixture(scope="module")
def th():
    return talkinghead.TalkingHead()


@pytest.fixture(scope="module")
def avatar(th, astronaut):
    return th.register(astronaut)


@pytest.fixture(scope="module")
def speech_with_pause():
    """0.5 s silence, a sentence, 1.2 s silence, a sentence, 0.5 s silence (16 kHz)."""
    one = talkinghead.pipeline.speak("The quick brown fox jumps over the lazy dog.")
    two = talkinghead.pipeline.speak("Maybe we will meet again tomorrow.")
    z = lambda s: np.zeros(int(s * SAMPLE_RATE), np.float32)  # noqa: E731
    return np.concatenate([z(0.5), one, z(1.2), two, z(0.5)]), len(one)


def _mouth_activity(frames: np.ndarray, avatar) -> np.ndarray:
    """Per-frame mean abs change from the previous frame inside the mouth box of the photo (T - 1,)."""
    from talkinghead.face import landmarks as L

    pts = avatar.registration.landmarks[list(L.LIPS_OUTER), :2]
    x0, y0 = np.floor(pts.min(0)).astype(int) - 5
    x1, y1 = np.ceil(pts.max(0)).astype(int) + 5
    box = frames[:, y0:y1, x0:x1].astype(np.float32)
    return np.abs(np.diff(box, axis=0)).mean(axis=(1, 2, 3))


def test_generate_speech_moves_mouth_and_rests_in_silence(th, avatar, speech_with_pause, tmp_path):
    audio, n_first = speech_with_pause
    result = th.generate(avatar, audio, SAMPLE_RATE, seed=1, blink_rate=0, still=True)
    fps = result.fps
    jaw = result.motion.values[:, CHANNEL_INDEX["jawOpen"]]
    first = slice(int((0.5 + 0.2) * fps), int((0.5 + n_first / SAMPLE_RATE - 0.2) * fps))
    gap_start = 0.5 + n_first / SAMPLE_RATE
    gap = slice(int((gap_start + 0.3) * fps), int((gap_start + 0.9) * fps))
    assert jaw[first].max() > 0.25, "mouth should open while speaking"
    assert jaw[gap].max() < 0.5 * jaw[first].max(), "mouth should rest in the pause"
    frames = result.to_array()
    activity = _mouth_activity(frames, avatar)  # the head is still: only the mouth moves
    assert activity[first].mean() > 3 * activity[gap].mean() + 0.5, "the mouth moves while speaking, rests in pauses"

    path = th.save(result, tmp_path / "out.mp4", motion_out=tmp_path / "out.csv")
    with av.open(str(path)) as c:
        assert len(c.streams.video) == 1 and len(c.streams.audio) == 1
        v = c.streams.video[0]
        assert v.codec_context.name == "h264" and v.codec_context.pix_fmt == "yuv420p"
        assert c.streams.audio[0].codec_context.name == "aac"
        assert abs(v.frames / fps - len(audio) / SAMPLE_RATE) <= 1 / fps + 1e-6
    assert (tmp_path / "out.csv").read_text().startswith("frame,time,jawOpen")


def test_controls_change_what_they_say(th, avatar):
    audio = talkinghead.load_audio(str(demo_speech()))[: 3 * SAMPLE_RATE]
    base = th.generate(avatar, audio, SAMPLE_RATE, seed=2).motion.values
    still = th.generate(avatar, audio, SAMPLE_RATE, seed=2, still=True).motion.values
    assert np.ptp(still[:, :6], axis=0).max() == 0 and np.ptp(base[:, :3], axis=0).max() > 0
    quiet = th.generate(avatar, audio, SAMPLE_RATE, seed=2, mouth_scale=0.0).motion.values
    assert quiet[:, [CHANNEL_INDEX[n] for n in MOUTH_CHANNELS]].max() == 0
    happy = th.generate(avatar, audio, SAMPLE_RATE, seed=2, expression="happy", expression_intensity=1.0).motion.values
    assert happy[:, CHANNEL_INDEX["mouthSmileLeft"]].mean() > base[:, CHANNEL_INDEX["mouthSmileLeft"]].mean() + 0.3
    looking = th.generate(avatar, audio, SAMPLE_RATE, seed=2, gaze=(0.6, 0.0)).motion.values
    assert np.allclose(looking[:, CHANNEL_INDEX["gazeX"]], 0.6)
    other_seed = th.generate(avatar, audio, SAMPLE_RATE, seed=3).motion.values
    assert not np.allclose(other_seed, base)
    again = th.generate(avatar, audio, SAMPLE_RATE, seed=2).motion.values
    np.testing.assert_array_equal(again, base)
    fps30 = th.generate(avatar, audio, SAMPLE_RATE, seed=2, fps=30)
    assert fps30.fps == 30 and fps30.num_frames == 90
    crop = th.generate(avatar, audio[:SAMPLE_RATE], SAMPLE_RATE, output_size="crop")
    assert next(crop.frames()).shape == (avatar.crop_size, avatar.crop_size, 3)
    pose = th.generate(avatar, audio, SAMPLE_RATE, seed=2, pose_scale=2.0).motion.values
    assert np.ptp(pose[:, 0]) == pytest.approx(2 * np.ptp(base[:, 0]), rel=1e-4)


def test_drive_from_motion_and_bad_inputs(th, avatar):
    motion = talkinghead.Motion.neutral(20, 25).with_channels(jawOpen=0.6)
    result = th.generate(avatar, motion=motion, blink_rate=0)
    assert result.num_frames == 20 and len(result.audio) == 20 * SAMPLE_RATE // 25
    with pytest.raises(InvalidControlError, match="known controls"):
        th.generate(avatar, text="hi", smile=1)
    with pytest.raises(InvalidControlError):
        th.generate(avatar, text="hi", fps=24)
    with pytest.raises(InvalidControlError):
        th.generate(avatar)


def test_cli_generate_and_errors(tmp_path, astronaut):
    from PIL import Image

    portrait = tmp_path / "p.png"
    Image.fromarray(astronaut).save(portrait)
    out = tmp_path / "cli.mp4"
    run = subprocess.run([sys.executable, "-m", "talkinghead", "generate", "--portrait", str(portrait),
                          "--text", "Hello there.", "-o", str(out), "--still"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert out.is_file() and out.stat().st_size > 1000
    bad = subprocess.run([sys.executable, "-m", "talkinghead", "generate", "--portrait", str(tmp_path / "nope.jpg"),
                          "--text", "Hello.", "-o", str(tmp_path / "bad.mp4")], capture_output=True, text=True,
                         timeout=300)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "error" in bad.stderr
    assert not (tmp_path / "bad.mp4").exists()


def test_cli_animate_from_motion_file(tmp_path, astronaut):
    from PIL import Image

    portrait = tmp_path / "p.png"
    Image.fromarray(astronaut).save(portrait)
    motion = talkinghead.Motion.neutral(10, 25).with_channels(jawOpen=0.7)
    motion.to_csv(tmp_path / "m.csv")
    out = tmp_path / "anim.mp4"
    run = subprocess.run([sys.executable, "-m", "talkinghead", "animate", "--portrait", str(portrait),
                          "--motion", str(tmp_path / "m.csv"), "--camera-distance", "12", "-o", str(out)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    with av.open(str(out)) as c:
        assert c.streams.video[0].frames == 10


def test_long_audio_has_no_window_seams(th):
    """Offline windows (80 frames, 10-frame prefix): motion differences at the joins look like inside."""
    from talkinghead.eval.metrics import seam_ratio
    from talkinghead.motion.channels import EXPRESSION_SLICE, MOTION_DIM

    audio = talkinghead.load_audio(str(demo_speech()))
    audio = np.tile(audio, 2)  # ~16 s: five windows
    raw = th.motion_from_features(th.features(audio), seed=0)
    assert raw.shape[1] == MOTION_DIM
    window = th.config.sampler.window
    joins = list(range(window, len(raw), window))
    ratios = seam_ratio(raw[:, EXPRESSION_SLICE], joins)
    assert ratios["first_diff_ratio"] <= 1.0 and ratios["second_diff_ratio"] <= 1.0, ratios


def test_steps_and_guidance_change_the_motion(th, avatar):
    audio = talkinghead.load_audio(str(demo_speech()))[: 2 * SAMPLE_RATE]
    base = th.generate(avatar, audio, SAMPLE_RATE, seed=4).motion.values
    fewer = th.generate(avatar, audio, SAMPLE_RATE, seed=4, steps=3).motion.values
    unguided = th.generate(avatar, audio, SAMPLE_RATE, seed=4, guidance=1.0).motion.values
    assert not np.allclose(base, fewer, atol=1e-3) and not np.allclose(base, unguided, atol=1e-3)
    with pytest.raises(InvalidControlError):
        th.generate(avatar, audio, SAMPLE_RATE, steps=0)
    with pytest.raises(InvalidControlError):
        th.generate(avatar, audio, SAMPLE_RATE, guidance=-1)


@pytest.mark.fixtures
def test_every_fixture_portrait_generates(th):
    from conftest import FIXTURES

    portraits = sorted((FIXTURES / "portraits").glob("*")) if (FIXTURES / "portraits").is_dir() else []
    if not portraits:
        pytest.skip("../shared/fixtures/portraits not present")
    audio = talkinghead.load_audio(str(demo_speech()))[: SAMPLE_RATE]
    for path in portraits:
        result = th.generate(str(path), audio, SAMPLE_RATE)
        frames = result.to_array()
        assert frames.shape[0] == 25 and frames.dtype == np.uint8, path.name
