"""MotionDiT: a diffusion transformer that denoises a window of motion frames.

Tokens are video frames (25 fps). A window holds ``P`` prefix frames (already generated,
clean, for continuity) followed by ``T`` frames being denoised. Each token embeds its motion
vector (noisy or prefix), its audio feature (Whisper, aligned to the frame) and its position;
a learned flag says whether it is a prefix token. The diffusion step conditions every block
through adaLN-zero (DiT, Peebles & Xie 2023). Attention is bidirectional inside the window.

Classifier-free guidance on audio: the audio feature of a frame can be replaced by a learned
null embedding (``audio_mask = False``); training drops audio with ``cfg_dropout``.

Shapes: motion (B, P + T, D) normalised; audio (B, P + T, F); t (B,); output (B, P + T, D)
(only the last T are used). No I/O here: see ``checkpoint.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..motion.channels import MOTION_DIM


@dataclass
class DiTConfig:
    """Network hyper-parameters (saved with the weights)."""

    motion_dim: int = MOTION_DIM  # channels per frame, see motion/channels.py
    audio_dim: int = 768  # Whisper tiny: 2 stacked 384-d encoder frames per video frame
    width: int = 256
    depth: int = 6
    heads: int = 4
    mlp_ratio: float = 4.0
    max_frames: int = 256  # longest prefix + window, sets the positional table
    prediction: str = "v_prediction"  # or "sample" (x0) or "epsilon"; the scheduler's prediction_type
    dropout: float = 0.0


DIT_SIZES: dict[str, dict] = {
    "tiny": dict(width=64, depth=2, heads=4),  # tests and smoke runs (~0.2 M params)
    "small": dict(width=128, depth=4, heads=4),  # the shipped size (~1 M params): trains in < 1 h on 2 CPU cores
    "base": dict(width=256, depth=6, heads=4),  # ~8 M params: for more data and a GPU
}


def dit_config(size: str, **overrides) -> DiTConfig:
    """The config of a registry size, with overrides (e.g. ``audio_dim``)."""
    if size not in DIT_SIZES:
        raise KeyError(f"unknown DiT size {size!r}; sizes: {', '.join(DIT_SIZES)}")
    return DiTConfig(**{**DIT_SIZES[size], **overrides})


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Sinusoidal embedding of (B,) diffusion steps -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]  # (B, half)
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """adaLN modulation: x (B, N, C), shift/scale (B, C)."""
    return x * (1 + scale[:, None]) + shift[:, None]


class DiTBlock(nn.Module):
    """Pre-norm transformer block whose norms are modulated by the step (adaLN-zero)."""

    def __init__(self, width: int, heads: int, mlp_ratio: float, dropout: float):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        hidden = int(width * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, width))
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(width, 6 * width))
        self.dropout = dropout

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """x (B, N, C), c (B, C) -> (B, N, C)."""
        shift1, scale1, gate1, shift2, scale2, gate2 = self.ada(c).chunk(6, dim=-1)
        x = x + gate1[:, None] * self._attention(modulate(self.norm1(x), shift1, scale1))
        x = x + gate2[:, None] * self.mlp(modulate(self.norm2(x), shift2, scale2))
        return x

    def _attention(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)  # 3 x (B, H, N, c/H)
        drop = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=drop)  # (B, H, N, c/H)
        return self.proj(y.transpose(1, 2).reshape(b, n, c))


class MotionDiT(nn.Module):
    """Denoiser of normalised motion windows conditioned on audio features and a clean prefix."""

    def __init__(self, config: DiTConfig):
        super().__init__()
        self.config = config
        w = config.width
        self.motion_in = nn.Linear(config.motion_dim, w)
        self.audio_in = nn.Sequential(nn.LayerNorm(config.audio_dim), nn.Linear(config.audio_dim, w))
        self.null_audio = nn.Parameter(torch.zeros(w))  # CFG's unconditional audio token
        self.prefix_flag = nn.Parameter(torch.zeros(2, w))  # [denoised token, prefix token]
        self.pos = nn.Parameter(torch.zeros(config.max_frames, w))
        self.t_embed = nn.Sequential(nn.Linear(w, w), nn.SiLU(), nn.Linear(w, w))
        self.blocks = nn.ModuleList(DiTBlock(w, config.heads, config.mlp_ratio, config.dropout)
                                    for _ in range(config.depth))
        self.norm_out = nn.LayerNorm(w, elementwise_affine=False, eps=1e-6)
        self.ada_out = nn.Sequential(nn.SiLU(), nn.Linear(w, 2 * w))
        self.out = nn.Linear(w, config.motion_dim)
        # motion normalisation statistics of the training data (saved with the weights)
        self.register_buffer("motion_mean", torch.zeros(config.motion_dim))
        self.register_buffer("motion_std", torch.ones(config.motion_dim))
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.pos, std=0.02)
        nn.init.normal_(self.prefix_flag, std=0.02)
        nn.init.normal_(self.null_audio, std=0.02)
        for block in self.blocks:  # adaLN-zero: every residual branch starts closed
            nn.init.zeros_(block.ada[-1].weight)
            nn.init.zeros_(block.ada[-1].bias)
        nn.init.zeros_(self.ada_out[-1].weight)
        nn.init.zeros_(self.ada_out[-1].bias)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, audio: torch.Tensor, audio_mask: torch.Tensor,
                prefix_len: int) -> torch.Tensor:
        """Predict the scheduler's target for every token.

        Args:
            x: (B, N, D) normalised motion; the first ``prefix_len`` tokens are the clean prefix.
            t: (B,) diffusion steps.
            audio: (B, N, F) per-frame audio features.
            audio_mask: (B,) bool (or float), False selects the null audio (CFG's unconditional branch).
            prefix_len: number of prefix tokens P (may be 0).
        Returns:
            (B, N, D) prediction (v, x0 or epsilon per ``config.prediction``).
        """
        b, n, _ = x.shape
        assert n <= self.config.max_frames, "window longer than the positional table"
        keep = audio_mask.to(x.dtype)[:, None, None]  # (B, 1, 1)
        a = self.audio_in(audio) * keep + self.null_audio * (1 - keep)  # (B, N, W)
        is_prefix = (torch.arange(n, device=x.device) < prefix_len).long()  # (N,)
        h = self.motion_in(x) + a + self.pos[:n] + self.prefix_flag[is_prefix]  # (B, N, W)
        c = self.t_embed(timestep_embedding(t, self.config.width))  # (B, W)
        for block in self.blocks:
            h = block(h, c)
        shift, scale = self.ada_out(c).chunk(2, dim=-1)
        return self.out(modulate(self.norm_out(h), shift, scale))  # (B, N, D)

    def normalize(self, motion: torch.Tensor) -> torch.Tensor:
        """Raw motion (..., D) -> the model's normalised space."""
        return (motion - self.motion_mean) / self.motion_std

    def denormalize(self, motion: torch.Tensor) -> torch.Tensor:
        """Normalised motion (..., D) -> raw motion in channels.py units."""
        return motion * self.motion_std + self.motion_mean
