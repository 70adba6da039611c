"""Motion DiT: network shapes, sampler determinism and windowing, checkpoints, a short training run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from talkinghead.data.shards import Clip, ShardWriter, load_clips
from talkinghead.diffusion.checkpoint import load_motion_model, read_metadata, save_motion_model
from talkinghead.diffusion.dit import MotionDiT, dit_config
from talkinghead.diffusion.sampler import MotionWindower, SamplerConfig, sample_motion
from talkinghead.errors import ModelNotFoundError
from talkinghead.eval.metrics import pearson, seam_ratio
from talkinghead.motion.channels import CHANNEL_INDEX, MOTION_DIM

AUDIO_DIM = 16


@pytest.fixture(scope="module")
def model() -> MotionDiT:
    torch.manual_seed(0)
    m = MotionDiT(dit_config("tiny", audio_dim=AUDIO_DIM)).eval()
    for p in m.parameters():  # adaLN-zero starts as the zero function; perturb so outputs depend on inputs
        p.data.add_(0.05 * torch.randn_like(p))
    return m


def test_forward_shapes_and_prefix(model):
    x = torch.randn(2, 30, MOTION_DIM)
    a = torch.randn(2, 30, AUDIO_DIM)
    out = model(x, torch.tensor([5, 900]), a, torch.tensor([True, False]), prefix_len=6)
    assert out.shape == (2, 30, MOTION_DIM)
    # the null-audio branch ignores the audio features
    a2 = a.clone()
    a2[1] += 10
    out2 = model(x, torch.tensor([5, 900]), a2, torch.tensor([True, False]), prefix_len=6)
    assert torch.allclose(out[1], out2[1], atol=1e-6)
    assert not torch.allclose(out[0], model(x, torch.tensor([5, 900]), a + 1, torch.tensor([True, False]), 6)[0])


@pytest.mark.parametrize("scheduler", ["ddim", "dpm"])
def test_sampler_is_deterministic_for_a_seed(model, scheduler):
    feats = torch.randn(50, AUDIO_DIM)
    cfg = SamplerConfig(steps=4, window=20, prefix=5, scheduler=scheduler)
    a = sample_motion(model, feats, cfg, seed=3)
    b = sample_motion(model, feats, cfg, seed=3)
    c = sample_motion(model, feats, cfg, seed=4)
    assert a.shape == (50, MOTION_DIM)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_windower_chunked_calls_match_one_call(model):
    """Feeding features window by window gives the same motion as one offline call."""
    feats = torch.randn(60, AUDIO_DIM)
    cfg = SamplerConfig(steps=3, window=12, prefix=4)
    offline = sample_motion(model, feats, cfg, seed=7)
    w = MotionWindower(model, cfg, seed=7)
    streamed = torch.cat([w.generate(feats[i:i + 12]) for i in range(0, 60, 12)])
    assert torch.allclose(offline, streamed, atol=1e-6)


def test_checkpoint_round_trip_and_errors(model, tmp_path):
    path = save_motion_model(model, tmp_path / "m.safetensors", audio={"encoder": "test", "dim": AUDIO_DIM})
    loaded, meta = load_motion_model(path)
    assert meta["audio"]["encoder"] == "test"
    assert read_metadata(path)["config"]["width"] == model.config.width
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])
    loaded2, _ = load_motion_model(tmp_path)  # a folder with one checkpoint
    assert loaded2.config == model.config
    with pytest.raises(ModelNotFoundError, match="Available names"):
        load_motion_model("no-such-model")


def test_seam_ratio_detects_a_jump():
    t = np.linspace(0, 4 * np.pi, 200)
    smooth = np.stack([np.sin(t)] * 3, axis=1)
    assert seam_ratio(smooth, [80, 160])["first_diff_ratio"] < 1.2
    jumped = smooth.copy()
    jumped[80:] += 0.5
    assert seam_ratio(jumped, [80, 160])["first_diff_ratio"] > 3


def _toy_data(tmp_path, n_clips=24, frames=120, seed=0):
    """Audio features whose first dimension is the (smoothed) jaw opening: a learnable mapping."""
    rng = np.random.default_rng(seed)
    writer = ShardWriter(tmp_path, {"encoder": "toy", "dim": AUDIO_DIM}, fps=25, frames_per_shard=1000)
    for k in range(n_clips):
        jaw = np.convolve(rng.random(frames + 8), np.ones(8) / 8, mode="valid")[:frames]
        feats = rng.normal(size=(frames, AUDIO_DIM)).astype(np.float32) * 0.3
        feats[:, 0], feats[:, 1] = 3 * jaw, 3 * (1 - jaw)  # survives the per-frame LayerNorm
        motion = np.zeros((frames, MOTION_DIM), np.float32)
        motion[:, CHANNEL_INDEX["scale"]] = 1
        motion[:, CHANNEL_INDEX["jawOpen"]] = jaw
        writer.add(Clip(feats, motion, {"clip": k}), "heldout" if k < 4 else "train")
    writer.close()
    return tmp_path


@pytest.mark.slow
def test_training_learns_a_simple_mapping_and_resumes(tmp_path):
    from talkinghead.train.trainer import TrainConfig, Trainer
    from talkinghead.train.batches import WindowSpec

    data = _toy_data(tmp_path / "data")
    assert len(load_clips(data, "train")) == 20
    cfg = TrainConfig(size="tiny", steps=250, batch_size=16, lr=2e-3, warmup_steps=20, ema_decay=0.95,
                      val_every=125, val_clips=4, val_steps=4, checkpoint_every=125,
                      windows=WindowSpec(min_window=8, max_window=32, max_prefix=6))
    trainer = Trainer(data, tmp_path / "run", cfg)
    first = np.mean([trainer.train_step() for _ in range(10)])
    path = trainer.fit(progress=False)
    metrics = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert len(metrics) == 3  # header + 2 validations
    last_r = float(metrics[-1].split(",")[metrics[0].split(",").index("val_r_jawOpen")])
    assert last_r > 0.8, f"jawOpen correlation after training only {last_r:.2f}"
    assert np.mean([float(trainer.loss(*trainer.sampler.batch(16))) for _ in range(5)]) < first
    model, meta = load_motion_model(path)
    assert meta["extra"]["steps"] == 250
    # resuming a finished run continues from its saved step
    again = Trainer(data, tmp_path / "run", cfg)
    assert again.step == 250
