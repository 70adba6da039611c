"""Warp renderer: identity renders, paste-back, seams, mouth and eye openings, odd portraits,
torch / OpenCV / ONNX agreement and the rig round trip (render -> MediaPipe -> fit)."""

from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np
import pytest
import torch

from talkinghead.errors import InvalidControlError, TalkingHeadError
from talkinghead.face import landmarks as L
from talkinghead.motion.channels import CHANNEL_INDEX
from talkinghead.render import WarpRenderer, WarpRendererConfig
from talkinghead.render.frame import eye_distance
from talkinghead.render.geometry import orientation_of, polygon_sdf
from talkinghead.render.holes import polygon_mask

from conftest import fixture_path

LUMA = np.array([0.299, 0.587, 0.114])


@pytest.fixture(scope="module")
def renderer():
    return WarpRenderer()


@pytest.fixture(scope="module")
def avatar(renderer, astronaut):
    return renderer.register(astronaut)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def touched(reg) -> np.ndarray:
    """(H, W) bool: photo pixels paste-back can change (under the resampled head mask)."""
    black = reg.paste_back(np.zeros_like(reg.crop)) != reg.photo
    white = reg.paste_back(np.full_like(reg.crop, 255)) != reg.photo
    return np.any(black | white, axis=-1)


def luma(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float64) @ LUMA


def jaw_drop(landmarks: np.ndarray, amount: float) -> np.ndarray:
    """Hand-made jaw opening: lower lip and chin down by ``amount`` IOD, fading out up the cheeks."""
    lm = np.asarray(landmarks, np.float64)[:, :2]
    iod = eye_distance(lm)
    mouth_y = lm[[L.UPPER_LIP_INNER, L.LOWER_LIP_INNER], 1].mean()
    hinge_y = lm[[234, 454], 1].mean()  # face-oval points at ear level
    along = np.clip((lm[:, 1] - hinge_y) / (lm[L.CHIN, 1] - hinge_y), 0.0, 1.0)
    weight = np.clip((lm[:, 1] - mouth_y) / (0.06 * iod), 0.0, 1.0) * along
    lower = list(L.LIPS_INNER_LOWER[1:-1] + L.LIPS_OUTER_LOWER[1:-1])
    upper = list(L.LIPS_INNER_UPPER[1:-1] + L.LIPS_OUTER_UPPER[1:-1])
    weight[lower], weight[upper] = along[lower], 0.0
    out = lm.copy()
    out[:, 1] += amount * iod * weight
    return out.astype(np.float32)


def blink(landmarks: np.ndarray, skin_above: float = 0.15) -> np.ndarray:
    """Hand-made full blink: each upper-lid point onto its lower-lid partner, the lid skin above
    following with a linear falloff over ``skin_above`` IOD (as a rig's blink does)."""
    lm = np.asarray(landmarks, np.float32)[:, :2]
    out = lm.copy()
    iod = eye_distance(lm)
    mesh = lm[: L.NUM_MESH_POINTS]
    for upper, lower in ((L.RIGHT_EYE_UPPER, L.RIGHT_EYE_LOWER), (L.LEFT_EYE_UPPER, L.LEFT_EYE_LOWER)):
        lid = lm[list(upper)]
        drop = lm[list(lower)] - lid  # (9, 2) per lid point
        nearest = np.argmin(np.abs(mesh[:, None, 0] - lid[None, :, 0]), axis=1)  # lid column of each point
        above = lid[nearest, 1] - mesh[:, 1]  # px above the lid in that column
        inside = (mesh[:, 0] > lid[0, 0]) & (mesh[:, 0] < lid[-1, 0]) & (above > 0)
        weight = np.where(inside, np.clip(1.0 - above / (skin_above * iod), 0.0, 1.0), 0.0)
        out[: L.NUM_MESH_POINTS] += weight[:, None] * drop[nearest]
        out[list(upper[1:-1])] = lm[list(lower[1:-1])]
    return out


