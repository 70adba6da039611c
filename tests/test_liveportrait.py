"""LivePortrait-architecture modules: checkpoint format, numerical equivalence, 3-D sampling, loading.

Equivalence tests read ../shared/liveportrait-reference (random weights + LivePortrait's own
outputs) and skip when it is absent; everything else runs everywhere on tiny configs.
"""

from __future__ import annotations

import dataclasses
import io
import json
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from talkinghead.config import from_dict
from talkinghead.errors import ModelNotFoundError, TalkingHeadError
from talkinghead.render.liveportrait import (
    APPEARANCE_SIZES,
    CHECKPOINT_FILES,
    HUB_ID,
    MOTION_EXTRACTOR_SIZES,
    SPADE_SIZES,
    WARPING_SIZES,
    AppearanceFeatureExtractor,
    AppearanceFeatureExtractorConfig,
    DenseMotionConfig,
    LivePortraitConfig,
    LivePortraitModels,
    MotionExtractor,
    SPADEGenerator,
    SPADEGeneratorConfig,
    StitchingRetargeting,
    WarpingModule,
    WarpingModuleConfig,
    bins_to_degrees,
    expected_state_dict_shapes,
    grid_sample_3d,
    grid_sample_3d_gather,
    keypoint_info,
    load_liveportrait,
    rotation_matrix,
    state_dict_mismatches,
    state_dict_shapes,
    transform_keypoints,
)
from talkinghead.render.liveportrait.retargeting import CHECKPOINT_GROUPS
from talkinghead.render.liveportrait.warping import coordinate_grid

from conftest import SHARED

REFERENCE = SHARED / "liveportrait-reference"
TOLERANCE = 1e-4  # max abs error allowed against LivePortrait's own float32 outputs
SMALL_KP = 21


def reference(name: str):
    path = REFERENCE / name
    if not path.exists():
        pytest.skip(f"{path} not present (LivePortrait reference data)")
    return path


def reference_io(module: str) -> dict[str, torch.Tensor]:
    with np.load(reference(f"{module}_small_io.npz")) as data:
        return {k: torch.from_numpy(data[k]) for k in data.files}


def load_reference_weights(module: torch.nn.Module, name: str) -> torch.nn.Module:
    from safetensors.torch import load_file

    module.load_state_dict(load_file(reference(f"{name}_small.safetensors")), strict=True)
    return module.eval()


