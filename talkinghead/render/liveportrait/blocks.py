"""Conv building blocks shared by LivePortrait's appearance extractor and warping module.

Attribute names (``conv``, ``norm``, ``conv1``, ...) are part of the checkpoint format:
they must stay as they are for the official weights to load with ``strict=True``.
BatchNorm layers use eps 1e-5 (torch's default) and their running statistics in eval.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

LEAKY_RELU_SLOPE = 0.01  # torch's default slope, used by the warping module's `third` block


class SameBlock2d(nn.Module):
    """3x3 conv (same size) -> BatchNorm -> ReLU (or LeakyReLU 0.01)."""

    def __init__(self, in_features: int, out_features: int, leaky: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm2d(out_features)
        self.leaky = leaky

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, Cin, H, W) -> (B, Cout, H, W)
        x = self.norm(self.conv(x))
        return F.leaky_relu(x, LEAKY_RELU_SLOPE) if self.leaky else F.relu(x)


class DownBlock2d(nn.Module):
    """3x3 conv -> BatchNorm -> ReLU -> 2x2 average pool (halves H and W)."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm2d(out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, Cin, H, W) -> (B, Cout, H/2, W/2)
        return F.avg_pool2d(F.relu(self.norm(self.conv(x))), kernel_size=2)


class ResBlock3d(nn.Module):
    """Pre-activation residual block: x + conv2(relu(bn2(conv1(relu(bn1(x))))))."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv3d(channels, channels, kernel_size=3, padding=1)
        self.conv2 = nn.Conv3d(channels, channels, kernel_size=3, padding=1)
        self.norm1 = nn.BatchNorm3d(channels)
        self.norm2 = nn.BatchNorm3d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, D, H, W)
        out = self.conv1(F.relu(self.norm1(x)))
        out = self.conv2(F.relu(self.norm2(out)))
        return x + out


class DownBlock3d(nn.Module):
    """3x3x3 conv -> BatchNorm -> ReLU -> average pool (1, 2, 2) (depth is kept)."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.conv = nn.Conv3d(in_features, out_features, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm3d(out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, Cin, D, H, W) -> (B, Cout, D, H/2, W/2)
        return F.avg_pool3d(F.relu(self.norm(self.conv(x))), kernel_size=(1, 2, 2))


class UpBlock3d(nn.Module):
    """Nearest upsample (1, 2, 2) -> 3x3x3 conv -> BatchNorm -> ReLU."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.conv = nn.Conv3d(in_features, out_features, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm3d(out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, Cin, D, H, W) -> (B, Cout, D, 2H, 2W)
        x = F.interpolate(x, scale_factor=(1.0, 2.0, 2.0), mode="nearest")
        return F.relu(self.norm(self.conv(x)))


def hourglass_width(block_expansion: int, max_features: int, level: int) -> int:
    """Channel width at hourglass level ``level``: block_expansion * 2**level, capped."""
    return min(max_features, block_expansion * 2**level)


class HourglassEncoder(nn.Module):
    """``num_blocks`` DownBlock3d; returns the input followed by every block's output."""

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int, max_features: int):
        super().__init__()
        widths = [in_features] + [hourglass_width(block_expansion, max_features, i + 1) for i in range(num_blocks)]
        self.down_blocks = nn.ModuleList(DownBlock3d(widths[i], widths[i + 1]) for i in range(num_blocks))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = [x]
        for block in self.down_blocks:
            outs.append(block(outs[-1]))
        return outs


class HourglassDecoder(nn.Module):
    """UpBlock3d per level, each output concatenated as [up, skip]; then conv3d, BN, ReLU.

    The output has ``block_expansion + in_features`` channels.
    """

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int, max_features: int):
        super().__init__()
        blocks = []
        for level in reversed(range(num_blocks)):
            skip_factor = 1 if level == num_blocks - 1 else 2  # deeper outputs arrive concatenated with a skip
            in_width = skip_factor * hourglass_width(block_expansion, max_features, level + 1)
            blocks.append(UpBlock3d(in_width, hourglass_width(block_expansion, max_features, level)))
        self.up_blocks = nn.ModuleList(blocks)
        self.out_filters = block_expansion + in_features
        self.conv = nn.Conv3d(self.out_filters, self.out_filters, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm3d(self.out_filters)

    def forward(self, skips: list[torch.Tensor]) -> torch.Tensor:
        skips = list(skips)
        out = skips.pop()
        for block in self.up_blocks:
            out = torch.cat([block(out), skips.pop()], dim=1)
        return F.relu(self.norm(self.conv(out)))


class Hourglass3d(nn.Module):
    """3-D U-Net over (B, C, D, H, W); H and W must be divisible by 2**num_blocks."""

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int, max_features: int):
        super().__init__()
        self.encoder = HourglassEncoder(block_expansion, in_features, num_blocks, max_features)
        self.decoder = HourglassDecoder(block_expansion, in_features, num_blocks, max_features)
        self.out_filters = self.decoder.out_filters

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, Cin, D, H, W) -> (B, out_filters, D, H, W)
        return self.decoder(self.encoder(x))