def motion_with(avatar, **channels) -> np.ndarray:
    values = avatar.rest_motion.values[0].copy()
    for name, value in channels.items():
        values[CHANNEL_INDEX[name]] = value
    return values[None]


# --- identity ----------------------------------------------------------------------------

def test_source_landmarks_render_the_source_exactly(renderer, avatar):
    reg = avatar.registration
    crop = renderer.render_landmarks(avatar, avatar.source_landmarks, paste=False)[0]
    assert np.array_equal(crop, reg.crop)
    frame = renderer.render_landmarks(avatar, avatar.source_landmarks)[0]
    assert frame.shape == reg.photo.shape
    assert np.array_equal(frame, reg.paste_back(reg.crop))


def test_rest_motion_renders_back_the_source(renderer, avatar):
    reg = avatar.registration
    crop = renderer.render(avatar, avatar.rest_motion, paste=False)[0]
    face = reg.mask > 0
    assert psnr(crop[face], reg.crop[face]) >= 35.0
    frame = renderer.render(avatar, avatar.rest_motion)[0]
    head = touched(reg)
    assert np.array_equal(frame[~head], reg.photo[~head])
    assert psnr(frame[head], reg.photo[head]) >= 35.0  # after the crop -> photo resampling too


def test_pixels_outside_the_head_stay_byte_identical(renderer, avatar):
    reg = avatar.registration
    target = jaw_drop(avatar.source_landmarks, 0.3) + np.array([6.0, -4.0], np.float32)
    frame = renderer.render_landmarks(avatar, target)[0]
    head = touched(reg)
    assert head.mean() < 0.9
    assert np.array_equal(frame[~head], reg.photo[~head])
    assert not np.array_equal(frame[head], reg.photo[head])


def test_no_seam_at_the_crop_border_or_feather_ring(renderer, avatar):
    reg = avatar.registration
    target = jaw_drop(avatar.source_landmarks, 0.35)
    crop = renderer.render_landmarks(avatar, target, paste=False)[0].astype(np.float64)
    ring = (reg.mask > 0) & (reg.mask < 1)  # where the crop blends into the photo
    border = np.zeros_like(ring)
    border[:4], border[-4:], border[:, :4], border[:, -4:] = True, True, True, True
    assert np.abs(crop - reg.crop)[ring].mean() < 1.0
    assert np.abs(crop - reg.crop)[border].max() <= 1.0


# --- mouth and eyes ------------------------------------------------------------------------

def test_contours_run_clockwise_as_the_layers_assume():
    from talkinghead.face.canonical import canonical_landmarks

    points = canonical_landmarks()
    for contour in (L.LIPS_INNER, L.RIGHT_EYE, L.LEFT_EYE):
        assert orientation_of(points[list(contour)]) == 1


def _opened_region(source: np.ndarray, target: np.ndarray, size: int) -> np.ndarray:
    """Pixels inside the target inner-lip contour (1 px in) but outside the source's (grown 2 px)."""
    inner = list(L.LIPS_INNER)
    return polygon_mask(target[inner], size, -1.0) & ~polygon_mask(source[inner], size, 2.0)


def test_lowering_the_lower_lip_opens_a_dark_mouth(renderer, avatar):
    reg = avatar.registration
    target = jaw_drop(avatar.source_landmarks, 0.3)
    crop = renderer.render_landmarks(avatar, target, paste=False)[0]
    opened = _opened_region(avatar.source_landmarks, target, reg.crop_size)
    assert opened.sum() > 200
    skin = np.median(luma(reg.crop)[polygon_mask(reg.crop_landmarks[list(L.FACE_OVAL)], reg.crop_size)])
    inside = luma(crop)[opened]
    assert np.median(inside) < 0.5 * skin
    # No speckles: nearly all of the new opening is cavity-dark or tooth-bright, not skin-toned.
    assert np.mean(np.abs(inside - skin) < 0.1 * skin) < 0.1


