"""Evaluation: metric functions on constructed cases, the video harness with fake generators
(identity, frozen, shifted, the warp renderer) on a rendered clip, VFR/odd-sized input, skips,
the synthetic harness, the CLI, and the fixture videos."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from talkinghead.eval import metrics as M
from talkinghead.eval.report import markdown
from talkinghead.eval.videos import evaluate_videos
from talkinghead.face import landmarks as L
from talkinghead.face.canonical import canonical_landmarks
from talkinghead.timing import FPS, SAMPLES_PER_FRAME
from talkinghead.video.reader import iter_frames
from talkinghead.video.writer import write_video

from conftest import fixture_path
from test_videos import known_motion, render_known_video, write_vfr_video

EVAL_SECONDS = 2.0  # the rendered clip: the jaw opens twice, then a smile


def smooth_signal(n: int, seed: int = 0) -> np.ndarray:
    """A smooth random curve (noise through a 5-frame moving average)."""
    noise = np.random.default_rng(seed).standard_normal(n + 4)
    return np.convolve(noise, np.ones(5) / 5, mode="valid")


def similar(points: np.ndarray, scale: float = 100.0, angle_deg: float = 0.0, shift=(300.0, 250.0)) -> np.ndarray:
    """(N, 2|3) canonical points -> (N, 2) pixels under a similarity."""
    a = math.radians(angle_deg)
    rot = scale * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return np.asarray(points)[:, :2] @ rot.T + np.asarray(shift)


def face(scale: float = 100.0, angle_deg: float = 0.0, shift=(300.0, 250.0)) -> np.ndarray:
    """MediaPipe's canonical face as (478, 2) pixels under a similarity."""
    return similar(canonical_landmarks(), scale, angle_deg, shift)


# ======================================================================= metrics
def test_identical_curves_give_r_1_at_lag_0():
    x = smooth_signal(100)
    assert M.pearson(x, x) == pytest.approx(1.0)
    assert M.lagged_pearson(x, x) == (pytest.approx(1.0), 0)


@pytest.mark.parametrize("k", [-4, -2, 1, 3])
def test_a_curve_shifted_by_k_frames_gives_lag_k(k):
    s = smooth_signal(120, seed=k + 10)
    reference = s[8:108]
    generated = s[8 - k:108 - k]  # generated[t + k] == reference[t]: late by k frames
    r, lag = M.lagged_pearson(generated, reference, max_lag=4)
    assert lag == k and r == pytest.approx(1.0)
    assert M.pearson(generated, reference) < 0.99


def test_a_frozen_face_gives_r_0():
    reference = smooth_signal(80)
    frozen = np.full(80, 0.12)
    assert M.pearson(frozen, reference) == 0.0
    assert M.lagged_pearson(frozen, reference)[0] == 0.0
    nearly = 0.12 + 1e-4 * np.random.default_rng(1).standard_normal(80)  # a still face's landmark noise
    assert abs(M.pearson(nearly, reference)) < 0.3


def test_mouth_opening_is_a_pose_free_ratio():
    base = face()
    opening = M.mouth_opening(base)[0]
    for transformed in (face(scale=37.0), face(angle_deg=25.0), face(shift=(-40.0, 900.0))):
        assert M.mouth_opening(transformed)[0] == pytest.approx(opening, abs=1e-9)
    iod = M.inter_ocular_distance(base)[0]
    opened = canonical_landmarks().copy()
    opened[list(L.LIPS_INNER_LOWER[1:-1]), 1] += 0.2  # lower inner lip 0.2 canonical units down
    for angle in (0.0, -30.0):
        gain = M.mouth_opening(similar(opened, 100.0, angle))[0] - opening
        assert gain == pytest.approx(0.2 * 100.0 / iod, rel=1e-6)


def test_mouth_lmd_aligns_faces_then_measures_the_lips():
    reference = np.stack([face(), face(angle_deg=5.0)])
    same_face_elsewhere = np.stack([face(scale=60.0, angle_deg=-20.0, shift=(10.0, 20.0)),
                                    face(scale=80.0, angle_deg=40.0, shift=(500.0, 20.0))])
    assert M.mouth_lmd(same_face_elsewhere, reference) == pytest.approx(0.0, abs=1e-9)
    lips = list(L.LIPS_INNER_LOWER[1:-1])
    moved = reference.copy()
    moved[:, lips] += [0.0, 10.0]  # 10 px on a face with IOD ~100 px; lips are not rigid points
    iod = M.inter_ocular_distance(reference)
    expected = np.mean(10.0 / iod) * len(lips) / len(M.MOUTH_POINTS)
    assert M.mouth_lmd(moved, reference) == pytest.approx(expected, rel=1e-6)


