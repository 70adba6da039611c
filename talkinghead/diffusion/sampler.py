"""Sampling motion from a MotionDiT: the denoising loop, classifier-free guidance, windowing.

The network (``dit.py``) and the noise schedule (a ``diffusers`` scheduler) are separate;
:func:`denoise_window` is the one place where the loop runs. Long sequences are generated
by :class:`MotionWindower`: consecutive windows, each conditioned on the clean tail of the
previous one (its prefix). The offline path uses long windows; the streaming path uses the
same class with short windows, so both run the same code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from diffusers import DDIMScheduler, DPMSolverMultistepScheduler

from .dit import MotionDiT

NUM_TRAIN_TIMESTEPS = 1000
BETA_SCHEDULE = "squaredcos_cap_v2"  # cosine schedule (Nichol & Dhariwal): good at few steps
SCHEDULERS = ("ddim", "dpm")


@dataclass
class SamplerConfig:
    """How motion is sampled (not saved with the weights; a per-call choice)."""

    steps: int = 8  # denoising steps per window
    guidance: float = 2.0  # classifier-free guidance scale on audio (1 = off)
    window: int = 80  # frames denoised per window (3.2 s at 25 fps)
    prefix: int = 10  # clean frames of the previous window the next one is conditioned on
    scheduler: str = "ddim"  # "ddim" or "dpm" (DPM-Solver++)


def make_scheduler(name: str, prediction: str):
    """A fresh diffusers scheduler (they are stateful: one per sampling run)."""
    common = dict(num_train_timesteps=NUM_TRAIN_TIMESTEPS, beta_schedule=BETA_SCHEDULE,
                  prediction_type=prediction, timestep_spacing="trailing")
    if name == "ddim":
        return DDIMScheduler(clip_sample=False, set_alpha_to_one=False, **common)
    if name == "dpm":
        return DPMSolverMultistepScheduler(algorithm_type="dpmsolver++", solver_order=2, **common)
    raise ValueError(f"unknown scheduler {name!r}; choose one of {SCHEDULERS}")


@torch.no_grad()
def denoise_window(model: MotionDiT, audio: torch.Tensor, prefix: torch.Tensor | None, noise: torch.Tensor,
                   steps: int, guidance: float, scheduler: str = "ddim") -> torch.Tensor:
    """Denoise one window.

    Args:
        audio: (1, P + T, F) features of the prefix frames followed by the window's frames.
        prefix: (1, P, D) clean normalised motion, or None for P = 0.
        noise: (1, T, D) starting noise (drawn by the caller, so seeds are reproducible).
    Returns:
        (1, T, D) normalised motion.
    """
    p = 0 if prefix is None else prefix.shape[1]
    sched = make_scheduler(scheduler, model.config.prediction)
    sched.set_timesteps(steps, device=noise.device)
    x = noise * sched.init_noise_sigma  # (1, T, D)
    audio2 = audio.expand(2, -1, -1)  # CFG: both branches in one batch
    mask = torch.tensor([True, False], device=noise.device)
    for t in sched.timesteps:
        tokens = x if prefix is None else torch.cat([prefix, x], dim=1)  # (1, P + T, D)
        tokens = sched.scale_model_input(tokens, t).expand(2, -1, -1)
        out = model(tokens, t.expand(2).to(noise.device), audio2, mask, p)[:, p:]  # (2, T, D)
        guided = out[1:] + guidance * (out[:1] - out[1:])  # uncond + g (cond - uncond)
        x = sched.step(guided, t, x).prev_sample
    return x


def frame_noise(seed: int, start: int, frames: int, dim: int) -> torch.Tensor:
    """(frames, dim) standard normal noise for frames ``start ..``; frame ``i`` depends only on (seed, i)."""
    rows = [np.random.default_rng([seed, start + i]).standard_normal(dim) for i in range(frames)]
    return torch.from_numpy(np.stack(rows).astype(np.float32)) if rows else torch.zeros(0, dim)


class MotionWindower:
    """Generate motion window by window, carrying the clean tail as the next prefix.

    Feed audio features in order with :meth:`generate` (any number of frames per call, each
    call producing exactly that many motion frames). The starting noise of frame ``i`` depends
    only on ``(seed, i)`` (:func:`frame_noise`), so any window schedule starts from the same noise:
    streaming (short windows) and offline (long windows) differ only by the windows' contexts.
    """

    def __init__(self, model: MotionDiT, config: SamplerConfig, seed: int = 0):
        self.model, self.config = model, config
        param = next(model.parameters())
        self.device, self.dtype = param.device, param.dtype
        self.seed = int(seed)
        self._frame = 0  # frames generated so far
        self._tail_motion: torch.Tensor | None = None  # (1, <=P, D) normalised
        self._tail_audio: torch.Tensor | None = None  # (1, <=P, F)

    def generate(self, features: torch.Tensor) -> torch.Tensor:
        """features (N, F) for the next N frames -> raw motion (N, D) in channels.py units."""
        chunks = []
        for start in range(0, features.shape[0], self.config.window):
            chunks.append(self._window(features[start:start + self.config.window]))
        if not chunks:
            return torch.zeros(0, self.model.config.motion_dim)
        return self.model.denormalize(torch.cat(chunks, dim=0))

    def _window(self, feats: torch.Tensor) -> torch.Tensor:
        feats = feats.to(self.device, self.dtype)[None]  # (1, T, F)
        t = feats.shape[1]
        noise = frame_noise(self.seed, self._frame, t, self.model.config.motion_dim)[None].to(self.device, self.dtype)
        self._frame += t
        audio = feats if self._tail_audio is None else torch.cat([self._tail_audio, feats], dim=1)
        out = denoise_window(self.model, audio, self._tail_motion, noise, self.config.steps,
                             self.config.guidance, self.config.scheduler)  # (1, T, D)
        self._remember(out, feats)
        return out[0]

    def _remember(self, motion: torch.Tensor, feats: torch.Tensor) -> None:
        p = self.config.prefix
        if p == 0:
            return
        motion = motion if self._tail_motion is None else torch.cat([self._tail_motion, motion], dim=1)
        feats = feats if self._tail_audio is None else torch.cat([self._tail_audio, feats], dim=1)
        self._tail_motion, self._tail_audio = motion[:, -p:], feats[:, -p:]


def sample_motion(model: MotionDiT, features: torch.Tensor, config: SamplerConfig | None = None,
                  seed: int = 0) -> torch.Tensor:
    """Offline: features (N, F) -> raw motion (N, D), generated in windows of ``config.window``."""
    return MotionWindower(model, config or SamplerConfig(), seed).generate(features)