def test_closed_mouth_portrait_opens_dark(renderer):
    avatar = renderer.register(str(fixture_path("portraits", "woman_frontal_neutral.jpg")))
    target = jaw_drop(avatar.source_landmarks, 0.3)
    crop = renderer.render_landmarks(avatar, target, paste=False)[0]
    opened = _opened_region(avatar.source_landmarks, target, avatar.crop_size)
    skin = np.median(luma(avatar.registration.crop)[polygon_mask(
        avatar.source_landmarks[list(L.FACE_OVAL)], avatar.crop_size)])
    assert np.median(luma(crop)[opened]) < 0.45 * skin


@pytest.mark.parametrize("name,degrees", [("pitch", -15.0), ("pitch", 15.0), ("yaw", -15.0), ("yaw", 15.0)])
def test_a_smile_keeps_its_teeth_when_the_head_turns(renderer, avatar, name, degrees):
    """The astronaut smiles with her teeth showing; nodding or turning must not black them out.
    Measured share of dark (luma < 0.3) pixels in the opening: 0.03 at rest; chin up (pitch -15)
    0.38 with the upper teeth on the nose base, 0.96 when they followed the eye-level skull points."""
    motion = motion_with(avatar, **{name: degrees})
    crop = renderer.render(avatar, motion, paste=False)[0]
    opening = polygon_mask(avatar.motion_landmarks(motion)[0][list(L.LIPS_INNER)], avatar.crop_size, -2.0)
    assert opening.sum() > 100
    assert np.mean(luma(crop)[opening] < 0.3 * 255) < 0.5


def test_lips_pushed_through_each_other_draw_no_mouth(renderer, avatar):
    target = avatar.source_landmarks.copy()
    # Lower inner lip 0.1 IOD above the upper one: physically impossible, must just close.
    iod = eye_distance(target)
    lower = list(L.LIPS_INNER_LOWER[1:-1])
    target[lower] = target[list(L.LIPS_INNER_UPPER[1:-1])] - np.array([0.0, 0.1 * iod], np.float32)
    model = avatar.model
    with torch.no_grad():
        prepared = model.prepare(torch.from_numpy(target[None]))
        *_, (origins, rgb, alpha) = model.layers(*prepared)
    assert float(alpha.max()) == 0.0


def test_a_blink_covers_the_iris_with_lid_skin(renderer, avatar):
    reg = avatar.registration
    crop = renderer.render_landmarks(avatar, blink(avatar.source_landmarks), paste=False)[0]
    for iris in (L.RIGHT_IRIS, L.LEFT_IRIS):
        x, y = np.round(reg.crop_landmarks[iris[0], :2]).astype(int)
        radius = max(2, int(0.5 * np.linalg.norm(reg.crop_landmarks[iris[1], :2] - reg.crop_landmarks[iris[0], :2])))
        before = luma(reg.crop[y - radius:y + radius + 1, x - radius:x + radius + 1]).mean()
        after = luma(crop[y - radius:y + radius + 1, x - radius:x + radius + 1]).mean()
        assert after > before + 25.0  # dark iris replaced by lighter lid skin
    with torch.no_grad():
        prepared = avatar.model.prepare(torch.from_numpy(blink(avatar.source_landmarks)[None]))
        layers = avatar.model.layers(*prepared)
    assert all(float(alpha.max()) == 0.0 for _, _, alpha in layers[:2])  # no eyeball drawn


def test_polygon_sdf_matches_a_brute_force_rasterisation():
    rng = np.random.default_rng(0)
    polygon = np.array([[10.0, 20.0], [50.0, 12.0], [60.0, 40.0], [30.0, 30.0], [14.0, 44.0]])
    points = rng.uniform(0, 64, size=(500, 2))
    sdf = polygon_sdf(torch.tensor(points[None], dtype=torch.float32),
                      torch.tensor(polygon[None], dtype=torch.float32))[0].numpy()
    inside = np.array([cv2.pointPolygonTest(polygon.astype(np.float32), tuple(p), True) for p in points])
    np.testing.assert_allclose(sdf, -inside, atol=1e-3)


