"""ONNX export of the LivePortrait-architecture networks: plain onnxruntime (CPU), parity with torch.

The reference folder's small sizes with random weights, at a 128 px input (32 x 32 features: the
small warping module's 5-level hourglass needs a multiple of 32) to keep the test short.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from talkinghead.export.exporter import LIVEPORTRAIT_GRAPHS, export_liveportrait, export_liveportrait_graphs
from talkinghead.export.graphs import LP_MOTION_OUTPUTS
from talkinghead.export.manifest import read_manifest, verify_files
from talkinghead.render.liveportrait import (LivePortraitModels, keypoint_info, liveportrait_config,
                                             save_liveportrait)

INPUT = 128
TOLERANCE = 1e-4  # max abs error, onnxruntime vs torch


@pytest.fixture(scope="module")
def small_models() -> LivePortraitModels:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    models = LivePortraitModels(liveportrait_config("small")).eval()
    dense = models.warping_module.dense_motion_network
    with torch.no_grad():  # far-from-uniform mask and occlusion, as in the reference weights
        dense.mask.weight.mul_(10)
        dense.occlusion.weight.mul_(30)
    return models


@pytest.fixture(scope="module")
def exported(small_models, tmp_path_factory):
    folder = tmp_path_factory.mktemp("lp_onnx")
    return folder, export_liveportrait_graphs(folder, small_models, INPUT)


@pytest.fixture(scope="module")
def sessions(exported):
    import onnxruntime as ort

    folder, manifest = exported
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return {name: ort.InferenceSession(str(folder / entry["file"]), options, providers=["CPUExecutionProvider"])
            for name, entry in manifest["graphs"].items()}


def _max_err(got: np.ndarray, want: torch.Tensor) -> float:
    assert got.shape == tuple(want.shape), (got.shape, want.shape)
    return float(np.abs(got - want.numpy()).max())


def test_manifest_lists_the_four_graphs(exported):
    folder, manifest = exported
    assert manifest["kind"] == "liveportrait" and manifest["opset"] >= 17
    assert set(manifest["graphs"]) == set(LIVEPORTRAIT_GRAPHS)
    assert manifest["source"]["input_size"] == INPUT
    assert manifest["source"]["networks"]["warping_module"]["dense_motion_params"]["num_blocks"] == 5
    assert read_manifest(folder) == json.loads(json.dumps(manifest))
    verify_files(folder, manifest)
    warp = manifest["graphs"]["lp_warp"]
    assert [i["shape"][0] for i in warp["inputs"]] == ["B", "B", "B"]


def test_warp_graph_has_no_gridsample(exported):
    import onnx

    folder, manifest = exported
    ops = {node.op_type for node in onnx.load(str(folder / manifest["graphs"]["lp_warp"]["file"])).graph.node}
    assert "GridSample" not in ops and "Gather" in ops


@pytest.mark.parametrize("batch", [1, 3])  # traced with 2: the batch axis is dynamic
@torch.no_grad()
def test_onnxruntime_matches_torch(small_models, sessions, batch):
    torch.manual_seed(10 + batch)
    image = torch.rand(batch, 3, INPUT, INPUT)
    feature_3d = small_models.appearance_feature_extractor(image)
    info = keypoint_info(small_models.motion_extractor(image))
    kp_source = info["kp"]
    kp_driving = kp_source + 0.1 * torch.randn_like(kp_source)
    warped = small_models.warping_module(feature_3d, kp_driving=kp_driving, kp_source=kp_source)  # native 5-D
    image_out = small_models.spade_generator(warped["out"])

    (got,) = sessions["lp_appearance"].run(None, {"image": image.numpy()})
    assert _max_err(got, feature_3d) <= TOLERANCE
    for name, got in zip(LP_MOTION_OUTPUTS, sessions["lp_motion"].run(None, {"image": image.numpy()})):
        assert _max_err(got, info[name]) <= TOLERANCE, name
    feeds = {"feature_3d": feature_3d.numpy(), "kp_driving": kp_driving.numpy(), "kp_source": kp_source.numpy()}
    out, occlusion = sessions["lp_warp"].run(None, feeds)
    assert occlusion.std() > 0.01  # the occlusion map is far from constant: the comparison means something
    assert _max_err(out, warped["out"]) <= TOLERANCE and _max_err(occlusion, warped["occlusion_map"]) <= TOLERANCE
    (got,) = sessions["lp_generator"].run(None, {"feature": warped["out"].numpy()})
    assert _max_err(got, image_out) <= TOLERANCE


def test_export_liveportrait_reads_a_weights_folder(tmp_path):
    torch.manual_seed(1)
    save_liveportrait(LivePortraitModels(liveportrait_config("tiny")), tmp_path / "w", renderer={"input_size": 64})
    manifest = export_liveportrait(tmp_path / "onnx", tmp_path / "w")
    assert manifest["source"]["input_size"] == 64
    image = manifest["graphs"]["lp_generator"]["outputs"][0]["shape"]
    assert image == ["B", 3, 128, 128]