def test_jitter_and_audio_envelope():
    steady = np.stack([face(shift=(300.0 + 3 * t, 250.0)) for t in range(10)])  # constant velocity
    assert M.normalized_jitter(steady) == pytest.approx(0.0, abs=1e-9)
    shaky = steady.copy()
    shaky[1::2] += [2.0, 0.0]  # +-2 px alternation: second differences of 4 px
    iod = float(np.median(M.inter_ocular_distance(shaky)))
    assert M.normalized_jitter(shaky) == pytest.approx(4.0 / iod, rel=1e-2)
    with_gap = shaky.copy()
    with_gap[5] = np.nan
    assert np.isfinite(M.normalized_jitter(with_gap))
    envelope = M.audio_envelope(np.concatenate([np.full(640, 0.5), np.zeros(640), np.full(320, -1.0)]))
    assert envelope == pytest.approx([0.5, 0.0, math.sqrt(0.5)])


# ======================================================================= video harness
@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """A folder with one 2 s warp render of known motion (+ audio), and that motion."""
    folder = tmp_path_factory.mktemp("eval_videos")
    truth, frames, audio = render_known_video(folder / "known.mp4", EVAL_SECONDS)
    return folder, truth, audio


def frames_of(folder):
    return np.stack(list(iter_frames(folder / "known.mp4")))


def copy_generator(folder):
    """Returns the real frames themselves: a perfect generator."""
    return lambda portrait, audio: (iter_frames(folder / "known.mp4"), {"kind": "copy"})