def max_err(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return (a - b).abs().max().item()


def small_configs_from_reference() -> dict:
    """Our configs built from the reference folder's ``<module>_small.json`` constructor kwargs."""
    def kwargs(name):
        return json.loads(reference(f"{name}_small.json").read_text())

    motion = kwargs("motion_extractor")
    return {
        "appearance_feature_extractor": from_dict(AppearanceFeatureExtractorConfig,
                                                  kwargs("appearance_feature_extractor")["constructor_kwargs"]),
        "motion_extractor": from_dict(type(MOTION_EXTRACTOR_SIZES["small"]),
                                      {"num_kp": motion["constructor_kwargs"]["num_kp"], "num_bins": motion["num_bins"],
                                       **motion["backbone_kwargs"]}),
        "warping_module": from_dict(WarpingModuleConfig, kwargs("warping_module")["constructor_kwargs"]),
        "spade_generator": from_dict(SPADEGeneratorConfig, kwargs("spade_generator")["constructor_kwargs"]),
    }


# --- checkpoint format -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def full_models_on_meta() -> LivePortraitModels:
    """The official-size networks without memory or init cost (shapes only)."""
    with torch.device("meta"):
        return LivePortraitModels()


@pytest.mark.parametrize("name", list(CHECKPOINT_FILES))
def test_full_config_state_dict_matches_official_keys(full_models_on_meta, name):
    expected = expected_state_dict_shapes()[name]
    actual = state_dict_shapes(getattr(full_models_on_meta, name))
    assert state_dict_mismatches(expected, actual) == []


def test_our_key_file_matches_reference_shapes():
    ref = json.loads(reference("state_dict_shapes.json").read_text())["modules"]
    ours = expected_state_dict_shapes()
    for name in ("appearance_feature_extractor", "motion_extractor", "warping_module", "spade_generator"):
        assert ours[name] == {k: v["shape"] for k, v in ref[name]["state_dict"].items()}, name
    groups = ref["stitching_retargeting_module"]["submodules"]
    assert ours["stitching_retargeting"] == {f"{g}.{k}": v["shape"] for g, sub in groups.items()
                                             for k, v in sub["state_dict"].items()}


def test_full_config_parameter_counts_match_reference(full_models_on_meta):
    ref = json.loads(reference("state_dict_shapes.json").read_text())["modules"]
    for name in ("appearance_feature_extractor", "motion_extractor", "warping_module", "spade_generator"):
        count = sum(p.numel() for p in getattr(full_models_on_meta, name).parameters())
        assert count == ref[name]["num_parameters"], name


def test_reference_small_configs_are_our_small_sizes():
    configs = small_configs_from_reference()
    assert configs["appearance_feature_extractor"] == APPEARANCE_SIZES["small"]
    assert configs["motion_extractor"] == MOTION_EXTRACTOR_SIZES["small"]
    assert configs["warping_module"] == WARPING_SIZES["small"]
    assert configs["spade_generator"] == SPADE_SIZES["small"]


def test_state_dict_mismatches_reports_each_kind():
    problems = state_dict_mismatches({"a": [1], "b": [2, 2]}, {"b": [2, 3], "c": [1]})
    assert problems == ["missing a", "unexpected c", "b: shape [2, 3] != [2, 2]"]


# --- numerical equivalence with LivePortrait's own outputs -----------------------------------

@torch.no_grad()
def test_appearance_feature_extractor_matches_reference():
    model = AppearanceFeatureExtractor(APPEARANCE_SIZES["small"])
    model = load_reference_weights(model, "appearance_feature_extractor")
    io_ = reference_io("appearance_feature_extractor")
    assert max_err(model(io_["source_image"]), io_["feature_3d"]) <= TOLERANCE


@torch.no_grad()
def test_motion_extractor_matches_reference():
    model = load_reference_weights(MotionExtractor(MOTION_EXTRACTOR_SIZES["small"]), "motion_extractor")
    io_ = reference_io("motion_extractor")
    raw = model(io_["image"])
    for name in ("pitch", "yaw", "roll", "t", "exp", "scale", "kp"):
        assert max_err(raw[name], io_[name]) <= TOLERANCE, name
    info = keypoint_info(raw)
    for name in ("pitch", "yaw", "roll"):
        assert max_err(info[name], io_[f"refined_{name}_deg"]) <= TOLERANCE, name
    assert max_err(rotation_matrix(info["pitch"], info["yaw"], info["roll"]), io_["refined_rot_mat"]) <= TOLERANCE
    posed = transform_keypoints(info["kp"], info["pitch"], info["yaw"], info["roll"], info["t"], info["exp"],
                                info["scale"])
    assert max_err(posed, io_["x_transformed"]) <= TOLERANCE


@torch.no_grad()
def test_warping_module_matches_reference():
    model = load_reference_weights(WarpingModule(WARPING_SIZES["small"]), "warping_module")
    io_ = reference_io("warping_module")
    out = model(io_["feature_3d"], kp_driving=io_["kp_driving"], kp_source=io_["kp_source"])
    for name in ("out", "occlusion_map", "deformation"):
        assert max_err(out[name], io_[name]) <= TOLERANCE, name


@torch.no_grad()
def test_spade_generator_matches_reference():
    model = load_reference_weights(SPADEGenerator(SPADE_SIZES["small"]), "spade_generator")
    io_ = reference_io("spade_generator")
    assert max_err(model(io_["feature"]), io_["out"]) <= TOLERANCE


def test_spectral_norm_sigma_uses_stored_vectors():
    model = load_reference_weights(SPADEGenerator(SPADE_SIZES["small"]), "spade_generator")
    sigmas = json.loads(reference("spade_generator_small.json").read_text())["spectral_norm_sigma_eval"]
    for name, sigma in sigmas.items():
        assert model.get_submodule(name).sigma().item() == pytest.approx(sigma, rel=1e-5), name


@torch.no_grad()
def test_stitching_and_retargeting_match_reference():
    model = load_reference_weights(StitchingRetargeting(), "stitching_retargeting")
    io_ = reference_io("stitching_retargeting")
    assert max_err(model.stitching(io_["stitching_input"]), io_["stitching_delta"]) <= TOLERANCE
    assert max_err(model.eye(io_["eye_input"]), io_["eye_delta_raw"]) <= TOLERANCE
    assert max_err(model.lip(io_["lip_input"]), io_["lip_delta_raw"]) <= TOLERANCE
    stitched = model.stitch(io_["kp_source"], io_["kp_driving"])
    assert max_err(stitched, io_["kp_driving_stitched"]) <= TOLERANCE
    assert max_err(model.retarget_eye(io_["kp_source"], io_["eye_close_ratio"]), io_["eye_delta"]) <= TOLERANCE
    assert max_err(model.retarget_lip(io_["kp_source"], io_["lip_close_ratio"]), io_["lip_delta"]) <= TOLERANCE


def test_keypoint_transform_matches_reference():
    with np.load(reference("keypoint_transform_io.npz")) as data:
        io_ = {k: torch.from_numpy(data[k]) for k in data.files}
    for name in ("pitch", "yaw", "roll"):
        assert max_err(bins_to_degrees(io_[f"{name}_logits"]), io_[f"{name}_deg"]) <= TOLERANCE, name
    degrees = [bins_to_degrees(io_[f"{n}_logits"]) for n in ("pitch", "yaw", "roll")]
    assert max_err(rotation_matrix(*degrees), io_["rot_mat"]) <= TOLERANCE
    posed = transform_keypoints(io_["kp"], io_["pitch_logits"], io_["yaw_logits"], io_["roll_logits"], io_["t"],
                                io_["exp"], io_["scale"])
    assert max_err(posed, io_["kp_transformed"]) <= TOLERANCE
    angles = io_["grid_angles_deg_pitch_yaw_roll"]
    assert max_err(rotation_matrix(angles[:, 0], angles[:, 1], angles[:, 2]), io_["grid_rot_mat"]) <= TOLERANCE


# --- keypoint algebra without the reference ----------------------------------------------------

def test_bins_to_degrees_range_and_passthrough():
    peaked = torch.full((2, 66), -1e4)
    peaked[0, 0] = peaked[1, 65] = 0.0
    assert bins_to_degrees(peaked).tolist() == pytest.approx([-97.5, 97.5])
    assert bins_to_degrees(torch.zeros(1, 66)).item() == pytest.approx(0.0, abs=1e-4)  # uniform -> centre
    degrees = torch.tensor([[12.0]])
    assert bins_to_degrees(degrees) is degrees


def test_rotation_matrix_is_a_transposed_rotation():
    torch.manual_seed(0)
    angles = torch.rand(3, 5) * 180 - 90
    rot = rotation_matrix(*angles)  # (5, 3, 3)
    assert max_err(rot @ rot.transpose(1, 2), torch.eye(3).expand(5, 3, 3)) < 1e-5
    assert torch.linalg.det(rot).sub(1).abs().max() < 1e-5
    yaw_only = rotation_matrix(torch.zeros(1), torch.tensor([90.0]), torch.zeros(1))[0]
    # A row vector along +x rotated by 90 deg yaw: x @ Ry^T = (Ry x)^T = (0, 0, -1).
    assert max_err(torch.tensor([1.0, 0, 0]) @ yaw_only, torch.tensor([0.0, 0, -1])) < 1e-6


def test_transform_keypoints_ignores_tz_and_scales():
    kp = torch.randn(1, SMALL_KP, 3)
    zero = torch.zeros(1, 1)
    out = transform_keypoints(kp, zero, zero, zero, torch.tensor([[0.1, -0.2, 5.0]]), torch.zeros(1, SMALL_KP, 3),
                              torch.full((1, 1), 2.0))
    assert max_err(out, 2 * kp + torch.tensor([0.1, -0.2, 0.0])) < 1e-6


# --- 3-D sampling: gather formulation ------------------------------------------------------------

@pytest.mark.parametrize("shape,grid_shape", [((1, 3, 5, 6, 7), (1, 4, 5, 6)), ((2, 2, 4, 9, 8), (2, 3, 7, 2))])
def test_gather_grid_sample_equals_torch_5d(shape, grid_shape):
    torch.manual_seed(1)
    volume = torch.randn(shape)
    grid = torch.rand(*grid_shape, 3) * 2.6 - 1.3  # some points outside [-1, 1]: zeros padding matters
    ref = F.grid_sample(volume, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    assert max_err(grid_sample_3d_gather(volume, grid), ref) <= 1e-5
    assert max_err(grid_sample_3d(volume, grid, "gather"), ref) <= 1e-5


def test_gather_grid_sample_on_voxel_centres_and_borders():
    d, h, w = 3, 4, 5
    volume = torch.arange(d * h * w, dtype=torch.float32).reshape(1, 1, d, h, w)
    centres = coordinate_grid(d, h, w)  # align_corners=True positions: not voxel centres here
    centres = centres * torch.tensor([(w - 1) / w, (h - 1) / h, (d - 1) / d])  # exact voxel centres
    out = grid_sample_3d_gather(volume, centres[None])
    assert max_err(out, volume) <= 1e-5
    outside = torch.tensor([[[[[1.5, 0.0, 0.0], [0.0, 0.0, -1.0]]]]])  # fully outside / half outside in z
    ref = F.grid_sample(volume, outside, align_corners=False)
    assert max_err(grid_sample_3d_gather(volume, outside), ref) <= 1e-5
    assert out.shape == volume.shape


def test_unknown_grid_sample_method_is_rejected():
    with pytest.raises(ValueError, match="gather"):
        grid_sample_3d(torch.zeros(1, 1, 2, 2, 2), torch.zeros(1, 1, 1, 1, 3), "trilinear")
    with pytest.raises(TalkingHeadError):
        WarpingModuleConfig(grid_sample="nope")


def _export_to_onnxruntime(module: torch.nn.Module, args: tuple, opset: int):
    """Export with the TorchScript exporter, return (op types, onnxruntime outputs)."""
    import onnx
    import onnxruntime as ort

    buffer = io.BytesIO()
    module.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, buffer, dynamo=False, opset_version=opset)
    module.eval()  # the exporter restores the wrapper's training flag on its children
    ops = {node.op_type for node in onnx.load_from_string(buffer.getvalue()).graph.node}
    session = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    feeds = {i.name: a.numpy() for i, a in zip(session.get_inputs(), args)}
    return ops, [torch.from_numpy(o) for o in session.run(None, feeds)]


class _WarpOutputs(torch.nn.Module):
    def __init__(self, warp: WarpingModule):
        super().__init__()
        self.warp = warp

    def forward(self, feature, kp_driving, kp_source):
        out = self.warp(feature, kp_driving=kp_driving, kp_source=kp_source)
        return out["out"], out["occlusion_map"], out["deformation"]


# A tinier warping config than the reference's (2 hourglass levels, depth 4) keeps export fast.
TINY_WARP = WarpingModuleConfig(
    block_expansion=4, max_features=16, reshape_channel=4,
    dense_motion_params=DenseMotionConfig(block_expansion=4, max_features=16, num_blocks=2, reshape_depth=4,
                                          compress=2))


@pytest.fixture(scope="module")
def small_warp_inputs():
    torch.manual_seed(2)
    warp = WarpingModule(TINY_WARP).eval()
    with torch.no_grad():  # non-trivial mask and occlusion, like the reference weights
        warp.dense_motion_network.mask.weight.mul_(10)
        warp.dense_motion_network.occlusion.weight.mul_(30)
    feature = torch.randn(1, 4, 4, 16, 16)  # (B, reshape_channel, reshape_depth, H, W)
    kp_source = torch.rand(1, SMALL_KP, 3) * 1.4 - 0.7
    kp_driving = kp_source + 0.1 * torch.randn(1, SMALL_KP, 3)
    return warp, (feature, kp_driving, kp_source)


@torch.no_grad()
def test_warping_gather_mode_equals_native(small_warp_inputs):
    warp, args = small_warp_inputs
    wrapped = _WarpOutputs(warp)
    warp.set_grid_sample("native")
    native = wrapped(*args)
    warp.set_grid_sample("gather")
    try:
        gathered = wrapped(*args)
    finally:
        warp.set_grid_sample("native")
    for a, b in zip(gathered, native):
        assert max_err(a, b) <= 1e-5


def test_warping_gather_mode_exports_without_gridsample(small_warp_inputs):
    warp, args = small_warp_inputs
    with torch.no_grad():
        expected = _WarpOutputs(warp)(*args)
    warp.set_grid_sample("gather")
    try:
        ops, outputs = _export_to_onnxruntime(_WarpOutputs(warp), args, opset=17)
    finally:
        warp.set_grid_sample("native")
    assert "GridSample" not in ops and "Gather" in ops
    for got, want in zip(outputs, expected):
        assert max_err(got, want) <= TOLERANCE


def test_onnxruntime_runs_5d_gridsample_at_opset_20():
    """Fact check: onnxruntime (1.32 here) implements opset-20 GridSample on 5-D inputs."""
    class Sample(torch.nn.Module):
        def forward(self, volume, grid):
            return grid_sample_3d(volume, grid, "native")

    torch.manual_seed(3)
    args = (torch.randn(1, 3, 4, 5, 6), torch.rand(1, 2, 3, 4, 3) * 2.4 - 1.2)
    ops, (out,) = _export_to_onnxruntime(Sample(), args, opset=20)
    assert ops == {"GridSample"}
    assert max_err(out, Sample()(*args)) <= 1e-5


# --- warping behaviour without the reference ---------------------------------------------------

@torch.no_grad()
def test_identical_keypoints_give_identity_deformation(small_warp_inputs):
    warp, (feature, _, kp_source) = small_warp_inputs
    deformation = warp(feature, kp_driving=kp_source, kp_source=kp_source)["deformation"]
    identity = coordinate_grid(*feature.shape[2:])
    assert max_err(deformation[0], identity) <= 1e-5


# --- loader ------------------------------------------------------------------------------------

SMALL_CONFIG = LivePortraitConfig(
    appearance_feature_extractor=APPEARANCE_SIZES["small"], motion_extractor=MOTION_EXTRACTOR_SIZES["small"],
    warping_module=WARPING_SIZES["small"], spade_generator=SPADE_SIZES["small"])  # MLPs at their real size


def _save_official_layout(root, models: LivePortraitModels, prefix: str = "module.") -> None:
    """Random weights saved under the official file names and formats."""
    for name, rel in CHECKPOINT_FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        module = getattr(models, name)
        if name == "stitching_retargeting":
            state = {group: {prefix + k: v for k, v in getattr(module, ours).state_dict().items()}
                     for ours, group in CHECKPOINT_GROUPS.items()}
        else:
            state = module.state_dict()
        torch.save(state, path)


@pytest.fixture(scope="module")
def official_folder(tmp_path_factory):
    torch.manual_seed(4)
    models = LivePortraitModels(SMALL_CONFIG)
    root = tmp_path_factory.mktemp("pretrained_weights")
    _save_official_layout(root / "liveportrait", models)  # the hub layout: a liveportrait/ subfolder
    return root, models


def _assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key].cpu(), sb[key].cpu()), key