# --- odd portraits -------------------------------------------------------------------------

def test_grayscale_portrait(renderer, astronaut):
    gray = np.repeat(cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    avatar = renderer.register(gray)
    crop = renderer.render_landmarks(avatar, jaw_drop(avatar.source_landmarks, 0.3), paste=False)[0]
    spread = crop.astype(int).max(-1) - crop.astype(int).min(-1)
    assert spread.max() <= 1  # the drawn mouth is gray too
    assert np.array_equal(renderer.render_landmarks(avatar, avatar.source_landmarks, paste=False)[0],
                          avatar.registration.crop)


def test_low_resolution_portrait(renderer, astronaut):
    small = cv2.resize(astronaut, (360, 360), interpolation=cv2.INTER_AREA)
    avatar = renderer.register(small)
    frames = renderer.render_landmarks(avatar, np.stack([avatar.source_landmarks,
                                                         jaw_drop(avatar.source_landmarks, 0.3)]))
    assert frames.shape == (2, 360, 360, 3) and frames.dtype == np.uint8
    assert np.array_equal(frames[0], avatar.registration.paste_back(avatar.registration.crop))
    assert not np.array_equal(frames[1], frames[0])


def test_low_resolution_fixture(renderer):
    path = fixture_path("portraits", "woman_smile_teeth_lowres.png")
    avatar = renderer.register(str(path))
    frame = renderer.render_landmarks(avatar, jaw_drop(avatar.source_landmarks, 0.2))[0]
    assert frame.shape == avatar.registration.photo.shape


# --- batching, backends, export ------------------------------------------------------------

def test_batches_render_like_single_frames(avatar):
    renderer = WarpRenderer(WarpRendererConfig(batch_size=2))
    targets = np.stack([jaw_drop(avatar.source_landmarks, a) for a in (0.0, 0.1, 0.2)] + [blink(avatar.source_landmarks)])
    together = renderer.render_landmarks(avatar, targets, paste=False)
    one_by_one = np.stack([renderer.render_landmarks(avatar, t, paste=False)[0] for t in targets])
    assert np.array_equal(together, one_by_one)


def test_torch_backend_matches_opencv_backend(avatar):
    targets = np.stack([jaw_drop(avatar.source_landmarks, 0.25), blink(avatar.source_landmarks)])
    fast = WarpRenderer(WarpRendererConfig(backend="opencv")).render_landmarks(avatar, targets, paste=False)
    exact = WarpRenderer(WarpRendererConfig(backend="torch")).render_landmarks(avatar, targets, paste=False)
    diff = np.abs(fast.astype(int) - exact.astype(int))
    assert diff.mean() < 0.2 and diff.max() <= 3


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_frame_model_exports_to_onnx(avatar, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    model = avatar.model
    target = torch.from_numpy(np.stack([jaw_drop(avatar.source_landmarks, 0.25), blink(avatar.source_landmarks)]))
    with torch.no_grad():
        expected = model(target).numpy()
    path = tmp_path / "warp.onnx"
    torch.onnx.export(model, (target,), str(path), input_names=["target"], output_names=["frames"],
                      dynamic_axes={"target": {0: "batch"}, "frames": {0: "batch"}}, opset_version=17, dynamo=False)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"target": target[:1].numpy()})[0]  # another batch size than traced
    assert np.abs(got - expected[:1]).max() <= 2.0 / 255.0


# --- errors --------------------------------------------------------------------------------

