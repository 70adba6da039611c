"""LivePortrait's SPADE generator G: warped 2-D features -> RGB image in (0, 1).

``fc`` (3x3 conv, C -> 2C) -> six SPADE resblocks at 2C -> nearest x2 -> ``up_0`` (2C -> C)
-> nearest x2 -> ``up_1`` (C -> out_channels) -> LeakyReLU 0.2 -> 3x3 conv to 3*upscale**2
channels -> PixelShuffle(upscale) -> sigmoid.  Officially (B, 256, 64, 64) -> (B, 3, 512, 512).

Every SPADE layer is conditioned on the generator's input feature (the "segmap"), resized
with nearest neighbour to the layer's resolution.  The resblock convs are spectrally
normalised: the checkpoint stores ``weight_orig`` and the power-iteration vectors
``weight_u``, ``weight_v``; the effective weight is ``weight_orig / (u . (W_mat @ v))``
with ``W_mat = weight_orig.reshape(out, -1)``.  We always use the stored u and v (what the
released model does in eval); no power iteration runs here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

SPADE_HIDDEN = 128  # width of SPADE's shared conv, fixed in the release (``hidden`` changes it for tests)
SPADE_LEAKY_SLOPE = 0.2
INSTANCE_NORM_EPS = 1e-5
NUM_MIDDLE_BLOCKS = 6
NUM_RGB = 3


@dataclass(frozen=True)
class SPADEGeneratorConfig:
    """Defaults are the official ``spade_generator_params`` of models.yaml (``out_channels`` keeps its 64 default)."""

    upscale: int = 2
    block_expansion: int = 64
    max_features: int = 512
    num_down_blocks: int = 2
    out_channels: int = 64
    hidden: int = SPADE_HIDDEN  # ours: SPADE's shared-conv width; only the release value loads official weights

    @property
    def input_channels(self) -> int:
        return min(self.max_features, self.block_expansion * 2**self.num_down_blocks)


SPADE_SIZES = {
    "official": SPADEGeneratorConfig(),
    # The reference folder's small test configuration (1,622,124 parameters).
    "small": SPADEGeneratorConfig(block_expansion=4, max_features=16, out_channels=8),
    # Ours, for fast tests: the small config with a 16-wide SPADE hidden layer.
    "tiny": SPADEGeneratorConfig(block_expansion=4, max_features=16, out_channels=8, hidden=16),
}


class SpectralNormConv2d(nn.Module):
    """Conv2d whose weight is ``weight_orig`` divided by its stored spectral-norm estimate."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True):
        super().__init__()
        self.padding = kernel_size // 2
        shape = (out_channels, in_channels, kernel_size, kernel_size)
        self.weight_orig = nn.Parameter(torch.empty(shape))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.register_buffer("weight_u", torch.empty(out_channels))
        self.register_buffer("weight_v", torch.empty(in_channels * kernel_size * kernel_size))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Conv2d's default init; u and v random unit vectors (a checkpoint overwrites all of them)."""
        nn.init.kaiming_uniform_(self.weight_orig, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.weight_orig[0].numel())
            nn.init.uniform_(self.bias, -bound, bound)
        with torch.no_grad():
            self.weight_u.copy_(F.normalize(torch.randn_like(self.weight_u), dim=0))
            self.weight_v.copy_(F.normalize(torch.randn_like(self.weight_v), dim=0))

    def sigma(self) -> torch.Tensor:
        """The stored spectral-norm estimate u . (W_mat @ v), a scalar."""
        matrix = self.weight_orig.reshape(self.weight_orig.shape[0], -1)  # (out, in*k*k)
        return torch.dot(self.weight_u, torch.mv(matrix, self.weight_v))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight_orig / self.sigma(), self.bias, padding=self.padding)