def test_load_liveportrait_from_local_folder(official_folder):
    root, saved = official_folder
    loaded = load_liveportrait(root, device="cpu", config=SMALL_CONFIG)
    _assert_same_weights(loaded, saved)
    assert not loaded.training
    tensors = [*loaded.parameters(), *loaded.buffers()]
    assert all(t.device.type == "cpu" and t.dtype in (torch.float32, torch.int64) for t in tensors)
    with torch.no_grad():
        x = loaded.stitching_retargeting.stitch(torch.zeros(1, SMALL_KP, 3), torch.zeros(1, SMALL_KP, 3))
    assert x.shape == (1, SMALL_KP, 3)


def test_load_liveportrait_registry_name_uses_cache(official_folder, tmp_path, monkeypatch):
    root, saved = official_folder
    monkeypatch.setenv("TALKINGHEAD_CACHE", str(tmp_path))
    with pytest.raises(ModelNotFoundError, match=HUB_ID) as info:
        load_liveportrait("liveportrait", device="cpu", config=SMALL_CONFIG)
    assert str(tmp_path / "liveportrait") in str(info.value)
    (tmp_path / "liveportrait").rmdir()
    (tmp_path / "liveportrait").symlink_to(root / "liveportrait")
    _assert_same_weights(load_liveportrait("liveportrait", device="cpu", config=SMALL_CONFIG), saved)


