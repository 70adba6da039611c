"""ONNX export and the onnxruntime backend: graphs, manifest, cache, and parity with torch per stage and end to end."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import onnx
import pytest
import torch

from talkinghead.audio.features import WindowConfig
from talkinghead.audio.io import load_audio
from talkinghead.demo import demo_speech
from talkinghead.diffusion.checkpoint import save_motion_model
from talkinghead.diffusion.dit import MotionDiT, dit_config
from talkinghead.diffusion.sampler import denoise_window
from talkinghead.errors import ChecksumError, DependencyError, TalkingHeadError
from talkinghead.export import OnnxOptions
from talkinghead.export.manifest import read_manifest, verify_files
from talkinghead.export.runtime import physical_cores, resolve_providers
from talkinghead.motion.channels import CHANNEL_INDEX, MOTION_DIM, NEUTRAL
from talkinghead.paths import sha256_file
from talkinghead.pipeline import PipelineConfig, TalkingHead
from talkinghead.timing import SAMPLE_RATE

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

FEATURE_TOL = 1e-3  # max abs error of Whisper features and of motion
PIXEL_TOL = 2  # uint8 levels (2/255)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny motion model on tiny.en features, weights perturbed so every output depends on its inputs.

    Its statistics keep the motion near neutral (+-0.1 per unit of output), as a trained model's
    would: the warp has thresholds (fold relaxation, Newton fall-back, layer windows snapped to
    whole pixels) where extreme random poses can turn a 1e-6 motion difference into a visible one.
    """
    torch.manual_seed(0)
    model = MotionDiT(dit_config("tiny", audio_dim=768)).eval()
    for p in model.parameters():
        p.data.add_(0.05 * torch.randn_like(p))
    model.motion_mean.copy_(torch.tensor(NEUTRAL))
    model.motion_std.fill_(0.1)
    audio = {"encoder": "tiny.en", "window": dataclasses.asdict(WindowConfig()), "dim": 768}
    return save_motion_model(model, tmp_path_factory.mktemp("model") / "tiny.safetensors", audio=audio)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="module")
def th_torch(checkpoint):
    return TalkingHead(PipelineConfig(motion_model=str(checkpoint)))


@pytest.fixture(scope="module")
def th_onnx(checkpoint, cache):
    options = OnnxOptions(threads=1, render="onnx", cache_dir=str(cache))
    return TalkingHead(PipelineConfig(motion_model=str(checkpoint), onnx=options), backend="onnx")


@pytest.fixture(scope="module")
def speech():
    return load_audio(str(demo_speech()))[: 3 * SAMPLE_RATE]


# --- export, manifest, cache ------------------------------------------------------------------

def test_cli_export_writes_checked_graphs_and_manifest(checkpoint, tmp_path):
    from talkinghead.cli.main import main

    out = tmp_path / "export"
    assert main(["export", "--out", str(out), "--model", str(checkpoint)]) == 0
    manifest = read_manifest(out)
    assert manifest["opset"] == 17 and manifest["kind"] == "model"
    assert manifest["source"]["motion_sha256"] == sha256_file(checkpoint)
    assert set(manifest["graphs"]) == {"encoder", "denoiser"}
    for entry in manifest["graphs"].values():
        assert sha256_file(out / entry["file"]) == entry["sha256"]
        onnx.checker.check_model(str(out / entry["file"]), full_check=True)
    window = WindowConfig()
    encoder = manifest["graphs"]["encoder"]
    assert encoder["inputs"] == [{"name": "windows", "dtype": "float32", "shape": ["K", window.window_samples]}]
    assert encoder["outputs"][0]["shape"] == ["K", window.block_frames, 768]
    names = [i["name"] for i in manifest["graphs"]["denoiser"]["inputs"]]
    assert names == ["x", "t", "audio", "audio_mask", "prefix_len"]
    assert manifest["graphs"]["denoiser"]["inputs"][4]["shape"] == []  # prefix_len: a 0-d tensor input

    (out / "denoiser.onnx").write_bytes(b"tampered")
    with pytest.raises(ChecksumError, match="sha256"):
        verify_files(out, manifest)


def test_backend_caches_exports_by_model_hash(th_onnx, checkpoint, cache):
    folder = th_onnx._onnx.folder
    assert folder.parent == cache and folder.name == sha256_file(checkpoint)[:16]
    stamps = {p.name: p.stat().st_mtime_ns for p in folder.glob("*.onnx")}
    again = TalkingHead(PipelineConfig(motion_model=str(checkpoint), onnx=th_onnx.config.onnx), backend="onnx")
    assert again._onnx.folder == folder
    assert {p.name: p.stat().st_mtime_ns for p in folder.glob("*.onnx")} == stamps  # reused, not re-exported
    assert again._onnx.providers[-1] == "CPUExecutionProvider"
    assert th_onnx._onnx.render_engine == "onnx"


def test_options_and_providers():
    with pytest.raises(TalkingHeadError):
        OnnxOptions(render="vulkan")
    with pytest.raises(TalkingHeadError):
        OnnxOptions(threads=0)
    assert OnnxOptions(providers=["CPUExecutionProvider"]).providers == ("CPUExecutionProvider",)
    assert resolve_providers()[-1] == "CPUExecutionProvider"
    if "CUDAExecutionProvider" not in resolve_providers():
        with pytest.raises(DependencyError, match="offers"):
            resolve_providers(("CUDAExecutionProvider",))
    assert 1 <= physical_cores() <= (torch.get_num_threads() + 64)


