"""Train the motion DiT on a data folder: resumable, EMA weights, clipped gradients, metrics CSV.

The loop: draw a window batch, noise the frames after the prefix at random diffusion steps,
predict the scheduler's target (v by default), MSE on the denoised frames only. Audio is
dropped to the null embedding with ``cfg_dropout`` so classifier-free guidance works.
"""

from __future__ import annotations

import copy
import csv
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..config import to_dict
from ..data.shards import Clip, load_clips, read_manifest
from ..diffusion.checkpoint import save_motion_model
from ..diffusion.dit import MotionDiT, dit_config
from ..diffusion.sampler import SamplerConfig, make_scheduler, sample_motion
from ..eval.metrics import pearson
from ..motion.channels import CHANNEL_INDEX, MOTION_DIM
from ..paths import atomic_path
from .batches import WindowSampler, WindowSpec

log = logging.getLogger(__name__)

STD_FLOOR = 0.05  # channels that barely move in the data (gaze, blinks) keep a unit-ish scale
VALIDATION_CHANNELS = ("jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "mouthSmileLeft")


@dataclass
class TrainConfig:
    """Everything a training run needs besides the data folder (saved in the checkpoint)."""

    size: str = "small"
    steps: int = 20_000
    batch_size: int = 32
    lr: float = 3e-4
    weight_decay: float = 0.01
    warmup_steps: int = 500
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    cfg_dropout: float = 0.1  # probability of training with the null audio
    windows: WindowSpec = field(default_factory=WindowSpec)
    val_every: int = 1000
    val_clips: int = 16
    val_steps: int = 8  # sampler steps in validation
    checkpoint_every: int = 500
    threads: int = 0  # torch threads (0 = torch's default)
    seed: int = 0


class Trainer:
    """Owns the model, EMA copy, optimiser and the run folder (``state.pt``, ``metrics.csv``, final weights)."""

    def __init__(self, data_dir: str | os.PathLike, out_dir: str | os.PathLike, config: TrainConfig,
                 device: str | torch.device | None = None):
        self.config, self.out = config, Path(out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.device = torch.device(device or "cpu")
        if config.threads:
            torch.set_num_threads(config.threads)
        torch.manual_seed(config.seed)
        self.manifest = read_manifest(data_dir)
        self.train_clips = load_clips(data_dir, "train")
        self.val_clips = load_clips(data_dir, "heldout")[: config.val_clips]
        if not self.train_clips:
            raise ValueError(f"{data_dir} has no training clips")
        feature_dim = self.train_clips[0].features.shape[1]
        self.model = MotionDiT(dit_config(config.size, audio_dim=feature_dim)).to(self.device)
        self._set_normalisation(self.train_clips)
        self.ema = copy.deepcopy(self.model).eval()
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.scheduler = make_scheduler("ddim", self.model.config.prediction)
        self.sampler = WindowSampler(self.train_clips, config.windows, seed=config.seed)
        self.step = 0
        self.elapsed = 0.0
        self._resume()

    def _set_normalisation(self, clips: list[Clip]) -> None:
        motion = np.concatenate([c.motion for c in clips])
        self.model.motion_mean.copy_(torch.from_numpy(motion.mean(0)))
        self.model.motion_std.copy_(torch.from_numpy(np.maximum(motion.std(0), STD_FLOOR)))

    # -- one step ----------------------------------------------------------------------
    def loss(self, motion: torch.Tensor, audio: torch.Tensor, prefix: int) -> torch.Tensor:
        """motion (B, P + T, D) raw, audio (B, P + T, F) -> scalar loss on the T denoised frames."""
        x0 = self.model.normalize(motion.to(self.device))
        audio = audio.to(self.device)
        b = x0.shape[0]
        t = torch.randint(0, self.scheduler.config.num_train_timesteps, (b,), device=self.device)
        noise = torch.randn_like(x0)
        noisy = self.scheduler.add_noise(x0, noise, t)
        tokens = torch.cat([x0[:, :prefix], noisy[:, prefix:]], dim=1)
        keep = torch.rand(b, device=self.device) >= self.config.cfg_dropout
        pred = self.model(tokens, t, audio, keep, prefix)[:, prefix:]
        target = self._target(x0, noise, t)[:, prefix:]
        return torch.mean((pred - target) ** 2)

    def _target(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        kind = self.model.config.prediction
        if kind == "v_prediction":
            return self.scheduler.get_velocity(x0, noise, t)
        return x0 if kind == "sample" else noise

    def _lr(self) -> float:
        c = self.config
        if self.step < c.warmup_steps:
            return c.lr * (self.step + 1) / c.warmup_steps
        progress = (self.step - c.warmup_steps) / max(1, c.steps - c.warmup_steps)
        return c.lr * 0.5 * (1 + np.cos(np.pi * min(1.0, progress)))  # cosine decay

    def train_step(self) -> float:
        self.model.train()
        for group in self.opt.param_groups:
            group["lr"] = self._lr()
        loss = self.loss(*self.sampler.batch(self.config.batch_size))
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.opt.step()
        self._update_ema()
        self.step += 1
        return float(loss.detach())

    @torch.no_grad()
    def _update_ema(self) -> None:
        decay = min(self.config.ema_decay, (1 + self.step) / (10 + self.step))
        for e, p in zip(self.ema.parameters(), self.model.parameters()):
            e.lerp_(p, 1 - decay)
        for e, b in zip(self.ema.buffers(), self.model.buffers()):
            e.copy_(b)

    # -- validation ----------------------------------------------------------------------
    @torch.no_grad()
    def validate(self) -> dict:
        """Pearson r of EMA-generated vs ground-truth mouth channels on held-out voices."""
        if not self.val_clips:
            return {}
        config = SamplerConfig(steps=self.config.val_steps)
        scores: dict[str, list[float]] = {name: [] for name in VALIDATION_CHANNELS}
        for k, clip in enumerate(self.val_clips):
            generated = sample_motion(self.ema, torch.from_numpy(clip.features).float(), config, seed=k).cpu().numpy()
            for name in VALIDATION_CHANNELS:
                scores[name].append(pearson(generated[:, CHANNEL_INDEX[name]], clip.motion[:, CHANNEL_INDEX[name]]))
        return {f"val_r_{name}": float(np.mean(v)) for name, v in scores.items()}

    # -- run, checkpoints ----------------------------------------------------------------
    def fit(self, progress: bool = True) -> Path:
        """Train until ``config.steps``; returns the path of the final EMA weights."""
        bar = tqdm(total=self.config.steps, initial=self.step, disable=not progress, desc="train", unit="step")
        losses: list[float] = []
        start = time.perf_counter() - self.elapsed
        while self.step < self.config.steps:
            losses.append(self.train_step())
            bar.update(1)
            if self.step % 50 == 0:
                bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}")
            row = None
            if self.step % self.config.val_every == 0 or self.step == self.config.steps:
                row = {"step": self.step, "loss": float(np.mean(losses[-self.config.val_every:])),
                       "lr": self._lr(), **self.validate()}
            if self.step % self.config.checkpoint_every == 0 or self.step == self.config.steps:
                self.elapsed = time.perf_counter() - start
                self._save_state()
            if row is not None:
                row["wall_s"] = round(time.perf_counter() - start, 1)
                self._log(row)
                log.info("step %d: %s", self.step, row)
        bar.close()
        self.elapsed = time.perf_counter() - start
        return self.export(self.out / f"motion-dit-{self.config.size}.safetensors")

    def export(self, path: Path) -> Path:
        """EMA weights as a self-describing safetensors checkpoint."""
        extra = {"train": to_dict(self.config), "steps": self.step, "wall_s": round(self.elapsed, 1),
                 "data": {k: v for k, v in self.manifest.items() if k != "shards"}}
        return save_motion_model(self.ema, path, audio=self.manifest["features"], extra=extra)

    def _log(self, row: dict) -> None:
        path = self.out / "metrics.csv"
        rows = []
        if path.is_file():
            with open(path, newline="") as f:
                rows = list(csv.DictReader(f))
        rows.append({k: str(v) for k, v in row.items()})
        fields = list(dict.fromkeys(k for r in rows for k in r))
        tmp = atomic_path(path)
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, path)

    def _save_state(self) -> None:
        state = {"model": self.model.state_dict(), "ema": self.ema.state_dict(), "opt": self.opt.state_dict(),
                 "step": self.step, "elapsed": self.elapsed, "config": to_dict(self.config),
                 "sampler_rng": self.sampler.rng.bit_generator.state, "torch_rng": torch.get_rng_state()}
        tmp = atomic_path(self.out / "state.pt")
        torch.save(state, tmp)
        os.replace(tmp, self.out / "state.pt")

    def _resume(self) -> None:
        path = self.out / "state.pt"
        if not path.is_file():
            return
        state = torch.load(path, map_location=self.device, weights_only=False)
        self.model.load_state_dict(state["model"])
        self.ema.load_state_dict(state["ema"])
        self.opt.load_state_dict(state["opt"])
        self.step, self.elapsed = state["step"], state["elapsed"]
        self.sampler.rng.bit_generator.state = state["sampler_rng"]
        torch.set_rng_state(state["torch_rng"])
        log.info("resumed from %s at step %d", path, self.step)