def test_missing_file_names_the_file_and_the_source(official_folder, tmp_path):
    root, _ = official_folder
    partial = tmp_path / "partial"
    for rel in list(CHECKPOINT_FILES.values())[:-1]:
        (partial / rel).parent.mkdir(parents=True, exist_ok=True)
        (partial / rel).write_bytes((root / "liveportrait" / rel).read_bytes())
    with pytest.raises(ModelNotFoundError) as info:
        load_liveportrait(partial, device="cpu", config=SMALL_CONFIG)
    message = str(info.value)
    assert "stitching_retargeting_module.pth" in message and HUB_ID in message and str(partial) in message


def test_nonexistent_path_is_model_not_found(tmp_path):
    with pytest.raises(ModelNotFoundError, match="neither"):
        load_liveportrait(tmp_path / "no" / "such" / "dir", device="cpu")


def test_wrong_config_names_the_mismatching_keys(official_folder):
    root, _ = official_folder
    wrong = dataclasses.replace(SMALL_CONFIG, appearance_feature_extractor=dataclasses.replace(
        APPEARANCE_SIZES["small"], num_resblocks=3))
    with pytest.raises(TalkingHeadError, match="missing resblocks_3d.3dr2"):
        load_liveportrait(root, device="cpu", config=wrong)