# --- parity per stage ----------------------------------------------------------------------------

def test_encoder_features_match_torch(th_torch, th_onnx, speech):
    for n in (len(speech), 12_345, 640, 100):
        want, got = th_torch.features(speech[:n]), th_onnx.features(speech[:n])
        assert got.shape == want.shape
        assert (got - want).abs().max().item() <= FEATURE_TOL
    assert th_onnx.features(speech[:0]).shape == (0, 768)


def test_streaming_features_match_offline(th_torch, th_onnx, speech):
    offline = th_torch.features(speech)
    stream = th_onnx.feature_stream()
    chunks = [stream.push(speech[i:i + 3_200]) for i in range(0, len(speech), 3_200)] + [stream.finish()]
    streamed = torch.cat(chunks)
    assert streamed.shape == offline.shape
    assert (streamed - offline).abs().max().item() <= FEATURE_TOL


@pytest.mark.parametrize("prefix_len", [0, 6])
def test_one_denoise_window_matches_torch(th_torch, th_onnx, speech, prefix_len):
    feats = th_torch.features(speech)[None, : prefix_len + 30]  # (1, P + T, F)
    gen = torch.Generator().manual_seed(1)
    noise = torch.randn(1, 30, MOTION_DIM, generator=gen)
    prefix = torch.randn(1, prefix_len, MOTION_DIM, generator=gen) if prefix_len else None
    want = denoise_window(th_torch.motion_model, feats, prefix, noise, steps=4, guidance=2.0)
    got = denoise_window(th_onnx.denoiser, feats, prefix, noise, steps=4, guidance=2.0)
    assert want.abs().max().item() > 0.1  # the model does something
    assert (got - want).abs().max().item() <= FEATURE_TOL


def test_rig_and_renderer_match_torch(th_torch, th_onnx, astronaut):
    avatar_t, avatar_o = th_torch.register(astronaut), th_onnx.register(astronaut)
    motion = np.repeat(avatar_t.rest_motion.values, 3, axis=0)
    motion[1, CHANNEL_INDEX["jawOpen"]] = 0.5
    motion[2, CHANNEL_INDEX["eyeBlinkLeft"]] = motion[2, CHANNEL_INDEX["yaw"]] = 1.0
    sessions = th_onnx.renderer.sessions(avatar_o)
    landmarks = sessions.landmarks(avatar_o.absolute_motion(motion))
    assert np.abs(landmarks - avatar_t.motion_landmarks(motion)).max() < 0.01  # pixels
    want = th_torch.renderer.render(avatar_t, motion, paste=False)  # torch + OpenCV (CPU default)
    got = th_onnx.renderer.render(avatar_o, motion, paste=False)  # onnxruntime rig + coarse graph + OpenCV
    assert np.abs(got.astype(int) - want.astype(int)).max() <= PIXEL_TOL
    exact = avatar_t.model  # the whole frame model in torch vs the GPU graph run on the CPU provider
    from talkinghead.export.exporter import cached_avatar_export
    from talkinghead.export.runtime import open_session

    folder, manifest = cached_avatar_export(th_onnx._onnx.root, avatar_o, ("render",))
    render = open_session(folder / manifest["graphs"]["render"]["file"], th_onnx.config.onnx)
    with torch.no_grad():
        frames = exact(torch.from_numpy(landmarks))
    want_full = (frames * 255).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    got_full = render.run(None, {"target": landmarks})[0]
    assert np.abs(got_full.astype(int) - want_full.astype(int)).max() <= PIXEL_TOL
    assert json.loads((folder / "manifest.json").read_text())["kind"] == "avatar"


# --- end to end ----------------------------------------------------------------------------------

def test_generate_matches_torch_backend(th_torch, th_onnx, astronaut, speech, tmp_path):
    audio = speech[: int(1.6 * SAMPLE_RATE)]
    want = th_torch.generate(astronaut, audio, SAMPLE_RATE, seed=5)
    got = th_onnx.generate(astronaut, audio, SAMPLE_RATE, seed=5)
    assert np.abs(got.motion.values - want.motion.values).max() <= FEATURE_TOL
    frames_t, frames_o = want.to_array(), got.to_array()
    assert frames_t.shape == frames_o.shape == (40, *astronaut.shape)
    assert np.abs(frames_o.astype(int) - frames_t.astype(int)).max() <= PIXEL_TOL
    assert np.ptp(frames_t.astype(int), axis=0).max() > 10  # the face moves
    path = th_onnx.save(got, tmp_path / "onnx.mp4")
    assert path.stat().st_size > 1000


def test_stream_session_runs_on_onnx_backend(th_torch, th_onnx, astronaut, speech):
    from talkinghead.stream import StreamSession

    def frames(th):
        with StreamSession(th, astronaut, seed=4, window=8, output_size="crop") as session:
            for start in range(0, SAMPLE_RATE, 3_200):
                session.push(speech[start:start + 3_200])
            session.finish()
            return list(session)

    want, got = frames(th_torch), frames(th_onnx)
    assert len(got) == len(want) == 25
    assert max(np.abs(g.motion - w.motion).max() for g, w in zip(got, want)) <= FEATURE_TOL
    assert max(np.abs(g.image.astype(int) - w.image.astype(int)).max() for g, w in zip(got, want)) <= PIXEL_TOL