class SPADE(nn.Module):
    """Instance norm (no affine) modulated by gamma/beta predicted from the segmap."""

    def __init__(self, norm_nc: int, label_nc: int, hidden: int = SPADE_HIDDEN):
        super().__init__()
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_nc, hidden, kernel_size=3, padding=1), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(hidden, norm_nc, kernel_size=3, padding=1)
        self.mlp_beta = nn.Conv2d(hidden, norm_nc, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor, segmap: torch.Tensor) -> torch.Tensor:  # (B, C, H, W), (B, L, h, w)
        normalized = F.instance_norm(x, eps=INSTANCE_NORM_EPS)
        segmap = F.interpolate(segmap, size=x.shape[2:], mode="nearest")
        hidden = self.mlp_shared(segmap)  # (B, hidden, H, W)
        return normalized * (1 + self.mlp_gamma(hidden)) + self.mlp_beta(hidden)


class SPADEResBlock(nn.Module):
    """x_s + conv_1(act(SPADE(conv_0(act(SPADE(x)))))); x_s = conv_s(SPADE_s(x)) if fin != fout else x."""

    def __init__(self, fin: int, fout: int, label_nc: int, hidden: int = SPADE_HIDDEN):
        super().__init__()
        middle = min(fin, fout)
        self.conv_0 = SpectralNormConv2d(fin, middle, kernel_size=3)
        self.conv_1 = SpectralNormConv2d(middle, fout, kernel_size=3)
        self.norm_0 = SPADE(fin, label_nc, hidden)
        self.norm_1 = SPADE(middle, label_nc, hidden)
        self.learned_shortcut = fin != fout
        if self.learned_shortcut:
            self.conv_s = SpectralNormConv2d(fin, fout, kernel_size=1, bias=False)
            self.norm_s = SPADE(fin, label_nc, hidden)

    @staticmethod
    def _act(x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x, SPADE_LEAKY_SLOPE)

    def forward(self, x: torch.Tensor, segmap: torch.Tensor) -> torch.Tensor:
        shortcut = self.conv_s(self.norm_s(x, segmap)) if self.learned_shortcut else x
        dx = self.conv_0(self._act(self.norm_0(x, segmap)))
        dx = self.conv_1(self._act(self.norm_1(dx, segmap)))
        return shortcut + dx


class SPADEGenerator(nn.Module):
    """(B, C, H, W) warped feature -> (B, 3, 4*upscale*H, 4*upscale*W) image in (0, 1)."""

    def __init__(self, config: SPADEGeneratorConfig | None = None):
        super().__init__()
        self.config = cfg = config or SPADEGeneratorConfig()
        c = cfg.input_channels
        self.fc = nn.Conv2d(c, 2 * c, kernel_size=3, padding=1)
        for i in range(NUM_MIDDLE_BLOCKS):
            setattr(self, f"G_middle_{i}", SPADEResBlock(2 * c, 2 * c, c, cfg.hidden))
        self.up_0 = SPADEResBlock(2 * c, c, c, cfg.hidden)
        self.up_1 = SPADEResBlock(c, cfg.out_channels, c, cfg.hidden)
        upscale = max(cfg.upscale, 1)
        layers = [nn.Conv2d(cfg.out_channels, NUM_RGB * upscale**2, kernel_size=3, padding=1)]
        if upscale > 1:
            layers.append(nn.PixelShuffle(upscale))
        self.conv_img = nn.Sequential(*layers)

    def forward(self, feature: torch.Tensor) -> torch.Tensor:
        x = self.fc(feature)  # (B, 2C, H, W)
        for i in range(NUM_MIDDLE_BLOCKS):
            x = getattr(self, f"G_middle_{i}")(x, feature)
        x = self.up_0(F.interpolate(x, scale_factor=2.0, mode="nearest"), feature)  # (B, C, 2H, 2W)
        x = self.up_1(F.interpolate(x, scale_factor=2.0, mode="nearest"), feature)  # (B, out, 4H, 4W)
        x = self.conv_img(F.leaky_relu(x, SPADE_LEAKY_SLOPE))  # (B, 3, 4uH, 4uW)
        return torch.sigmoid(x)