def test_bad_landmarks_and_settings_raise(renderer, avatar):
    with pytest.raises(InvalidControlError):
        renderer.render_landmarks(avatar, np.zeros((3, 10, 2)))
    bad = avatar.source_landmarks.copy()
    bad[5, 0] = np.nan
    with pytest.raises(InvalidControlError):
        renderer.render_landmarks(avatar, bad)
    with pytest.raises(TalkingHeadError):
        WarpRendererConfig(backend="vulkan")
    with pytest.raises(InvalidControlError):
        renderer.render(avatar, np.zeros((2, 5)))


# --- the rig round trip --------------------------------------------------------------------

SWEEPS = {  # swept channel -> channels set together
    "jawOpen": ("jawOpen",),
    "mouthSmile": ("mouthSmileLeft", "mouthSmileRight"),
    "eyeBlink": ("eyeBlinkLeft", "eyeBlinkRight"),
    "mouthPucker": ("mouthPucker",),
    "browInnerUp": ("browInnerUp",),
}
SWEEP_VALUES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


@pytest.fixture(scope="module")
def refit():
    """Frames -> motion.fit of MediaPipe's landmarks on them, as one video of an unknown face."""
    from talkinghead.face import FaceDetector
    from talkinghead.motion.fit import fit

    detector = FaceDetector()

    def run(frames: np.ndarray):
        points = []
        for frame in frames:
            faces = detector.detect(frame)
            assert faces, "MediaPipe lost the face in a rendered frame"
            points.append(detector.refine(frame, max(faces, key=lambda f: f.size)).landmarks)
        return fit(np.stack(points), same_face=True)

    yield run
    detector.close()


def _pearson(x, y) -> float:
    return float(np.corrcoef(x, y)[0, 1]) if np.ptp(y) > 1e-6 else 0.0


@pytest.mark.slow
@pytest.mark.parametrize("sweep", list(SWEEPS))
def test_round_trip_recovers_swept_channel(renderer, avatar, refit, sweep):
    from talkinghead.motion.fit import fit

    names = SWEEPS[sweep]
    motion = np.concatenate([motion_with(avatar, **{n: v for n in names}) for v in SWEEP_VALUES])
    column = [CHANNEL_INDEX[n] for n in names]
    driven = fit(avatar.motion_landmarks(motion), same_face=True).motion().values[:, column].mean(axis=1)
    assert _pearson(SWEEP_VALUES, driven) >= 0.95 and np.ptp(driven) >= 0.6, f"{sweep}: the rig's own landmarks " \
        f"fit to {np.round(driven, 2)}"
    got = refit(renderer.render(avatar, motion)).motion().values[:, column].mean(axis=1)
    r = _pearson(SWEEP_VALUES, got)
    assert r >= 0.9, f"{sweep}: Pearson r {r:.2f} (fitted {np.round(got, 2)}, from driven landmarks {np.round(driven, 2)})"


# Measured on the astronaut (same_face fits of [rest, turned], MediaPipe's depth in the pose fit), with
# the renderer's camera 8 IOD away: pitch -15 / +15 reads -13.3 / +13.1 and yaw -16.9 / +12.6. The
# rig's own (perspective) landmarks read pitch -15.3 / +14.7 and yaw -16.9 / +16.8 through the
# weak-perspective fit, so MediaPipe reads 87-89 % of the drawn nod and 75-100 % of the drawn turn:
# part of the yaw margin is the fit reading a perspective turn ~13 % large, as it would a real photo.
# Orthographic (camera_distance=inf) the same frames read pitch -12.9 / +12.2, yaw -14.3 / +10.7.
@pytest.mark.slow
@pytest.mark.parametrize("name,degrees", [("yaw", -15.0), ("yaw", 15.0), ("pitch", -15.0), ("pitch", 15.0)])
def test_round_trip_recovers_head_pose(renderer, avatar, refit, name, degrees):
    from talkinghead.motion.fit import fit

    motion = np.concatenate([avatar.rest_motion.values, motion_with(avatar, **{name: degrees})])
    column = CHANNEL_INDEX[name]
    orthographic = dataclasses.replace(avatar, camera_distance=math.inf)
    driven = np.diff(fit(orthographic.motion_landmarks(motion), same_face=True).pose[:, column])[0]
    assert abs(driven - degrees) < 0.1, f"{name} {degrees:+.0f}: the rig's own landmarks fit to {driven:.2f} deg"
    change = np.diff(refit(renderer.render(avatar, motion)).pose[:, column])[0]
    assert abs(change - degrees) <= 3.0, f"{name} {degrees:+.0f} deg renders as {change:.1f} deg to MediaPipe"