def frozen_generator(portrait, audio):
    """Returns the portrait for every frame: a face that never moves."""
    return (portrait for _ in range(-(-len(audio) // SAMPLES_PER_FRAME)))


def shifted_generator(folder, k: int):
    """The real frames k frames late (the first frame repeated)."""
    def generate(portrait, audio):
        frames = frames_of(folder)
        return np.concatenate([np.repeat(frames[:1], k, axis=0), frames[:len(frames) - k]])
    return generate


@pytest.mark.slow
def test_identity_generator_scores_perfectly(rendered, tmp_path):
    folder, truth, _ = rendered
    report = evaluate_videos(folder, copy_generator(folder), tmp_path / "report", progress=False)
    clip = report["clips"][0]
    assert clip["frames"] == clip["frames_generated"] == len(truth)
    assert clip["mouth_r"] == pytest.approx(1.0) and clip["mouth_r_best"] == pytest.approx(1.0)
    assert clip["best_lag"] == 0 and clip["m_lmd"] == pytest.approx(0.0, abs=1e-6)
    assert clip["jitter"] == pytest.approx(clip["jitter_real"]) and clip["face_ssim"] == pytest.approx(1.0)
    assert clip["generator"] == {"kind": "copy"} and clip["generate_s"] >= 0 and clip["seconds"] > 0
    # the real clip's mouth follows its audio (its loudness was made from the jaw)
    assert clip["envelope_r_real"] > 0.5
    assert report["means"]["mouth_r"] == pytest.approx(1.0)
    saved = json.loads((tmp_path / "report" / "report.json").read_text())
    assert saved["clips"][0]["mouth_r"] == pytest.approx(1.0)
    assert "| known.mp4 |" in (tmp_path / "report" / "report.md").read_text()
    png = tmp_path / "report" / saved["clips"][0]["plot"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_frozen_and_shifted_generators(rendered, tmp_path):
    folder, _, _ = rendered
    frozen = evaluate_videos(folder, frozen_generator, tmp_path / "frozen", progress=False)["clips"][0]
    assert abs(frozen["mouth_r"]) < 0.2 and abs(frozen["mouth_r_best"]) < 0.3
    assert frozen["jitter"] < 0.2 * frozen["jitter_real"]
    assert frozen["psnr_outside_head"] == math.inf and frozen["face_ssim"] == pytest.approx(1.0)
    assert frozen["m_lmd"] > 0.01
    saved = json.loads((tmp_path / "frozen" / "report.json").read_text())
    assert saved["clips"][0]["psnr_outside_head"] == "inf"
    shifted = evaluate_videos(folder, shifted_generator(folder, 2), tmp_path / "shift", progress=False)["clips"][0]
    assert shifted["best_lag"] == 2 and shifted["mouth_r_best"] > 0.95
    assert shifted["mouth_r"] < shifted["mouth_r_best"] - 0.05


@pytest.mark.slow
def test_warp_renderer_generator_keeps_the_background(rendered, tmp_path):
    """Rendering the known motion from the first frame: the harness sees an untouched background
    (PSNR outside the head = inf), the portrait's face in the first frame, and the real mouth motion."""
    from talkinghead.render import WarpRenderer

    folder, truth, _ = rendered
    renderer = WarpRenderer()

    def generate(portrait, audio):
        avatar = renderer.register(portrait)
        motion = known_motion(avatar, EVAL_SECONDS)
        return renderer.frames(avatar, motion, batch_size=8)

    clip = evaluate_videos(folder, generate, tmp_path / "warp", progress=False)["clips"][0]
    assert clip["psnr_outside_head"] == math.inf and 0.1 < clip["outside_fraction"] < 1.0
    assert clip["face_ssim"] > 0.9
    assert clip["mouth_r_best"] > 0.8 and abs(clip["best_lag"]) <= 1


@pytest.mark.slow
def test_variable_frame_rate_odd_sizes_and_skips(rendered, tmp_path):
    folder, truth, audio = rendered
    frames = frames_of(folder)[:, 5:500, 11:498]  # 495 x 487
    videos = tmp_path / "videos"
    videos.mkdir()
    write_vfr_video(videos / "vfr.mkv", frames, audio)
    write_video(videos / "no_audio.mp4", frames[:20], FPS)
    blank = np.zeros_like(frames[:20])
    write_video(videos / "no_face_first.mp4", np.concatenate([blank[:1], frames[:19]]), FPS,
                audio=audio[:20 * SAMPLES_PER_FRAME])

    def generate(portrait, audio):  # the real (resampled) frames, 2 px smaller each way
        return (frame[1:-1, 1:-1] for frame in iter_frames(videos / "vfr.mkv"))

    report = evaluate_videos(videos, generate, tmp_path / "report", progress=False)
    clips = {c["clip"]: c for c in report["clips"]}
    vfr = clips["vfr.mkv"]
    assert (vfr["width"], vfr["height"]) == (487, 495) and vfr["frames"] == len(truth)
    assert vfr["mouth_r"] > 0.99 and vfr["best_lag"] == 0
    assert vfr["psnr_outside_head"] is None and vfr["face_ssim"] is None
    assert any("no PSNR" in note for note in vfr["background_notes"])
    assert "no audio" in clips["no_audio.mp4"]["skipped"]
    assert "first frame" in clips["no_face_first.mp4"]["skipped"]
    assert report["evaluated"] == 1 and len(report["skipped"]) == 2
    assert "## Skipped" in markdown(report)


# ======================================================================= synthetic harness
@pytest.fixture(scope="module")
def synthetic_folder(tmp_path_factory):
    """Two held-out synthetic clips (espeak-ng) in a data folder; features are placeholders."""
    from talkinghead.data.shards import Clip, ShardWriter
    from talkinghead.errors import DependencyError

    try:
        from talkinghead.data.synth import synthesize_utterance

        made = [synthesize_utterance(20 + k, split="heldout") for k in range(2)]
    except DependencyError as e:
        pytest.skip(f"espeak-ng unavailable: {e}")
    folder = tmp_path_factory.mktemp("synth")
    writer = ShardWriter(folder, {"encoder": "none", "dim": 4}, fps=FPS)
    for clip in made:
        meta = dict(clip.metadata, phonemes=[[p.symbol, p.start_s, p.end_s] for p in clip.phonemes])
        writer.add(Clip(np.zeros((clip.num_frames, 4), np.float32), clip.motion, meta), "heldout")
    writer.close()
    return folder, [c.motion for c in made]


def replaying(motions, edit):
    """motion_fn returning ``edit(truth)`` for each clip in turn."""
    state = iter(motions)
    return lambda features: edit(next(state))


def test_synthetic_harness_on_constructed_generators(synthetic_folder, tmp_path):
    from talkinghead.eval.synthetic import evaluate_synthetic
    from talkinghead.motion.channels import CHANNEL_INDEX, EXPRESSION_SLICE

    folder, truths = synthetic_folder
    perfect = evaluate_synthetic(folder, replaying(truths, lambda m: m), tmp_path / "a", progress=False)
    for clip in perfect["clips"]:
        assert clip["mouth_r"] == pytest.approx(1.0) and clip["best_lag"] == 0
        assert clip["jawOpen_r"] == pytest.approx(1.0) and clip["mouth_channels_r"] == pytest.approx(1.0)
        assert clip["bilabials"] > 0 and clip["bilabial_closure"] == clip["bilabial_closure_truth"]
    assert perfect["means"]["bilabial_closure_truth"] > 0.8  # the visemes close the lips on p/b/m

    def late(m):
        return np.concatenate([np.repeat(m[:1], 3, axis=0), m[:-3]])

    shifted = evaluate_synthetic(folder, replaying(truths, late), tmp_path / "b", progress=False)
    assert all(c["best_lag"] == 3 and c["mouth_r_best"] > 0.95 for c in shifted["clips"])

    def gaping(m):
        out = m.copy()
        out[:, EXPRESSION_SLICE] = 0.0
        out[:, CHANNEL_INDEX["jawOpen"]] = 0.4  # never closes
        return out

    gap = evaluate_synthetic(folder, replaying(truths, gaping), tmp_path / "c", progress=False)
    assert all(c["bilabial_closure"] == 0.0 and c["mouth_r"] == 0.0 for c in gap["clips"])
    assert (tmp_path / "c" / "report.md").read_text().count("| heldout-") == 2


# ======================================================================= CLI
def test_eval_cli_explains_the_missing_model(tmp_path, capsys, monkeypatch):
    from talkinghead.cli.main import main

    monkeypatch.setenv("TALKINGHEAD_CHECKPOINTS", str(tmp_path))
    status = main(["eval", "--videos", str(tmp_path), "--out", str(tmp_path / "r"),
                   "--model", str(tmp_path / "missing.safetensors")])
    assert status == 2
    assert "--model" in capsys.readouterr().err


@pytest.mark.slow
def test_eval_cli_runs_the_public_pipeline(rendered, tmp_path, capsys):
    """End to end through `talkinghead eval` with an untrained tiny motion model (wiring, not quality)."""
    from talkinghead.audio.features import WindowConfig
    from talkinghead.cli.main import main
    from talkinghead.diffusion.checkpoint import save_motion_model
    from talkinghead.diffusion.dit import MotionDiT, dit_config

    folder, truth, _ = rendered
    model = MotionDiT(dit_config("tiny", audio_dim=768))
    path = save_motion_model(model, tmp_path / "tiny.safetensors",
                             audio={"encoder": "tiny.en", "window": dataclasses.asdict(WindowConfig()), "dim": 768})
    status = main(["eval", "--videos", str(folder), "--out", str(tmp_path / "r"), "--model", str(path)])
    assert status == 0
    clip = json.loads((tmp_path / "r" / "report.json").read_text())["clips"][0]
    assert clip["frames_generated"] == len(truth) and clip["psnr_outside_head"] == "inf"
    assert "timings" in clip["generator"] and "| known.mp4 |" in capsys.readouterr().out


# ======================================================================= fixtures
@pytest.mark.slow
@pytest.mark.fixtures
def test_fixture_videos_through_the_harness(tmp_path):
    videos = fixture_path("videos")

    def copy(portrait, audio):
        # the harness hands over the first frame: find which fixture it came from
        for path in sorted(videos.iterdir()):
            first = next(iter(iter_frames(path)))
            if first.shape == portrait.shape and np.array_equal(first, portrait):
                return iter_frames(path)
        raise AssertionError("portrait is not a fixture's first frame")

    report = evaluate_videos(videos, copy, tmp_path / "report", progress=False)
    assert report["evaluated"] == 2
    for clip in report["clips"]:
        assert clip["mouth_r"] == pytest.approx(1.0, abs=1e-3) and clip["best_lag"] == 0
        assert clip["envelope_r_real"] > 0  # real mouths open with the sound
        assert clip["valid_real"] == 1.0
