"""LivePortrait's appearance feature extractor F: portrait image -> 3-D feature volume.

Layers: SameBlock2d -> ``num_down_blocks`` DownBlock2d -> 1x1 conv to ``max_features``
-> reshape (B, C, H, W) to (B, reshape_channel, reshape_depth, H, W) (channel index
``c * depth + z``) -> ``num_resblocks`` pre-activation ResBlock3d.
The official model maps a (B, 3, 256, 256) image in [0, 1] to a (B, 32, 16, 64, 64) volume.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch
import torch.nn as nn

from ...errors import TalkingHeadError
from .blocks import DownBlock2d, ResBlock3d, SameBlock2d


@dataclass(frozen=True)
class AppearanceFeatureExtractorConfig:
    """Defaults are the official ``appearance_feature_extractor_params`` of models.yaml."""

    image_channel: int = 3
    block_expansion: int = 64
    num_down_blocks: int = 2
    max_features: int = 512
    reshape_channel: int = 32
    reshape_depth: int = 16
    num_resblocks: int = 6

    def __post_init__(self):
        if self.reshape_channel * self.reshape_depth != self.max_features:
            raise TalkingHeadError(
                f"appearance extractor: reshape_channel * reshape_depth ({self.reshape_channel} * "
                f"{self.reshape_depth}) must equal max_features ({self.max_features})")


APPEARANCE_SIZES = {
    "official": AppearanceFeatureExtractorConfig(),
    # The reference folder's small test configuration (10,032 parameters).
    "small": AppearanceFeatureExtractorConfig(block_expansion=8, max_features=64, reshape_channel=4, num_resblocks=2),
    # Ours, for fast tests: depth 4 instead of 16 (goes with WARPING_SIZES["tiny"]).
    "tiny": AppearanceFeatureExtractorConfig(block_expansion=8, max_features=16, reshape_channel=4, reshape_depth=4,
                                             num_resblocks=1),
}


class AppearanceFeatureExtractor(nn.Module):
    """(B, image_channel, H, W) in [0, 1] -> (B, reshape_channel, reshape_depth, H/2**n, W/2**n)."""

    def __init__(self, config: AppearanceFeatureExtractorConfig | None = None):
        super().__init__()
        self.config = cfg = config or AppearanceFeatureExtractorConfig()
        self.first = SameBlock2d(cfg.image_channel, cfg.block_expansion)
        widths = [min(cfg.max_features, cfg.block_expansion * 2**i) for i in range(cfg.num_down_blocks + 1)]
        self.down_blocks = nn.ModuleList(DownBlock2d(widths[i], widths[i + 1]) for i in range(cfg.num_down_blocks))
        self.second = nn.Conv2d(widths[-1], cfg.max_features, kernel_size=1)
        self.resblocks_3d = nn.Sequential(OrderedDict(
            (f"3dr{i}", ResBlock3d(cfg.reshape_channel)) for i in range(cfg.num_resblocks)))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = self.first(image)  # (B, E, H, W)
        for block in self.down_blocks:
            x = block(x)  # halves H, W
        x = self.second(x)  # (B, max_features, h, w)
        b, _, h, w = x.shape
        x = x.reshape(b, self.config.reshape_channel, self.config.reshape_depth, h, w)  # (B, C, D, h, w)
        return self.resblocks_3d(x)
