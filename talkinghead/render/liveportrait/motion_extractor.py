"""LivePortrait's motion extractor M: a ConvNeXt-V2 backbone with seven linear heads.

From a (B, 3, 256, 256) image in [0, 1] (no mean/std normalisation) it predicts the
canonical keypoints ``kp`` (B, 3K), the expression deltas ``exp`` (B, 3K), head-pose bin
logits ``pitch``/``yaw``/``roll`` (B, num_bins), translation ``t`` (B, 3) and ``scale`` (B, 1).
See :mod:`.keypoints` for turning those into transformed keypoints.

Backbone (ConvNeXt V2): a 4x4/stride-4 stem conv + channels-first LayerNorm, then per
stage a (LayerNorm, 2x2/stride-2 conv) downsample (except stage 0) followed by blocks of
7x7 depthwise conv -> LayerNorm -> Linear(C, 4C) -> GELU (erf) -> GRN -> Linear(4C, C) + x.
After the last stage: global average pool -> LayerNorm -> heads.  All LayerNorm eps 1e-6.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...errors import TalkingHeadError

LAYER_NORM_EPS = 1e-6
GRN_EPS = 1e-6
MLP_RATIO = 4  # ConvNeXt block inner width = 4 * C
STEM_STRIDE = 4
DOWNSAMPLE_STRIDE = 2
DWCONV_KERNEL = 7
HEAD_NAMES = ("kp", "scale", "pitch", "yaw", "roll", "t", "exp")  # checkpoint order of the fc_* heads


@dataclass(frozen=True)
class MotionExtractorConfig:
    """Defaults: ``num_kp: 21``, backbone ``convnextv2_tiny`` (depths 3-3-9-3, dims 96-...-768), 66 bins."""

    num_kp: int = 21
    num_bins: int = 66
    image_channel: int = 3
    depths: tuple[int, ...] = (3, 3, 9, 3)
    dims: tuple[int, ...] = (96, 192, 384, 768)

    def __post_init__(self):
        if len(self.depths) != len(self.dims) or not self.depths:
            raise TalkingHeadError(f"motion extractor: depths {self.depths} and dims {self.dims} "
                                   "must be non-empty and of equal length")


MOTION_EXTRACTOR_SIZES = {
    "official": MotionExtractorConfig(),
    # The reference folder's small test configuration (94,424 parameters).
    "small": MotionExtractorConfig(depths=(1, 1, 2, 1), dims=(8, 16, 32, 64)),
    "tiny": MotionExtractorConfig(depths=(1, 1, 2, 1), dims=(8, 16, 32, 64)),  # = small (already fast)
}


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channel axis of a channels-first (B, C, H, W) tensor."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)  # (B, H, W, C)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class GRN(nn.Module):
    """Global response normalisation on channels-last input (B, H, W, C)."""

    def __init__(self, dim: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, 1, 1, dim))
        self.beta = nn.Parameter(torch.zeros(1, 1, 1, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        global_norm = torch.linalg.vector_norm(x, ord=2, dim=(1, 2), keepdim=True)  # (B, 1, 1, C)
        relative = global_norm / (global_norm.mean(dim=-1, keepdim=True) + GRN_EPS)
        return self.gamma * (x * relative) + self.beta + x


class ConvNeXtBlock(nn.Module):
    """Depthwise 7x7 -> LN -> pointwise MLP with GRN, plus the residual."""

    def __init__(self, dim: int):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=DWCONV_KERNEL, padding=DWCONV_KERNEL // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.pwconv1 = nn.Linear(dim, MLP_RATIO * dim)
        self.grn = GRN(MLP_RATIO * dim)
        self.pwconv2 = nn.Linear(MLP_RATIO * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W)
        y = self.dwconv(x).permute(0, 2, 3, 1)  # (B, H, W, C)
        y = self.pwconv2(self.grn(F.gelu(self.pwconv1(self.norm(y)))))
        return x + y.permute(0, 3, 1, 2)


class ConvNeXtV2KeypointDetector(nn.Module):
    """ConvNeXt-V2 backbone + the seven regression heads (``fc_kp`` ... ``fc_exp``)."""

    def __init__(self, config: MotionExtractorConfig):
        super().__init__()
        dims = config.dims
        stem = nn.Sequential(nn.Conv2d(config.image_channel, dims[0], kernel_size=STEM_STRIDE, stride=STEM_STRIDE),
                             LayerNorm2d(dims[0], eps=LAYER_NORM_EPS))
        downsamples = [nn.Sequential(LayerNorm2d(dims[i - 1], eps=LAYER_NORM_EPS),
                                     nn.Conv2d(dims[i - 1], dims[i], kernel_size=DOWNSAMPLE_STRIDE,
                                               stride=DOWNSAMPLE_STRIDE))
                       for i in range(1, len(dims))]
        self.downsample_layers = nn.ModuleList([stem, *downsamples])
        self.stages = nn.ModuleList(nn.Sequential(*(ConvNeXtBlock(dim) for _ in range(depth)))
                                    for depth, dim in zip(config.depths, dims))
        self.norm = nn.LayerNorm(dims[-1], eps=LAYER_NORM_EPS)
        sizes = {"kp": 3 * config.num_kp, "scale": 1, "pitch": config.num_bins, "yaw": config.num_bins,
                 "roll": config.num_bins, "t": 3, "exp": 3 * config.num_kp}
        for name in HEAD_NAMES:
            setattr(self, f"fc_{name}", nn.Linear(dims[-1], sizes[name]))

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        x = image  # (B, 3, H, W)
        for downsample, stage in zip(self.downsample_layers, self.stages):
            x = stage(downsample(x))
        pooled = self.norm(x.mean(dim=(-2, -1)))  # (B, C_last)
        return {name: getattr(self, f"fc_{name}")(pooled) for name in HEAD_NAMES}


class MotionExtractor(nn.Module):
    """(B, 3, 256, 256) in [0, 1] -> dict of raw predictions (see module docstring)."""

    def __init__(self, config: MotionExtractorConfig | None = None):
        super().__init__()
        self.config = config or MotionExtractorConfig()
        self.detector = ConvNeXtV2KeypointDetector(self.config)

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.detector(image)
