"""Face pipeline: landmark groups, canonical face, image loading, detection, pose, crop, mask, paste-back."""

from __future__ import annotations

import warnings
from collections import Counter

import cv2
import numpy as np
import pytest

from talkinghead.errors import FaceTooSmallError, InvalidImageError, NoFaceError
from talkinghead.face import (FaceConfig, FaceDetector, MultipleFacesWarning, apply_affine, canonical_landmarks,
                              estimate_pose, invert_affine, load_image, paste_back, register_face)
from talkinghead.face import landmarks as L
from talkinghead.face.canonical import eye_centres
from talkinghead.face.pose import rotation_from_euler

from conftest import FIXTURES, fixture_path

# Hand-measured box around the astronaut's face (forehead to chin, ear to ear) in the 512 px image.
ASTRONAUT_FACE_BOX = (160, 50, 300, 200)  # x0, y0, x1, y1


@pytest.fixture(scope="session")
def detector():
    det = FaceDetector()
    yield det
    det.close()


@pytest.fixture(scope="session")
def astronaut_reg(astronaut, detector):
    return register_face(astronaut, detector=detector)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def rotate(image: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate about the image centre (positive = counter-clockwise on screen), same size, reflected border."""
    h, w = image.shape[:2]
    M = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), degrees, 1.0)
    return cv2.warpAffine(image, M, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


# --- landmark groups and canonical face ---------------------------------------------------

def _edges(chain, closed=False):
    pairs = list(zip(chain, chain[1:])) + ([(chain[-1], chain[0])] if closed else [])
    return {frozenset(p) for p in pairs}


def test_landmark_groups_match_mediapipe_connection_sets():
    fm = pytest.importorskip("mediapipe").solutions.face_mesh_connections
    as_set = lambda conns: {frozenset(c) for c in conns}  # noqa: E731
    assert _edges(L.LIPS_OUTER_UPPER) | _edges(L.LIPS_OUTER_LOWER) | _edges(L.LIPS_INNER_UPPER) \
        | _edges(L.LIPS_INNER_LOWER) == as_set(fm.FACEMESH_LIPS)
    assert _edges(L.RIGHT_EYE, closed=True) == as_set(fm.FACEMESH_RIGHT_EYE)
    assert _edges(L.LEFT_EYE, closed=True) == as_set(fm.FACEMESH_LEFT_EYE)
    assert _edges(L.RIGHT_EYEBROW_UPPER) | _edges(L.RIGHT_EYEBROW_LOWER) == as_set(fm.FACEMESH_RIGHT_EYEBROW)
    assert _edges(L.LEFT_EYEBROW_UPPER) | _edges(L.LEFT_EYEBROW_LOWER) == as_set(fm.FACEMESH_LEFT_EYEBROW)
    assert _edges(L.FACE_OVAL, closed=True) == as_set(fm.FACEMESH_FACE_OVAL)
    assert _edges(L.RIGHT_IRIS[1:], closed=True) == as_set(fm.FACEMESH_RIGHT_IRIS)
    assert _edges(L.LEFT_IRIS[1:], closed=True) == as_set(fm.FACEMESH_LEFT_IRIS)
    assert _edges(L.NOSE_BRIDGE) | _edges(L.NOSE_COLUMELLA) <= as_set(fm.FACEMESH_NOSE)
    assert _edges(L.JAW_LINE) <= _edges(L.FACE_OVAL, closed=True)


def test_landmark_groups_sides_and_order_on_canonical_face():
    c = canonical_landmarks()
    # subject's left appears on the image right (+x)
    assert c[list(L.LEFT_EYE), 0].min() > 0 > c[list(L.RIGHT_EYE), 0].max()
    assert c[L.MOUTH_CORNER_LEFT, 0] > 0 > c[L.MOUTH_CORNER_RIGHT, 0]
    for upper, lower in ((L.LIPS_OUTER_UPPER, L.LIPS_OUTER_LOWER), (L.RIGHT_EYE_UPPER, L.RIGHT_EYE_LOWER),
                         (L.LEFT_EYE_UPPER, L.LEFT_EYE_LOWER)):
        assert upper[0] == lower[0] and upper[-1] == lower[-1]  # corner to corner
        assert c[upper[0], 0] < c[upper[-1], 0]  # image-left to image-right
        assert c[list(upper[1:-1]), 1].mean() < c[list(lower[1:-1]), 1].mean()  # y down: upper is above
    counts = Counter(L.FACE_OVAL)
    assert len(L.FACE_OVAL) == 36 and max(counts.values()) == 1
    assert all(0 <= i < L.NUM_LANDMARKS for g in L.GROUPS.values() for i in g)


def test_canonical_frame():
    c = canonical_landmarks()
    assert c.shape == (478, 3) and np.all(np.isfinite(c))
    right, left = eye_centres(c)
    np.testing.assert_allclose(np.linalg.norm(left - right), 1.0, atol=1e-12)
    np.testing.assert_allclose((left + right) / 2, 0.0, atol=1e-12)
    assert c[L.NOSE_TIP, 2] == c[:, 2].min()  # nose tip is closest to the camera (z away)
    assert c[L.CHIN, 1] > c[L.NOSE_TIP, 1] > 0 > c[L.FOREHEAD_TOP, 1]  # y down
    mirrored = c[: L.NUM_MESH_POINTS] * [-1, 1, 1]
    d = np.linalg.norm(c[: L.NUM_MESH_POINTS, None] - mirrored[None], axis=2).min(axis=1)
    assert d.max() < 1e-6  # the published model is exactly symmetric
    for iris, eye in ((L.RIGHT_IRIS, L.RIGHT_EYE), (L.LEFT_IRIS, L.LEFT_EYE)):
        np.testing.assert_allclose(c[iris[0]], c[list(eye)].mean(axis=0))
        radii = np.linalg.norm(c[list(iris[1:])] - c[iris[0]], axis=1)
        assert np.allclose(radii, radii[0]) and 0.05 < radii[0] < 0.15
    c[0] = 99  # a copy: the cached model stays intact
    assert canonical_landmarks()[0, 0] != 99


# --- pose -----------------------------------------------------------------------------------

@pytest.mark.parametrize("yaw,pitch,roll", [(0, 0, 0), (25, -10, 8), (-30, 15, -20)])
def test_pose_recovers_a_known_similarity(yaw, pitch, roll):
    R = rotation_from_euler(yaw, pitch, roll)
    pts = 80.0 * canonical_landmarks() @ R.T + [300.0, 200.0, 5.0]
    pose = estimate_pose(pts)
    np.testing.assert_allclose([pose.yaw, pose.pitch, pose.roll], [yaw, pitch, roll], atol=1e-6)
    np.testing.assert_allclose([pose.tx, pose.ty, pose.scale], [300.0, 200.0, 80.0], atol=1e-6)
    assert pose.rms_error < 1e-9


def test_pose_sign_conventions():
    c = canonical_landmarks()
    yawed = 100 * c @ rotation_from_euler(20, 0, 0).T
    assert yawed[L.NOSE_TIP, 0] < 0  # positive yaw: the face turns to the image's left
    nodded = 100 * c @ rotation_from_euler(0, 20, 0).T
    assert nodded[L.NOSE_TIP, 1] > 100 * c[L.NOSE_TIP, 1]  # positive pitch: the nose moves down
    rolled = 100 * c @ rotation_from_euler(0, 0, 20).T
    assert rolled[L.LEFT_IRIS_CENTER, 1] > rolled[L.RIGHT_IRIS_CENTER, 1]  # clockwise: image-right eye drops


# --- image loading ---------------------------------------------------------------------------

def _gradient(h=48, w=64):
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // (w - 1), y * 255 // (h - 1), np.full_like(x, 90)], axis=2).astype(np.uint8)


def test_load_image_formats(tmp_path):
    from PIL import Image

    rgb = _gradient()
    Image.fromarray(rgb).save(tmp_path / "a.png")
    np.testing.assert_array_equal(load_image(tmp_path / "a.png"), rgb)

    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    rgba[0, 0, 3] = 0  # transparent pixel -> white
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    out = load_image(tmp_path / "rgba.png")
    assert out.shape == rgb.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out[0, 0], [255, 255, 255])
    np.testing.assert_array_equal(out[1:, 1:], rgb[1:, 1:])

    Image.fromarray(rgb[:, :, 0]).save(tmp_path / "gray.png")
    gray = load_image(tmp_path / "gray.png")
    assert gray.shape == rgb.shape and np.array_equal(gray[:, :, 1], rgb[:, :, 0])

    deep = (rgb[:, :, 0].astype(np.uint16) * 257)
    Image.fromarray(deep).save(tmp_path / "deep.png")  # 16-bit grayscale PNG
    np.testing.assert_array_equal(load_image(tmp_path / "deep.png")[:, :, 0], rgb[:, :, 0])

    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.jpg", quality=98)
    cmyk = load_image(tmp_path / "cmyk.jpg")
    assert cmyk.shape == rgb.shape and np.abs(cmyk.astype(int) - rgb).mean() < 6


def test_load_image_applies_exif_orientation(tmp_path):
    from PIL import Image

    rgb = _gradient(32, 64)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    Image.fromarray(rgb).save(tmp_path / "o.jpg", quality=98, exif=exif)
    out = load_image(tmp_path / "o.jpg")
    assert out.shape == (64, 32, 3)
    clockwise = np.rot90(rgb, -1)
    assert np.abs(out.astype(int) - clockwise).mean() < 4 < np.abs(out.astype(int) - np.rot90(rgb)).mean()


def test_load_image_arrays():
    rgb = _gradient()
    np.testing.assert_array_equal(load_image(rgb.astype(np.float32) / 255), rgb)
    np.testing.assert_array_equal(load_image(rgb.astype(np.uint16) * 257), rgb)
    assert load_image(rgb[:, :, 0]).shape == rgb.shape
    with pytest.raises(InvalidImageError):
        load_image(np.zeros((10, 10, 5), np.uint8))
    with pytest.raises(InvalidImageError):
        load_image(np.full((4, 4, 3), np.nan, np.float32))


@pytest.mark.parametrize("content", [b"", b"this is not an image\n", "truncated"])
def test_load_image_bad_files(tmp_path, content):
    from PIL import Image

    path = tmp_path / "bad.jpg"
    if content == "truncated":
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(path, quality=90)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        path.write_bytes(content)
    with pytest.raises(InvalidImageError):
        load_image(path)
    with pytest.raises(InvalidImageError):
        register_face(path)  # fails before any detection work


def test_load_image_missing_file(tmp_path):
    with pytest.raises(InvalidImageError, match="does not exist"):
        load_image(tmp_path / "nope.png")


# --- detection, pose, crop ---------------------------------------------------------------------

def test_astronaut_one_frontal_face(astronaut_reg):
    reg = astronaut_reg
    assert reg.num_faces == 1
    assert reg.landmarks.shape == (478, 3) and reg.crop_landmarks.shape == (478, 3)
    assert abs(reg.pose.yaw) < 15 and abs(reg.pose.pitch) < 15 and abs(reg.pose.roll) < 10
    x0, y0, x1, y1 = ASTRONAUT_FACE_BOX
    xy = reg.landmarks[:, :2]
    assert np.all((xy[:, 0] > x0) & (xy[:, 0] < x1) & (xy[:, 1] > y0) & (xy[:, 1] < y1))
    for iris, eye in ((L.RIGHT_IRIS_CENTER, L.RIGHT_EYE), (L.LEFT_IRIS_CENTER, L.LEFT_EYE)):
        contour = reg.landmarks[list(eye), :2].astype(np.float32)
        assert cv2.pointPolygonTest(contour, tuple(map(float, reg.landmarks[iris, :2])), False) > 0
    assert reg.landmarks[L.LEFT_IRIS_CENTER, 0] > reg.landmarks[L.RIGHT_IRIS_CENTER, 0]  # subject's left = image right


def test_crop_geometry(astronaut_reg):
    reg, cfg = astronaut_reg, astronaut_reg.config
    assert reg.crop.shape == (cfg.crop_size, cfg.crop_size, 3) and reg.crop.dtype == np.uint8
    M = np.vstack([reg.transform, [0, 0, 1]]) @ np.vstack([reg.inverse, [0, 0, 1]])
    np.testing.assert_allclose(M, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(invert_affine(reg.inverse), reg.transform, atol=1e-12)
    back = apply_affine(reg.inverse, reg.crop_landmarks)
    np.testing.assert_allclose(back, reg.landmarks, atol=1e-9)
    crop_pose = reg.crop_pose
    assert abs(crop_pose.roll) < 1.0  # roll removed
    np.testing.assert_allclose(crop_pose.scale, cfg.crop_size / cfg.crop_scale, rtol=0.02)
    eyes = (reg.crop_landmarks[L.RIGHT_IRIS_CENTER, :2] + reg.crop_landmarks[L.LEFT_IRIS_CENTER, :2]) / 2
    assert np.all(np.abs(eyes - cfg.crop_size / 2) < 0.15 * cfg.crop_size)  # head roughly centred


def test_head_mask_covers_face_and_fades_before_border(astronaut_reg):
    reg, cfg = astronaut_reg, astronaut_reg.config
    m = reg.mask
    assert m.dtype == np.float32 and m.min() == 0.0 and m.max() == 1.0
    b = int(cfg.mask_border_px)
    assert not np.any(m[:b]) and not np.any(m[-b:]) and not np.any(m[:, :b]) and not np.any(m[:, -b:])
    xy = np.round(reg.crop_landmarks[: L.NUM_MESH_POINTS, :2]).astype(int)
    assert np.all(m[xy[:, 1], xy[:, 0]] == 1.0)  # the whole face is fully inside
    above_forehead = reg.crop_landmarks[L.FOREHEAD_TOP, :2] - [0, 0.5 * cfg.crop_size / cfg.crop_scale]
    assert m[int(above_forehead[1]), int(above_forehead[0])] == 1.0  # hair above the forehead too
    ramp = m[(m > 0) & (m < 1)]
    assert ramp.size > 0  # a feathered edge, not a hard cut


@pytest.mark.parametrize("name,transform", [
    ("rot90", lambda im: np.ascontiguousarray(np.rot90(im))),
    ("rot-90", lambda im: np.ascontiguousarray(np.rot90(im, -1))),
    ("roll+15", lambda im: rotate(im, 15)),
    ("roll-15", lambda im: rotate(im, -15)),
])
def test_rotated_portraits_give_the_same_aligned_crop(astronaut, astronaut_reg, detector, name, transform):
    reg = register_face(transform(astronaut), detector=detector)
    d = np.linalg.norm(reg.crop_landmarks[: L.NUM_MESH_POINTS, :2] - astronaut_reg.crop_landmarks[: L.NUM_MESH_POINTS, :2],
                       axis=1)
    iod_px = reg.config.crop_size / reg.config.crop_scale
    assert d.mean() < 0.05 * iod_px and d.max() < 0.15 * iod_px, (d.mean(), d.max())
    expected_roll = {"rot90": -90, "rot-90": 90, "roll+15": -15, "roll-15": 15}[name]
    droll = (reg.pose.roll - astronaut_reg.pose.roll - expected_roll + 180) % 360 - 180
    assert abs(droll) < 4


def _check_round_trip(photo, crop, transform, mask, out):
    """Outside the resampled mask byte-identical; inside PSNR >= 40 dB."""
    alpha = cv2.warpAffine(mask, transform, (photo.shape[1], photo.shape[0]),
                           flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderValue=0.0)
    outside = alpha <= 0
    assert outside.any() and (~outside).any()
    np.testing.assert_array_equal(out[outside], photo[outside])
    assert psnr(out[~outside], photo[~outside]) >= 40.0


def test_paste_back_unmodified_crop_reproduces_photo(astronaut_reg):
    reg = astronaut_reg
    out = paste_back(reg.photo, reg.crop, reg.transform, reg.mask)
    assert out.shape == reg.photo.shape and out.dtype == np.uint8 and out is not reg.photo
    _check_round_trip(reg.photo, reg.crop, reg.transform, reg.mask, out)
    np.testing.assert_array_equal(reg.paste_back(reg.crop), out)  # cached plan == one-shot function


def test_paste_back_face_near_photo_edge(astronaut, detector):
    photo = np.ascontiguousarray(astronaut[30:330, 120:500])  # head touches the top edge; crop leaves the photo
    reg = register_face(photo, detector=detector)
    out = reg.paste_back(reg.crop)
    _check_round_trip(reg.photo, reg.crop, reg.transform, reg.mask, out)


def test_paste_back_only_touches_the_mask(astronaut_reg):
    reg = astronaut_reg
    edited = np.zeros_like(reg.crop)  # an extreme "render": all black
    out = reg.paste_back(edited)
    inverse_alpha = cv2.warpAffine(reg.mask, reg.transform, (reg.photo.shape[1], reg.photo.shape[0]),
                                   flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderValue=0.0)
    np.testing.assert_array_equal(out[inverse_alpha <= 0], reg.photo[inverse_alpha <= 0])
    full = inverse_alpha >= 1.0
    assert full.any() and out[full].max() <= 2  # fully masked pixels take the crop


def test_register_from_file_and_custom_crop_size(tmp_path, astronaut, detector):
    from PIL import Image

    Image.fromarray(astronaut).save(tmp_path / "astronaut.jpg", quality=95)
    reg = register_face(tmp_path / "astronaut.jpg", FaceConfig(crop_size=256), detector=detector)
    assert reg.crop.shape == (256, 256, 3) and reg.mask.shape == (256, 256)


# --- errors and warnings --------------------------------------------------------------------

def test_no_face(detector):
    import skimage.data

    with pytest.raises(NoFaceError, match="no face found") as info:
        register_face(skimage.data.coffee(), detector=detector)
    assert not isinstance(info.value, FaceTooSmallError)


def test_two_faces_warn_and_use_the_largest(astronaut, detector):
    head = astronaut[0:300, 75:375]
    small = cv2.resize(head, (220, 220), interpolation=cv2.INTER_AREA)
    canvas = np.full((300, 540, 3), 200, np.uint8)
    canvas[:, :300] = head
    canvas[40:260, 310:530] = small
    with pytest.warns(MultipleFacesWarning, match="found 2 faces"):
        reg = register_face(canvas, detector=detector)
    assert reg.num_faces == 2
    assert reg.landmarks[:, 0].max() < 300  # the big face on the left


def test_tiny_face(astronaut, detector):
    tiny = cv2.resize(astronaut, (160, 160), interpolation=cv2.INTER_AREA)  # face ~33 px across
    with pytest.raises(FaceTooSmallError, match="minimum 64 px"):
        register_face(tiny, detector=detector)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reg = register_face(tiny, FaceConfig(min_face_px=20), detector=detector)  # documented knob
    assert reg.num_faces == 1


def test_config_validation():
    from talkinghead.errors import TalkingHeadError

    with pytest.raises(TalkingHeadError):
        FaceConfig(crop_size=8)
    with pytest.raises(TalkingHeadError):
        FaceConfig(feather_px=200, mask_border_px=100, crop_size=256)


# --- CLI --------------------------------------------------------------------------------------

def test_cli_register_writes_picture(tmp_path, capsys):
    from talkinghead.cli.main import main

    out = tmp_path / "reg.png"
    assert main(["register", "-o", str(out), "--crop-size", "256"]) == 0
    picture = load_image(out)
    assert picture.shape == (256, 512, 3)
    assert "1 face(s)" in capsys.readouterr().out
    assert main(["register", "--portrait", str(tmp_path / "missing.jpg"), "-o", str(out)]) == 2


# --- optional real portraits ----------------------------------------------------------------

PORTRAITS = sorted(p.name for p in (FIXTURES / "portraits").glob("*")) if (FIXTURES / "portraits").is_dir() else []


@pytest.mark.parametrize("name", PORTRAITS or ["(none)"])
def test_fixture_portraits_register(name, detector):
    path = fixture_path("portraits", name)
    reg = register_face(path, detector=detector)
    assert reg.num_faces == 1 and reg.crop.shape == (512, 512, 3)
    assert abs(reg.pose.yaw) < 45 and abs(reg.pose.roll) < 30
    _check_round_trip(reg.photo, reg.crop, reg.transform, reg.mask, reg.paste_back(reg.crop))
