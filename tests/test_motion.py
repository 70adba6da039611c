"""Motion space: the Motion type, the rig, pose conventions, the fit and identity recovery."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from talkinghead.errors import InvalidControlError, TalkingHeadError
from talkinghead.face import landmarks as L
from talkinghead.face.canonical import canonical_landmarks
from talkinghead.motion import rig as rig_module
from talkinghead.motion.channels import (CHANNEL_NAMES, EXPRESSION_NAMES, EXPRESSION_SLICE,
                                         GAZE_SLICE, MOTION_DIM, NEUTRAL)
from talkinghead.motion.fit import fit, identity_from
from talkinghead.motion.motion import ARKIT_NAMES, Motion
from talkinghead.motion.pose import apply_pose, rotation_matrix, rotation_to_angles, similarity_matrix
from talkinghead.motion.rig import RIG_NAMES, Rig, build_basis, mirror_field, mirror_name
from talkinghead.motion.shape import NUM_SHAPE, rest_identity, shape_basis

TO_IMAGE = similarity_matrix(100.0, (256.0, 210.0))  # 100 px per IOD, like a 512 px crop of 5 IOD
ANTAGONISTS = {frozenset(p) for s in ("Left", "Right") for p in
               [("eyeBlink" + s, "eyeWide" + s), ("mouthSmile" + s, "mouthFrown" + s)]}


def _random_motion(rng: np.random.Generator, frames: int, active: int = 4) -> np.ndarray:
    """Sparse random expressions (no antagonist pairs at once), random gaze and moderate poses."""
    values = np.tile(np.asarray(NEUTRAL), (frames, 1))
    values[:, 0:3] = rng.uniform([-20, -15, -10], [20, 15, 10], (frames, 3))
    values[:, 3:5] = rng.uniform(-0.1, 0.1, (frames, 2))
    values[:, 5] = rng.uniform(0.9, 1.1, frames)
    for t in range(frames):
        chosen: list[int] = []
        for k in rng.permutation(len(EXPRESSION_NAMES)):
            pair_clash = any(frozenset((EXPRESSION_NAMES[k], EXPRESSION_NAMES[j])) in ANTAGONISTS for j in chosen)
            if not pair_clash:
                chosen.append(int(k))
            if len(chosen) == active:
                break
        values[t, EXPRESSION_SLICE.start + np.array(chosen)] = rng.uniform(0.2, 1.0, active)
    values[:, GAZE_SLICE] = rng.uniform(-0.8, 0.8, (frames, 2))
    return values


# ----------------------------------------------------------------------------- Motion type
def test_motion_neutral_and_channels():
    m = Motion.from_channels({"jawOpen": [0.1, 0.5, 0.9], "yaw": 10.0})
    assert m.values.shape == (3, MOTION_DIM) and m.values.dtype == np.float32
    np.testing.assert_allclose(m["jawOpen"], [0.1, 0.5, 0.9], atol=1e-7)
    assert (m["yaw"] == 10).all() and (m["scale"] == 1).all() and (m["mouthSmileLeft"] == 0).all()
    n = Motion.neutral(4, fps=30)
    assert n.fps == 30 and np.array_equal(n.values[1], np.asarray(NEUTRAL, np.float32))
    assert m.with_channels(jawOpen=0.0)["jawOpen"].max() == 0 and m["jawOpen"].max() > 0


def test_motion_npz_round_trip(tmp_path):
    m = Motion(np.random.default_rng(0).uniform(0, 1, (7, MOTION_DIM)), fps=30)
    path = m.save(tmp_path / "m.npz")
    assert Motion.load(path) == m
    with np.load(path) as data:
        assert tuple(data["channel_names"]) == CHANNEL_NAMES
    # a file with reordered columns is reordered back
    order = np.random.default_rng(1).permutation(MOTION_DIM)
    np.savez(tmp_path / "r.npz", values=m.values[:, order], fps=30.0, channel_names=np.array(CHANNEL_NAMES)[order])
    assert Motion.load(tmp_path / "r.npz") == m
    assert not list(tmp_path.glob(".*tmp"))  # no temp files left behind


def test_motion_npz_bad_names_and_files(tmp_path):
    names = list(CHANNEL_NAMES)
    names[7] = "mouthSmileCentre"
    np.savez(tmp_path / "bad.npz", values=np.zeros((2, MOTION_DIM)), fps=25.0, channel_names=np.array(names))
    with pytest.raises(InvalidControlError, match="mouthSmileCentre"):
        Motion.load(tmp_path / "bad.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(TalkingHeadError):
        Motion.load(tmp_path / "junk.npz")
    with pytest.raises(TalkingHeadError):
        Motion.load(tmp_path / "missing.npz")


def test_motion_csv_and_json_round_trip(tmp_path):
    rng = np.random.default_rng(2)
    values = _random_motion(rng, 6)
    m = Motion(values, fps=30)
    for unit in ("degrees", "radians"):
        back = Motion.from_csv(m.to_csv(tmp_path / f"m_{unit}.csv", angle_unit=unit), angle_unit=unit)
        assert back.fps == pytest.approx(30, abs=1e-3)
        np.testing.assert_allclose(back.values, m.values, atol=1e-5)
    back = Motion.from_json(m.to_json(tmp_path / "m.json", angle_unit="radians"))
    np.testing.assert_allclose(back.values, m.values, atol=1e-5)
    header = (tmp_path / "m_degrees.csv").read_text().splitlines()[0].split(",")
    assert header == ["frame", "time", *ARKIT_NAMES]
    doc = json.loads((tmp_path / "m.json").read_text())
    assert set(doc["channels"]) == set(ARKIT_NAMES) and doc["angleUnit"] == "radians"


def test_arkit_gaze_and_head_mapping():
    m = Motion.from_channels({"gazeX": [0.6, -0.4], "gazeY": [0.3, -0.2], "yaw": [30.0, 0.0]})
    table = m.to_arkit(angle_unit="radians")
    # looking towards the image's right = the subject's left: left eye out, right eye in
    np.testing.assert_allclose(table["eyeLookOutLeft"], [0.6, 0.0], atol=1e-6)
    np.testing.assert_allclose(table["eyeLookInRight"], [0.6, 0.0], atol=1e-6)
    np.testing.assert_allclose(table["eyeLookInLeft"], [0.0, 0.4], atol=1e-6)
    np.testing.assert_allclose(table["eyeLookDownLeft"], [0.3, 0.0], atol=1e-6)
    np.testing.assert_allclose(table["eyeLookUpRight"], [0.0, 0.2], atol=1e-6)
    np.testing.assert_allclose(table["headYaw"], [np.pi / 6, 0.0], atol=1e-6)
    assert all(0.0 <= table[n].min() and table[n].max() <= 1.0 for n in ARKIT_NAMES if n.startswith("eyeLook"))


@pytest.mark.parametrize("values", [np.zeros((3, MOTION_DIM - 1)), np.zeros((0, MOTION_DIM)),
                                    np.full((2, MOTION_DIM), np.nan), np.zeros((2, 3, MOTION_DIM))])
def test_motion_rejects_bad_arrays(values):
    with pytest.raises(InvalidControlError):
        Motion(values)


def test_motion_rejects_bad_controls(tmp_path):
    with pytest.raises(InvalidControlError, match="mouthSmile"):
        Motion.from_channels({"mouthSmile": 1.0})  # ARKit has only ...Left / ...Right
    with pytest.raises(InvalidControlError):
        Motion.from_channels({"jawOpen": [0.1, 0.2], "yaw": [1.0, 2.0, 3.0]})
    with pytest.raises(InvalidControlError):
        Motion.neutral(2, fps=0)
    with pytest.raises(InvalidControlError):
        Motion.neutral(2).channel("nope")
    with pytest.raises(InvalidControlError, match="out of range"):
        Motion.from_channels({"jawOpen": [1.5]}).check_ranges()
    assert Motion.from_channels({"jawOpen": [1.5]}).clipped()["jawOpen"][0] == 1.0
    (tmp_path / "x.csv").write_text("frame,time,jawOpen,mouthGrin\n0,0,0.1,0.2\n")
    with pytest.raises(InvalidControlError, match="mouthGrin"):
        Motion.from_csv(tmp_path / "x.csv")
    (tmp_path / "y.csv").write_text("frame,time,jawOpen\n0,0,abc\n")
    with pytest.raises(InvalidControlError):
        Motion.from_csv(tmp_path / "y.csv")


# ----------------------------------------------------------------------------- rig
def test_basis_shape_and_finite():
    basis = build_basis()
    assert basis.shape == (len(RIG_NAMES), L.NUM_LANDMARKS, 3) and basis.dtype == np.float32
    assert np.isfinite(basis).all()
    norms = np.linalg.norm(basis, axis=-1).max(axis=1)  # (31,) largest displacement per channel
    assert (norms > 0.03).all() and (norms < 0.7).all(), dict(zip(RIG_NAMES, norms.round(3)))
    iris = list(L.IRIS_POINTS)
    assert np.abs(basis[: len(EXPRESSION_NAMES)][:, iris]).max() == 0  # only gaze moves the irises
    gaze = basis[len(EXPRESSION_NAMES):]
    assert np.abs(np.delete(gaze, iris, axis=1)).max() == 0


@pytest.mark.parametrize("identity", [None, "canonical"])
def test_left_right_channels_mirror_each_other(identity):
    face = canonical_landmarks() if identity == "canonical" else None
    basis = build_basis(face).astype(np.float64)
    for k, name in enumerate(RIG_NAMES):
        if name.startswith("gaze"):
            continue
        partner = RIG_NAMES.index(mirror_name(name))
        np.testing.assert_allclose(mirror_field(basis[partner]), basis[k], atol=1e-6, err_msg=name)


def test_neutral_motion_gives_posed_identity():
    identity = rest_identity() + np.random.default_rng(3).normal(0, 0.01, (L.NUM_LANDMARKS, 3))
    rig = Rig(identity)
    np.testing.assert_allclose(rig.landmarks(Motion.neutral(2))[1], identity, atol=1e-12)
    pose = np.array([[12.0, -5.0, 3.0, 0.05, -0.02, 1.1]])
    motion = Motion.neutral(1).values.astype(np.float64)
    motion[:, :6] = pose
    np.testing.assert_allclose(rig.landmarks(motion), apply_pose(identity[None], pose), atol=1e-12)
    np.testing.assert_allclose(rig_module.landmarks(identity, motion), apply_pose(identity[None], pose), atol=1e-12)
    pixels = rig.image_landmarks(motion, TO_IMAGE)
    np.testing.assert_allclose(pixels, apply_pose(identity[None], pose)[..., :2] * 100 + [256, 210], atol=1e-9)


def test_pose_conventions():
    face = rest_identity()[None]
    nose, left_eye = L.NOSE_TIP, L.LEFT_EYE_OUTER
    turned = apply_pose(face, np.array([[20.0, 0, 0, 0, 0, 1]]))[0]
    assert turned[nose, 0] < face[0, nose, 0] - 0.1  # positive yaw: nose towards the image's left
    nodded = apply_pose(face, np.array([[0, 20.0, 0, 0, 0, 1]]))[0]
    assert nodded[nose, 1] > face[0, nose, 1] + 0.1  # positive pitch: nose down
    rolled = apply_pose(face, np.array([[0, 0, 20.0, 0, 0, 1]]))[0]
    assert rolled[left_eye, 1] > face[0, left_eye, 1] + 0.1  # positive roll: clockwise on screen
    angles = np.random.default_rng(4).uniform(-40, 40, (20, 3))
    np.testing.assert_allclose(rotation_to_angles(rotation_matrix(angles)), angles, atol=1e-9)


def test_blink_closes_the_eye_and_keeps_the_iris():
    rig = Rig()
    for side, upper, lower, iris in (("Left", L.LEFT_EYE_UPPER, L.LEFT_EYE_LOWER, L.LEFT_IRIS),
                                     ("Right", L.RIGHT_EYE_UPPER, L.RIGHT_EYE_LOWER, L.RIGHT_IRIS)):
        shut = rig.landmarks(Motion.from_channels({"eyeBlink" + side: [0.0, 1.0]}))
        open_gap = shut[0, list(lower), 1] - shut[0, list(upper), 1]
        closed_gap = shut[1, list(lower), 1] - shut[1, list(upper), 1]
        assert open_gap.max() > 0.12 and open_gap[1:-1].min() > 0.03  # the rest face's eyes are open
        assert np.abs(closed_gap).max() < 0.01 * open_gap.max() + 1e-9  # lids meet
        np.testing.assert_allclose(shut[1, list(iris)], shut[0, list(iris)], atol=1e-12)
        other = L.RIGHT_EYE_UPPER if side == "Left" else L.LEFT_EYE_UPPER
        np.testing.assert_allclose(shut[1, list(other)], shut[0, list(other)], atol=1e-12)


def test_jaw_open_moves_chin_not_forehead():
    rig = Rig()
    frames = rig.landmarks(Motion.from_channels({"jawOpen": [0.0, 1.0]}))
    move = frames[1] - frames[0]
    assert move[L.CHIN, 1] > 0.25 and move[L.LOWER_LIP_INNER, 1] > 0.4  # chin and lower lip drop
    assert np.abs(move[L.UPPER_LIP_INNER]).max() < 1e-9 and np.abs(move[L.NOSE_TIP]).max() < 1e-9
    upper_face = rig.identity[:, 1] < 0.3  # eyes, brows, forehead
    assert np.abs(move[upper_face]).max() < 1e-9
    # smooth falloff along the jaw line: in the image plane the displacement grows from ~0 at the
    # ears to its maximum at the chin, monotonically and with bounded strain (no jumps)
    jaw_points = list(L.JAW_LINE)
    jaw = np.linalg.norm(move[jaw_points, :2], axis=1)
    half = len(jaw_points) // 2
    assert jaw[0] < 0.01 and jaw[-1] < 0.01 and jaw[half] == jaw.max()
    assert (np.diff(jaw[: half + 1]) >= -1e-9).all() and (np.diff(jaw[half:]) <= 1e-9).all()
    segment = np.linalg.norm(np.diff(rig.identity[jaw_points, :2], axis=0), axis=1)
    assert (np.abs(np.diff(jaw)) / segment).max() < 0.7


def test_smile_and_pucker_move_corners_as_named():
    rig = Rig()
    base = rig.landmarks(Motion.neutral(1))[0]
    smile = rig.landmarks(Motion.from_channels({"mouthSmileLeft": [1.0]}))[0] - base
    corner, other = L.MOUTH_CORNER_LEFT, L.MOUTH_CORNER_RIGHT
    assert smile[corner, 0] > 0.04 and smile[corner, 1] < -0.04  # out (towards +x) and up
    assert np.abs(smile[other]).max() < 1e-3
    pucker = rig.landmarks(Motion.from_channels({"mouthPucker": [1.0]}))[0] - base
    assert pucker[corner, 0] < -0.08 and pucker[other, 0] > 0.08  # corners towards the centre
    assert pucker[L.UPPER_LIP_TOP, 2] < -0.05  # lips protrude towards the camera


def test_rig_rejects_bad_inputs():
    with pytest.raises(InvalidControlError):
        Rig(np.zeros((468, 3)))
    with pytest.raises(InvalidControlError):
        Rig(np.full((L.NUM_LANDMARKS, 3), np.inf))
    with pytest.raises(InvalidControlError):
        Rig().landmarks(np.zeros((2, MOTION_DIM + 1)))
    with pytest.raises(InvalidControlError):
        Rig().image_landmarks(Motion.neutral(1), np.zeros((2, 3)))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch's legacy (TorchScript) exporter
def test_rig_module_exports_to_onnx():
    torch = pytest.importorskip("torch")
    ort = pytest.importorskip("onnxruntime")
    rig = Rig()
    values = _random_motion(np.random.default_rng(5), 3).astype(np.float32)
    module = rig.module(TO_IMAGE)
    np.testing.assert_allclose(module(torch.from_numpy(values)).numpy(), rig.image_landmarks(values, TO_IMAGE),
                               atol=2e-3)
    buffer = io.BytesIO()
    torch.onnx.export(module, (torch.from_numpy(values),), buffer, input_names=["motion"],
                      output_names=["landmarks"], dynamic_axes={"motion": {0: "frames"}, "landmarks": {0: "frames"}},
                      opset_version=17, dynamo=False)
    session = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    longer = np.concatenate([values, values[:2]])
    out = session.run(None, {"motion": longer})[0]
    np.testing.assert_allclose(out, rig.image_landmarks(longer, TO_IMAGE), atol=2e-3)


# ----------------------------------------------------------------------------- fit
def test_fit_recovers_rig_generated_motion_exactly():
    rng = np.random.default_rng(6)
    truth = _random_motion(rng, 40)
    rig = Rig()
    result = fit(rig.image_landmarks(truth, TO_IMAGE), identity=rig.identity, to_image=TO_IMAGE)
    got = result.motion().values
    np.testing.assert_allclose(got[:, :3], truth[:, :3], atol=1e-3)  # degrees
    np.testing.assert_allclose(got[:, 3:], truth[:, 3:], atol=3e-3)
    assert result.residual.max() < 1e-2  # pixels


def test_fit_with_noise_keeps_channels_correlated():
    rng = np.random.default_rng(7)
    truth = _random_motion(rng, 150)
    rig = Rig()
    noisy = rig.image_landmarks(truth, TO_IMAGE) + rng.normal(0.0, 0.3, (150, L.NUM_LANDMARKS, 2))
    result = fit(noisy, identity=rig.identity, to_image=TO_IMAGE)
    for k, name in enumerate(EXPRESSION_NAMES):
        r = np.corrcoef(result.expression[:, k], truth[:, EXPRESSION_SLICE.start + k])[0, 1]
        assert r >= 0.9, (name, r)
    assert np.abs(result.pose[:, :3] - truth[:, :3]).max() < 1.5  # degrees


def test_fit_reference_transform_for_one_portrait():
    rig = Rig()
    truth = Motion.from_channels({"yaw": [8.0], "roll": [-5.0], "jawOpen": [0.3]}).values
    landmarks = rig.image_landmarks(truth, TO_IMAGE)
    result = fit(landmarks, identity=rig.identity)  # no transform given: chosen from the data
    np.testing.assert_allclose(result.pose[0, 3:], [0.0, 0.0, 1.0], atol=1e-6)  # centred, unit scale
    np.testing.assert_allclose(result.pose[0, :3], [8.0, 0.0, -5.0], atol=1e-3)
    again = rig.image_landmarks(result.motion(), result.to_image)
    np.testing.assert_allclose(again, landmarks, atol=1e-2)


def _with_depth(rig: Rig, truth: np.ndarray, px_per_unit: float, offset: float) -> np.ndarray:
    """(T, 478, 3) pixel landmarks plus depth in another unit with another origin (as MediaPipe's z)."""
    depth = rig.landmarks(truth)[..., 2:] * px_per_unit + offset
    return np.concatenate([rig.image_landmarks(truth, TO_IMAGE), depth], axis=-1)


def test_fit_with_observed_depth_recovers_pose_exactly():
    rng = np.random.default_rng(8)
    truth = _random_motion(rng, 30)
    rig = Rig()
    result = fit(_with_depth(rig, truth, 73.0, -12.0), identity=rig.identity, to_image=TO_IMAGE)
    np.testing.assert_allclose(result.pose[:, :3], truth[:, :3], atol=1e-3)  # degrees
    np.testing.assert_allclose(result.channels, truth[:, 6:], atol=3e-3)
    # A depth column that does not vary is no depth: the fit is the 2-D one.
    flat = np.concatenate([rig.image_landmarks(truth, TO_IMAGE), np.zeros((30, L.NUM_LANDMARKS, 1))], axis=-1)
    plain = fit(flat[..., :2], identity=rig.identity, to_image=TO_IMAGE)
    np.testing.assert_array_equal(fit(flat, identity=rig.identity, to_image=TO_IMAGE).pose, plain.pose)


def test_observed_depth_steadies_pitch_on_a_face_of_unknown_proportions():
    """x, y alone confound a nod with the face's proportions; depth (with its own noise) does not.
    (Measured over seeds 0-3 at 0.5-1 px noise: the depth fit's error is 0.5-0.8x the x, y one's.)"""
    rng = np.random.default_rng(3)
    identity = rest_identity() + np.tensordot(rng.normal(0.0, 1.0, NUM_SHAPE), shape_basis(rest_identity()), axes=1)
    rig = Rig(identity)
    truth = np.tile(np.asarray(NEUTRAL), (40, 1))
    truth[:, 1] = rng.uniform(-15.0, 15.0, 40)  # pitch only
    observed = _with_depth(rig, truth, 100.0, 5.0) + rng.normal(0.0, 1.0, (40, L.NUM_LANDMARKS, 3))
    with_depth = fit(observed, same_face=True).pose[:, 1]
    xy_only = fit(observed[..., :2], same_face=True).pose[:, 1]
    error = {name: np.abs(np.diff(got) - np.diff(truth[:, 1])).mean() for name, got in
             (("depth", with_depth), ("xy", xy_only))}
    assert error["depth"] < 0.7 * error["xy"], error


def test_identity_from_neutralises_an_open_smiling_portrait():
    rig = Rig()
    expressive = Motion.from_channels({"jawOpen": [0.6], "mouthSmileLeft": [0.7], "mouthSmileRight": [0.7],
                                       "yaw": [10.0]}).values
    landmarks = rig.image_landmarks(expressive, TO_IMAGE)[0]
    result = fit(landmarks)  # unknown face: shape modes and priors on (values shrink towards 0)
    assert result.expression[0, EXPRESSION_NAMES.index("jawOpen")] > 0.5
    assert result.expression[0, EXPRESSION_NAMES.index("mouthSmileLeft")] > 0.25
    identity = identity_from(landmarks, result)
    assert identity.shape == (L.NUM_LANDMARKS, 3)
    gap = identity[L.LOWER_LIP_INNER, 1] - identity[L.UPPER_LIP_INNER, 1]
    assert abs(gap) < 0.05  # the neutral face's mouth is closed (the open one's gap was ~0.3)
    again = Rig(identity).image_landmarks(result.motion(), result.to_image)[0]
    np.testing.assert_allclose(again, landmarks, atol=0.05)  # and it still explains the portrait


@pytest.mark.parametrize("landmarks", [np.zeros((468, 2)), np.zeros((2, L.NUM_LANDMARKS, 4)),
                                       np.full((L.NUM_LANDMARKS, 2), np.nan)])
def test_fit_rejects_bad_landmarks(landmarks):
    with pytest.raises(InvalidControlError):
        fit(landmarks)


def test_fit_rejects_non_similarity_transform():
    landmarks = Rig().image_landmarks(Motion.neutral(1), TO_IMAGE)
    with pytest.raises(InvalidControlError):
        fit(landmarks, to_image=[[100.0, 0, 0], [0, 50.0, 0]])  # anisotropic
    with pytest.raises(InvalidControlError):
        fit(landmarks, to_image=[[-100.0, 0, 0], [0, 100.0, 0]])  # mirrored


def test_fit_of_a_smiling_photo(astronaut):
    """Real MediaPipe landmarks: the astronaut's smile is reported, her open eyes are not a blink."""
    from talkinghead.face import register_face

    reg = register_face(astronaut)
    result = fit(reg.crop_landmarks)
    expression = dict(zip(EXPRESSION_NAMES, result.expression[0]))
    assert min(expression["mouthSmileLeft"], expression["mouthSmileRight"]) > 0.5
    assert max(expression["eyeBlinkLeft"], expression["eyeBlinkRight"]) < 0.3
    assert abs(result.pose[0, 0]) < 15 and result.residual[0] < 0.1 * result.to_image[0, 0]


# ----------------------------------------------------------------------------- every channel alone
SWEEP = np.array([0.25, 0.5, 0.75, 1.0])  # each channel driven alone to these values
MAX_LEAK = 0.5  # other channels may change by at most this fraction of the driven channel's own reading


def _one_channel_sweeps(base: np.ndarray) -> np.ndarray:
    """(29 * 4, 37) motion: from the (37,) ``base``, each expression channel alone at SWEEP (EXPRESSION_NAMES order)."""
    values = np.tile(base, (len(EXPRESSION_NAMES) * len(SWEEP), 1))
    for k in range(len(EXPRESSION_NAMES)):
        values[k * len(SWEEP):(k + 1) * len(SWEEP), EXPRESSION_SLICE.start + k] = SWEEP
    return values


def _assert_each_channel_read_alone(expression: np.ndarray, min_range: float, max_leak: float = MAX_LEAK):
    """expression (29 * 4, 29) fitted to :func:`_one_channel_sweeps`: per sweep the driven channel follows
    (Pearson r >= 0.95, range >= min_range) and no other channel moves by more than max_leak times that range."""
    for k, name in enumerate(EXPRESSION_NAMES):
        block = expression[k * len(SWEEP):(k + 1) * len(SWEEP)]  # (4, 29)
        own = block[:, k]
        r = np.corrcoef(SWEEP, own)[0, 1] if np.ptp(own) > 1e-9 else 0.0
        leak = np.ptp(np.delete(block, k, axis=1), axis=0)  # (28,)
        other = [n for n in EXPRESSION_NAMES if n != name][int(leak.argmax())]
        assert r >= 0.95 and np.ptp(own) >= min_range, f"{name}: read {np.round(own, 3)} (r={r:.3f})"
        assert leak.max() <= max_leak * np.ptp(own), f"{name} at {SWEEP} moves {other} by {leak.max():.3f}; " \
                                                     f"its own reading spans {np.ptp(own):.3f}"


def test_every_channel_alone_is_recovered_exactly_on_a_known_face():
    rig = Rig()
    motion = _one_channel_sweeps(np.asarray(NEUTRAL))
    result = fit(rig.image_landmarks(motion, TO_IMAGE), identity=rig.identity, to_image=TO_IMAGE)
    np.testing.assert_allclose(result.expression, motion[:, EXPRESSION_SLICE], atol=2e-3)


def test_every_channel_alone_reads_from_single_frames_of_an_unknown_face():
    """Portrait mode (each frame its own unknown face): values shrink under the priors, but every
    channel's field must stay distinct enough from the others (and from the identity shape modes)
    that driving it alone reads mostly as itself: a collinear pair of fields fails here."""
    motion = _one_channel_sweeps(np.asarray(NEUTRAL))
    result = fit(Rig().image_landmarks(motion, TO_IMAGE))
    _assert_each_channel_read_alone(result.expression, min_range=0.05)


def test_same_face_reads_every_channel_on_a_smiling_photo(astronaut):
    """The astronaut's own rig (she smiles: smile ~1, stretch ~0.5) driven one channel at a time from her
    expression, fitted as one video of an unknown face. Frame by frame a pucker or a brow raise on
    this face reads as 0 (less smile, a narrower mouth, higher brows explain it as cheaply)."""
    from talkinghead.face import register_face

    landmarks = register_face(astronaut).crop_landmarks
    fitted = fit(landmarks)
    rig = Rig(identity_from(landmarks, fitted, iterations=0), fitted.basis)
    driven = rig.image_landmarks(_one_channel_sweeps(fitted.motion().values[0]), fitted.to_image)
    result = fit(driven, same_face=True)
    _assert_each_channel_read_alone(result.expression, min_range=0.3)


def test_same_face_of_one_frame_is_the_portrait_fit():
    landmarks = Rig().image_landmarks(_random_motion(np.random.default_rng(8), 1), TO_IMAGE)
    portrait, sequence = fit(landmarks), fit(landmarks, same_face=True)
    np.testing.assert_allclose(sequence.motion().values, portrait.motion().values, atol=1e-3)