def test_stitching_file_without_groups_is_rejected(official_folder, tmp_path):
    root, _ = official_folder
    bad = tmp_path / "bad"
    for rel in CHECKPOINT_FILES.values():
        (bad / rel).parent.mkdir(parents=True, exist_ok=True)
        (bad / rel).write_bytes((root / "liveportrait" / rel).read_bytes())
    torch.save({"mlp.0.weight": torch.zeros(1)}, bad / CHECKPOINT_FILES["stitching_retargeting"])
    with pytest.raises(TalkingHeadError, match="retarget_shoulder"):
        load_liveportrait(bad, device="cpu", config=SMALL_CONFIG)


def test_hub_id_downloads_only_the_checkpoints(official_folder, monkeypatch):
    import huggingface_hub

    root, saved = official_folder
    calls = []

    def fake_snapshot_download(repo_id, allow_patterns=None, **kwargs):
        calls.append((repo_id, allow_patterns))
        return str(root)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    _assert_same_weights(load_liveportrait(HUB_ID, device="cpu", config=SMALL_CONFIG), saved)
    (repo_id, patterns), = calls
    assert repo_id == HUB_ID
    assert "liveportrait/base_models/warping_module.pth" in patterns
    assert not any("insightface" in p or "animals" in p for p in patterns)


def test_hub_failure_is_model_not_found(monkeypatch):
    import huggingface_hub

    def offline(repo_id, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(ModelNotFoundError, match="network is unreachable"):
        load_liveportrait("someone/LivePortrait-mirror", device="cpu")
