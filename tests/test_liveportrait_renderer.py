"""The LivePortrait renderer: calibration math, driving, loading by name, rendering, pipeline and streaming.

Weights are random (tiny sizes, 64 px network input, saved under the official file names), so
these tests check plumbing and arithmetic, never image quality.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

import talkinghead
from talkinghead.errors import InvalidControlError, ModelNotFoundError, TalkingHeadError
from talkinghead.face import canonical_landmarks
from talkinghead.motion.channels import CHANNEL_INDEX, EYE_CHANNELS, GAZE_NAMES, MOTION_DIM
from talkinghead.render import LivePortraitAvatar, LivePortraitRenderer, LivePortraitRendererConfig, load_renderer
from talkinghead.render.liveportrait import (
    CALIBRATED_CHANNELS,
    HUB_ID,
    WEIGHTS_CONFIG_FILE,
    CalibrationConfig,
    ExpressionCalibration,
    LivePortraitModels,
    SourceKeypoints,
    calibrate,
    driving_keypoints,
    eye_open_ratios,
    fit_channel_deltas,
    lip_open_ratio,
    liveportrait_config,
    save_liveportrait,
    transform_keypoints,
)
from talkinghead.render.liveportrait.calibration import CALIBRATED_SLICE, probe_motions
from talkinghead.render.liveportrait.driving import translation_to_keypoints
from talkinghead.render.warp_renderer import WarpRenderer

K = len(CALIBRATED_CHANNELS)  # 31
N = 21  # LivePortrait keypoints
TINY_INPUT = 64


def rest_motion(rng) -> np.ndarray:
    """A plausible rest motion (37,): zero relative pose, some fitted expression values."""
    rest = np.zeros(MOTION_DIM)
    rest[CHANNEL_INDEX["scale"]] = 1.0
    rest[CALIBRATED_SLICE] = rng.uniform(0.0, 0.3, K)
    rest[[CHANNEL_INDEX[g] for g in GAZE_NAMES]] = rng.uniform(-0.2, 0.2, len(GAZE_NAMES))
    return rest


# --- calibration math ----------------------------------------------------------------------------

def test_fit_recovers_a_synthetic_linear_map_from_the_probe_design():
    rng = np.random.default_rng(0)
    rest = rest_motion(rng)
    true = rng.normal(size=(K, 3 * N))
    probes = probe_motions(rest, CalibrationConfig())
    offsets = probes[:, CALIBRATED_SLICE] - rest[CALIBRATED_SLICE]
    fitted, residual = fit_channel_deltas(offsets, offsets @ true)
    assert np.abs(fitted - true).max() <= 1e-5 and residual <= 1e-9


def test_fit_least_squares_with_mixed_probes_and_noise():
    rng = np.random.default_rng(1)
    true = rng.normal(size=(K, 3 * N))
    offsets = rng.uniform(-1, 1, size=(400, K))  # every probe moves every channel
    noise = 1e-3 * rng.normal(size=(400, 3 * N))
    fitted, residual = fit_channel_deltas(offsets, offsets @ true + noise)
    assert np.abs(fitted - true).max() < 2e-3  # noise averages out (~1e-3 / sqrt(400 / 3))
    assert residual == pytest.approx(1e-3, rel=0.2)


def test_unprobed_channel_gets_zero_delta_and_bad_shapes_are_refused():
    offsets = np.array([[1.0, 0.0], [0.5, 0.0]])
    fitted, _ = fit_channel_deltas(offsets, np.array([[2.0], [1.0]]))
    assert fitted[:, 0].tolist() == pytest.approx([2.0, 0.0])
    with pytest.raises(TalkingHeadError):
        fit_channel_deltas(np.zeros((3, 2)), np.zeros((4, 5)))


def test_probe_design_moves_one_channel_per_probe():
    rest = rest_motion(np.random.default_rng(2))
    probes = probe_motions(rest, CalibrationConfig())
    expression, gaze = CalibrationConfig().expression_probes, CalibrationConfig().gaze_probes
    assert len(probes) == (K - len(GAZE_NAMES)) * len(expression) + len(GAZE_NAMES) * len(gaze)
    assert ((probes != rest).sum(axis=1) <= 1).all()
    assert np.array_equal(probes[:, :CALIBRATED_SLICE.start], np.repeat(rest[None, :6], len(probes), 0))


def test_calibrate_recovers_a_synthetic_extractor():
    """A fake renderer + extractor that is linear in the channels, with yaw read backwards."""
    rng = np.random.default_rng(3)
    rest = rest_motion(rng)
    true = rng.normal(size=(K, N, 3))
    base = rng.normal(size=(N, 3))

    def extract(motions):  # "images" are the motions themselves
        offsets = motions[:, CALIBRATED_SLICE] - rest[CALIBRATED_SLICE]
        exp = base + np.einsum("bk,knd->bnd", offsets, true)
        return {"exp": exp, "yaw": -2.0 * motions[:, CHANNEL_INDEX["yaw"]],
                "pitch": 0.5 * motions[:, CHANNEL_INDEX["pitch"]]}

    calibration = calibrate(lambda m: m, extract, rest, CalibrationConfig(batch_size=5))
    assert np.abs(calibration.deltas - true).max() <= 1e-5
    assert calibration.pose_signs == {"yaw": -1.0, "pitch": 1.0}
    assert calibration.residual <= 1e-9
    assert np.abs(calibration.expression_offset(rest[None, CALIBRATED_SLICE])).max() == 0.0
    one = rest[CALIBRATED_SLICE].copy()
    one[0] += 1.0
    assert np.abs(calibration.expression_offset(one[None])[0] - true[0]).max() <= 1e-5


# --- driving ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def synthetic_source():
    torch.manual_seed(0)
    raw = {"kp": 0.3 * torch.randn(1, 3 * N), "exp": 0.05 * torch.randn(1, 3 * N), "pitch": torch.randn(1, 66),
           "yaw": torch.randn(1, 66), "roll": torch.randn(1, 66), "t": 0.1 * torch.randn(1, 3),
           "scale": torch.tensor([[1.3]])}
    return SourceKeypoints.from_raw(raw)


def _calibration(rng, signs=None) -> ExpressionCalibration:
    return ExpressionCalibration(source_channels=rng.uniform(0, 0.3, K), deltas=rng.normal(size=(K, N, 3)) * 0.01,
                                 pose_signs=signs or {"yaw": 1.0, "pitch": -1.0}, residual=0.0)


TO_IMAGE = np.array([[40.0, 0.0, 255.5], [0.0, 40.0, 230.0]])  # canonical -> 512 px crop, 40 px per IOD


def test_rest_motion_drives_the_source_keypoints(synthetic_source):
    rng = np.random.default_rng(4)
    calibration = _calibration(rng)
    source_motion = rest_motion(rng)
    source_motion[:6] = [3.0, -2.0, 1.0, 0.01, 0.02, 1.1]  # the portrait's fitted absolute pose
    source_motion[CALIBRATED_SLICE] = calibration.source_channels
    x_d = driving_keypoints(synthetic_source, np.repeat(source_motion[None], 2, 0), source_motion, calibration,
                            TO_IMAGE, 512)
    assert (x_d - synthetic_source.x_s).abs().max().item() <= 1e-6


def test_pose_expression_and_translation_map_directly(synthetic_source):
    rng = np.random.default_rng(5)
    calibration = _calibration(rng)
    source_motion = rest_motion(rng)
    source_motion[CALIBRATED_SLICE] = calibration.source_channels
    frame = source_motion.copy()
    frame[[CHANNEL_INDEX[n] for n in ("yaw", "pitch", "roll", "tx", "ty")]] += [10.0, 5.0, -4.0, 0.1, -0.05]
    frame[CHANNEL_INDEX["scale"]] *= 1.2
    frame[CHANNEL_INDEX["jawOpen"]] += 0.5
    x_d = driving_keypoints(synthetic_source, frame[None], source_motion, calibration, TO_IMAGE, 512)
    s = synthetic_source
    jaw = CALIBRATED_CHANNELS.index("jawOpen")
    exp = s.exp + 0.5 * torch.as_tensor(calibration.deltas[jaw], dtype=torch.float32)
    # x right: +0.1 face sizes = 0.1 * 2.8 IOD * 40 px = 11.2 px = 11.2 * 2 / 512 keypoint units.
    shift = torch.tensor([[0.1 * 2.8 * 40 * 2 / 512, -0.05 * 2.8 * 40 * 2 / 512, 0.0]])
    expected = transform_keypoints(s.kp, s.pitch - 5.0, s.yaw + 10.0, s.roll - 4.0, s.t + shift, exp, s.scale * 1.2)
    assert (x_d - expected).abs().max().item() <= 1e-5


def test_translation_follows_the_crop_similarity():
    rotated = np.array([[0.0, -40.0, 0.0], [40.0, 0.0, 0.0]])  # 90 degrees: canonical x -> crop y
    out = translation_to_keypoints(np.array([1.0]), np.array([0.0]), rotated, 560)
    assert out[0].tolist() == pytest.approx([0.0, 2.8 * 40 * 2 / 560])


def test_eye_and_lip_ratios_follow_the_landmarks():
    face = canonical_landmarks()[None].astype(np.float64)  # (1, 478, 3)
    eyes, lips = eye_open_ratios(face), lip_open_ratio(face)
    assert eyes.shape == (1, 2) and (eyes > 0.05).all() and abs(eyes[0, 0] - eyes[0, 1]) < 0.02
    assert lips.shape == (1,) and lips[0] >= 0
    from talkinghead.face import landmarks as L

    closed = face.copy()
    closed[0, L.LEFT_EYE_LOWER[len(L.LEFT_EYE_LOWER) // 2]] = closed[0, L.LEFT_EYE_UPPER[len(L.LEFT_EYE_UPPER) // 2]]
    opened = face.copy()
    opened[0, L.LOWER_LIP_INNER, 1] += 0.3
    assert eye_open_ratios(closed)[0, 0] == 0.0 and eye_open_ratios(closed)[0, 1] == eyes[0, 1]
    assert lip_open_ratio(opened)[0] > lips[0] + 0.1


# --- loading by name ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    """Random tiny-size weights in the official layout (hub-style liveportrait/ subfolder) + talkinghead.json."""
    torch.manual_seed(0)
    models = LivePortraitModels(liveportrait_config("tiny"))
    root = tmp_path_factory.mktemp("lp_weights")
    save_liveportrait(models, root / "liveportrait", renderer={"input_size": TINY_INPUT, "batch_size": 3})
    return root


def test_load_renderer_by_name(tiny_weights):
    assert talkinghead.load_renderer is load_renderer
    assert isinstance(load_renderer("warp"), WarpRenderer)
    renderer = load_renderer("liveportrait", tiny_weights, device="cpu")
    assert isinstance(renderer, LivePortraitRenderer)
    assert renderer.config.input_size == TINY_INPUT and renderer.config.batch_size == 3  # from talkinghead.json
    assert renderer.models.config == liveportrait_config("tiny")
    override = LivePortraitRendererConfig(input_size=2 * TINY_INPUT, stitching=False)
    assert load_renderer("liveportrait", tiny_weights, "cpu", override).config == override


def test_load_renderer_errors(tiny_weights, tmp_path):
    with pytest.raises(InvalidControlError, match="liveportrait"):
        load_renderer("neural")
    with pytest.raises(InvalidControlError, match="no weights"):
        load_renderer("warp", tiny_weights)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelNotFoundError) as info:
        load_renderer("liveportrait", empty, device="cpu")
    message = str(info.value)
    assert HUB_ID in message and "liveportrait/base_models" in message and str(empty) in message
    with pytest.raises(TalkingHeadError, match="multiple of 16"):  # tiny sizes: 2 downsamplings x 2 levels
        load_renderer("liveportrait", tiny_weights, "cpu", LivePortraitRendererConfig(input_size=72))


def test_bad_weights_config_file_is_reported(tiny_weights, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(tiny_weights / "liveportrait", copy)
    (copy / WEIGHTS_CONFIG_FILE).write_text(json.dumps({"networks": {}, "extra": 1}))
    with pytest.raises(TalkingHeadError, match="extra"):
        load_renderer("liveportrait", copy, device="cpu")


def test_hub_id_is_downloaded_with_snapshot_download(tiny_weights, monkeypatch):
    import huggingface_hub

    calls = []

    def fake_snapshot_download(repo_id, allow_patterns=None, **kwargs):
        calls.append(repo_id)
        return str(tiny_weights)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    renderer = load_renderer("liveportrait", HUB_ID, device="cpu")
    assert calls == [HUB_ID] and renderer.config.input_size == TINY_INPUT


# --- rendering ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def renderer(tiny_weights) -> LivePortraitRenderer:
    torch.set_num_threads(1)  # tiny networks: threads only add overhead
    return load_renderer("liveportrait", tiny_weights, device="cpu")


@pytest.fixture(scope="module")
def lp_avatar(renderer, astronaut) -> LivePortraitAvatar:
    return renderer.register(astronaut)


def test_registration_calibrates(lp_avatar):
    cal = lp_avatar.calibration
    assert cal.deltas.shape == (K, N, 3) and np.isfinite(cal.deltas).all() and np.abs(cal.deltas).max() > 0
    assert set(cal.pose_signs) == {"yaw", "pitch"} and set(cal.pose_signs.values()) <= {-1.0, 1.0}
    np.testing.assert_allclose(cal.source_channels, lp_avatar.source_motion.values[0, CALIBRATED_SLICE])
    assert lp_avatar.feature_3d.shape == (1, 4, 4, TINY_INPUT // 4, TINY_INPUT // 4)
    assert lp_avatar.eye_ratios.shape == (2,) and (lp_avatar.eye_ratios > 0).all()


def test_render_pastes_into_the_photo(renderer, lp_avatar, astronaut):
    motion = np.repeat(lp_avatar.rest_motion.values, 2, axis=0)
    motion[1, CHANNEL_INDEX["jawOpen"]] = 0.8
    frames = renderer.render(lp_avatar, motion)
    assert frames.shape == (2, *astronaut.shape) and frames.dtype == np.uint8
    reg = lp_avatar.registration
    outside = (reg.paste_back(np.zeros_like(reg.crop)) == astronaut).all(axis=-1) & (
        reg.paste_back(np.full_like(reg.crop, 255)) == astronaut).all(axis=-1)
    assert outside.mean() > 0.2
    assert (frames[:, outside] == astronaut[outside]).all()  # untouched outside the paste mask
    assert not np.array_equal(frames[0], frames[1])  # the jaw channel moves the keypoints
    crops = renderer.render(lp_avatar, motion, paste=False)
    assert crops.shape == (2, 512, 512, 3)
    streamed = list(renderer.frames(lp_avatar, motion, batch_size=1))
    assert len(streamed) == 2  # (batches of 1 and 2 frames may round a few values differently)
    assert np.array_equal(streamed[1], renderer.render(lp_avatar, motion[1:])[0])


def test_rest_motion_drives_source_keypoints_up_to_stitching(renderer, lp_avatar):
    rest = lp_avatar.rest_motion.values
    x_s = lp_avatar.source.x_s
    unstitched = LivePortraitRenderer(renderer.models, dataclasses.replace(renderer.config, stitching=False))
    assert (unstitched.driving_keypoints(lp_avatar, rest) - x_s).abs().max().item() <= 1e-5
    stitched = renderer.models.stitching_retargeting.stitch(x_s, x_s)
    assert (renderer.driving_keypoints(lp_avatar, rest) - stitched).abs().max().item() <= 1e-5


def test_jaw_goes_through_the_calibration_and_blink_through_the_eye_mlp(renderer, lp_avatar):
    plain = LivePortraitRenderer(renderer.models, dataclasses.replace(renderer.config, stitching=False))
    rest = lp_avatar.rest_motion.values
    jaw = rest.copy()
    jaw[0, CHANNEL_INDEX["jawOpen"]] += 0.5
    s = lp_avatar.source
    expected = 0.5 * s.scale * torch.as_tensor(lp_avatar.calibration.deltas[CALIBRATED_CHANNELS.index("jawOpen")],
                                               dtype=torch.float32)
    moved = plain.driving_keypoints(lp_avatar, jaw) - plain.driving_keypoints(lp_avatar, rest)
    assert (moved - expected).abs().max().item() <= 1e-5
    blink = rest.copy()
    blink[0, [CHANNEL_INDEX[c] for c in EYE_CHANNELS if c.startswith("eyeBlink")]] = 1.0
    target = eye_open_ratios(lp_avatar.motion_landmarks(blink)).mean()
    left, right = lp_avatar.eye_ratios
    eye = renderer.models.stitching_retargeting.retarget_eye
    inputs = torch.tensor([[left, right, target], [left, right, (left + right) / 2]], dtype=torch.float32)
    deltas = eye(s.x_s.expand(2, -1, -1), inputs)
    blinked = plain.driving_keypoints(lp_avatar, blink) - plain.driving_keypoints(lp_avatar, rest)
    assert target < 0.5 * lp_avatar.eye_ratios.mean()
    assert (blinked - (deltas[0] - deltas[1])).abs().max().item() <= 1e-5


def test_render_landmarks_fits_motion(renderer, lp_avatar):
    motion = lp_avatar.rest_motion.values.copy()
    motion[0, CHANNEL_INDEX["yaw"]] = 8.0
    frames = renderer.render_landmarks(lp_avatar, lp_avatar.motion_landmarks(motion), paste=False)
    assert frames.shape == (1, 512, 512, 3)


def test_other_renderers_avatars_are_refused(renderer, lp_avatar):
    from talkinghead.render import Avatar

    plain = Avatar(lp_avatar.registration, lp_avatar.rig, lp_avatar.to_image, lp_avatar.source_motion)
    with pytest.raises(InvalidControlError, match="LivePortraitRenderer.register"):
        renderer.render(plain, plain.rest_motion)


# --- pipeline, API and streaming ---------------------------------------------------------------

def test_generate_keys_shared_pipelines_on_the_renderer(monkeypatch):
    from talkinghead import pipeline

    made = []

    class FakePipeline:
        def __init__(self, config, device=None, backend="torch"):
            made.append((config.renderer, config.renderer_weights, device, backend))

    monkeypatch.setattr(pipeline, "TalkingHead", FakePipeline)
    monkeypatch.setattr(pipeline, "_PIPELINES", {})
    first = pipeline._shared_pipeline(None, "torch", "liveportrait", "weights/")
    assert pipeline._shared_pipeline(None, "torch", "liveportrait", "weights/") is first
    assert pipeline._shared_pipeline(None, "torch") is not first
    assert made == [("liveportrait", "weights/", None, "torch"), ("warp", None, None, "torch")]


def test_unknown_renderer_fails_before_models_load():
    from talkinghead.pipeline import PipelineConfig, TalkingHead

    with pytest.raises(InvalidControlError, match="unknown renderer"):
        TalkingHead(PipelineConfig(motion_model="/nonexistent/model.safetensors", renderer="nope"))


def test_cli_flags_parse():
    from talkinghead.cli.main import build_parser

    parser = build_parser()
    for command, extra in (("generate", ["--text", "hi"]), ("animate", ["--motion", "m.npz"]),
                           ("stream", ["--audio", "a.wav"])):
        args = parser.parse_args([command, "--portrait", "p.png", *extra, "--renderer", "liveportrait",
                                  "--renderer-weights", "w/"])
        assert (args.renderer, args.renderer_weights) == ("liveportrait", "w/")
    args = parser.parse_args(["serve", "--renderer", "liveportrait"])
    assert (args.renderer, args.renderer_weights) == ("liveportrait", None)
    with pytest.raises(SystemExit):
        parser.parse_args(["animate", "--portrait", "p", "--motion", "m", "--renderer", "neural"])


def test_stream_session_with_the_liveportrait_renderer(tiny_weights, astronaut, tiny_motion_model):
    from talkinghead.audio.io import load_audio
    from talkinghead.demo import demo_speech
    from talkinghead.diffusion.sampler import SamplerConfig
    from talkinghead.pipeline import PipelineConfig, TalkingHead
    from talkinghead.stream import StreamSession
    from talkinghead.timing import SAMPLE_RATE

    config = PipelineConfig(motion_model=tiny_motion_model, renderer="liveportrait",
                            renderer_weights=str(tiny_weights), sampler=SamplerConfig(window=8, prefix=10, steps=2))
    th = TalkingHead(config)
    assert isinstance(th.renderer, LivePortraitRenderer)
    speech = load_audio(str(demo_speech()))[: SAMPLE_RATE // 2]
    with StreamSession(th, astronaut, seed=0, window=8, output_size="crop") as session:
        session.push(speech)
        session.finish()
        frames = list(session)
    assert len(frames) == 13  # ceil(0.5 s * 25 fps)
    assert all(f.image.shape == (512, 512, 3) and f.image.dtype == np.uint8 for f in frames)
    assert isinstance(session.avatar, LivePortraitAvatar)