def test_perspective_widens_the_near_side_of_a_turn_and_leaves_roll_alone(avatar):
    far = dataclasses.replace(avatar, camera_distance=math.inf)
    rest = avatar.rest_motion.values

    def eye_widths(av, **pose):  # (right eye, left eye) corner-to-corner widths in px
        lm = av.motion_landmarks(motion_with(av, **pose))[0]
        return [float(np.linalg.norm(lm[group[0]] - lm[group[8]])) for group in (L.RIGHT_EYE, L.LEFT_EYE)]

    np.testing.assert_array_equal(avatar.motion_landmarks(rest), far.motion_landmarks(rest))
    np.testing.assert_allclose(avatar.motion_landmarks(motion_with(avatar, roll=12.0)),
                               far.motion_landmarks(motion_with(avatar, roll=12.0)), atol=1e-3)
    # yaw +20 turns the nose to the image's left: the subject's left eye (image right) comes nearer.
    right, left = eye_widths(avatar, yaw=20.0)
    right_far, left_far = eye_widths(far, yaw=20.0)
    assert left / right > 1.05 * (left_far / right_far)


@pytest.mark.fixtures
def test_open_mouth_portrait_closes_cleanly(renderer):
    avatar = renderer.register(str(fixture_path("portraits", "man_mouth_open.jpg")))
    src = avatar.source_landmarks
    iod = eye_distance(src)
    gap = float(src[L.LOWER_LIP_INNER, 1] - src[L.UPPER_LIP_INNER, 1]) / iod
    assert gap > 0.1  # the portrait's mouth is open
    target = jaw_drop(src, -gap)  # jaw up by the lip gap ...
    target[list(L.LIPS_INNER_LOWER[1:-1])] = target[list(L.LIPS_INNER_UPPER[1:-1])]  # ... lips meet
    crop = renderer.render_landmarks(avatar, target, paste=False)[0]
    # Where the source's cavity was and lips now are, nothing cavity-dark is left.
    size = avatar.crop_size
    source_open = polygon_mask(src[list(L.LIPS_INNER)], size, -3.0)
    now_lips = source_open & ~polygon_mask(target[list(L.LIPS_INNER)], size, 3.0)
    lips = polygon_mask(target[list(L.LIPS_OUTER)], size) & ~polygon_mask(target[list(L.LIPS_INNER)], size, 3.0)
    assert now_lips.sum() > 50
    assert np.percentile(luma(crop)[now_lips], 10) > 0.6 * np.median(luma(crop)[lips])


def test_camera_distance_from_the_command_line():
    from talkinghead.cli.controls import renderer_config_from_args
    from talkinghead.cli.main import build_parser
    from talkinghead.render.registry import load_renderer

    parser = build_parser()
    base = ["animate", "--portrait", "p.png", "--motion", "m.npz"]
    assert renderer_config_from_args(parser.parse_args(base)) is None  # the renderer's default (8 IOD)
    config = renderer_config_from_args(parser.parse_args(base + ["--camera-distance", "inf"]))
    assert load_renderer("warp", config=config).config.camera_distance == math.inf
    for flags, message in ((["--camera-distance", "1"], "at least"),
                           (["--camera-distance", "nan"], "at least"),
                           (["--camera-distance", "8", "--renderer", "liveportrait"], "warp renderer")):
        with pytest.raises(InvalidControlError, match=message):
            renderer_config_from_args(parser.parse_args(base + flags))
