"""LivePortrait's warping module W: dense motion + occlusion, then warp of the 3-D features.

Dense motion (per motion k = 0..K, where k = 0 is the identity "background" motion):
``sparse_k = grid - kp_driving_k + kp_source_k`` over the (D, H, W) coordinate grid; the
compressed source volume is sampled at every ``sparse_k``; the hourglass sees, per motion,
[heatmap_k, sampled features_k] with ``heatmap_k = g(kp_driving_k) - g(kp_source_k)``
(a Gaussian of variance 0.01; zero for k = 0).  A 7x7x7 conv + softmax over motions gives
the mask, ``deformation = sum_k mask_k * sparse_k`` (B, D, H, W, 3) ordered (x, y, z), and a
7x7 conv + sigmoid on the depth-flattened hourglass output gives the occlusion map.

Main path: sample the feature volume at ``deformation``, flatten depth into channels, 3x3
conv + BN + LeakyReLU(0.01), 1x1 conv, times the occlusion map.

``grid_sample="gather"`` swaps torch's 5-D ``grid_sample`` for the ONNX-friendly
formulation of :mod:`.grid_sample3d` in both places (same numbers up to float rounding).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...errors import TalkingHeadError
from .blocks import Hourglass3d, SameBlock2d
from .grid_sample3d import GRID_SAMPLE_METHODS, grid_sample_3d

KP_VARIANCE = 0.01  # variance of the keypoint Gaussians, in normalised [-1, 1] units
MASK_KERNEL = 7  # 7x7x7 conv to the per-motion mask logits
OCCLUSION_KERNEL = 7  # 7x7 conv to the occlusion logit


@dataclass(frozen=True)
class DenseMotionConfig:
    """Defaults are the official ``dense_motion_params`` of models.yaml."""

    block_expansion: int = 32
    max_features: int = 1024
    num_blocks: int = 5
    reshape_depth: int = 16
    compress: int = 4


@dataclass(frozen=True)
class WarpingModuleConfig:
    """Defaults are the official ``warping_module_params`` of models.yaml.

    ``grid_sample`` is ours, not a checkpoint setting: "native" (torch's 5-D grid_sample)
    or "gather" (ONNX-exportable without 5-D GridSample).
    """

    num_kp: int = 21
    block_expansion: int = 64
    max_features: int = 512
    num_down_blocks: int = 2
    reshape_channel: int = 32
    estimate_occlusion_map: bool = True
    dense_motion_params: DenseMotionConfig = field(default_factory=DenseMotionConfig)
    grid_sample: str = "native"

    def __post_init__(self):
        if self.grid_sample not in GRID_SAMPLE_METHODS:
            raise TalkingHeadError(f"warping module: grid_sample {self.grid_sample!r} is not one of "
                                   f"{GRID_SAMPLE_METHODS}")


WARPING_SIZES = {
    "official": WarpingModuleConfig(),
    # The reference folder's small test configuration (931,883 parameters).
    "small": WarpingModuleConfig(block_expansion=4, max_features=64, reshape_channel=4,
                                 dense_motion_params=DenseMotionConfig(block_expansion=4, max_features=32, compress=2)),
    # Ours, for fast tests: depth 4 and a 2-level hourglass, so 16 x 16 features (64 px input) work.
    "tiny": WarpingModuleConfig(block_expansion=4, max_features=16, reshape_channel=4,
                                dense_motion_params=DenseMotionConfig(block_expansion=4, max_features=16, num_blocks=2,
                                                                      reshape_depth=4, compress=2)),
}


def coordinate_grid(depth: int, height: int, width: int, dtype=torch.float32, device=None) -> torch.Tensor:
    """(D, H, W, 3) grid with x along W, y along H, z along D, each spanning [-1, 1] inclusive."""
    def axis(n):
        return 2 * (torch.arange(n, dtype=dtype, device=device) / (n - 1)) - 1
    z, y, x = torch.meshgrid(axis(depth), axis(height), axis(width), indexing="ij")
    return torch.stack([x, y, z], dim=-1)


class DenseMotionNetwork(nn.Module):
    """Feature volume + keypoints -> mask-blended deformation (and occlusion map)."""

    def __init__(self, config: DenseMotionConfig, num_kp: int, feature_channel: int, estimate_occlusion_map: bool):
        super().__init__()
        self.num_kp = num_kp
        self.grid_sample = "native"
        in_features = (num_kp + 1) * (config.compress + 1)  # per motion: heatmap + compressed features
        self.hourglass = Hourglass3d(config.block_expansion, in_features, config.num_blocks, config.max_features)
        out = self.hourglass.out_filters
        self.mask = nn.Conv3d(out, num_kp + 1, kernel_size=MASK_KERNEL, padding=MASK_KERNEL // 2)
        self.compress = nn.Conv3d(feature_channel, config.compress, kernel_size=1)
        self.norm = nn.BatchNorm3d(config.compress)
        self.occlusion = (nn.Conv2d(out * config.reshape_depth, 1, kernel_size=OCCLUSION_KERNEL,
                                    padding=OCCLUSION_KERNEL // 2) if estimate_occlusion_map else None)

    def _heatmaps(self, grid, kp_driving, kp_source):  # -> (B, K+1, 1, D, H, W)
        def gaussian(kp):  # (B, K, 3) -> (B, K, D, H, W)
            diff = grid[None, None] - kp[:, :, None, None, None, :]  # (B, K, D, H, W, 3)
            return torch.exp(-0.5 * (diff**2).sum(-1) / KP_VARIANCE)
        heat = gaussian(kp_driving) - gaussian(kp_source)
        background = torch.zeros_like(heat[:, :1])
        return torch.cat([background, heat], dim=1).unsqueeze(2)

    def _sparse_motions(self, grid, kp_driving, kp_source):  # -> (B, K+1, D, H, W, 3)
        def at(kp):  # (B, K, 3) -> (B, K, 1, 1, 1, 3)
            return kp[:, :, None, None, None, :]
        moved = grid[None, None] - at(kp_driving) + at(kp_source)  # (B, K, D, H, W, 3)
        identity = grid[None, None].expand(kp_driving.shape[0], 1, *grid.shape)
        return torch.cat([identity, moved], dim=1)

    def _sample_per_motion(self, feature, sparse):  # (B, c, D, H, W), (B, K+1, D, H, W, 3)
        b, m, d, h, w, _ = sparse.shape
        # One call for all motions: stack the motions' grids along the output depth axis.
        sampled = grid_sample_3d(feature, sparse.reshape(b, m * d, h, w, 3), self.grid_sample)  # (B, c, M*D, H, W)
        return sampled.reshape(b, -1, m, d, h, w).transpose(1, 2)  # (B, K+1, c, D, H, W)

    def forward(self, feature: torch.Tensor, kp_driving: torch.Tensor, kp_source: torch.Tensor) -> dict:
        """feature (B, C, D, H, W); keypoints (B, K, 3) -> deformation (B, D, H, W, 3), occlusion (B, 1, H, W)."""
        b, _, d, h, w = feature.shape
        feature = F.relu(self.norm(self.compress(feature)))  # (B, c, D, H, W)
        grid = coordinate_grid(d, h, w, feature.dtype, feature.device)  # (D, H, W, 3)
        sparse = self._sparse_motions(grid, kp_driving, kp_source)  # (B, K+1, D, H, W, 3)
        stacked = torch.cat([self._heatmaps(grid, kp_driving, kp_source),
                             self._sample_per_motion(feature, sparse)], dim=2)  # (B, K+1, 1+c, D, H, W)
        prediction = self.hourglass(stacked.reshape(b, -1, d, h, w))  # (B, P, D, H, W)
        mask = torch.softmax(self.mask(prediction), dim=1)  # (B, K+1, D, H, W)
        deformation = (sparse * mask.unsqueeze(-1)).sum(dim=1)  # (B, D, H, W, 3)
        result = {"mask": mask, "deformation": deformation, "occlusion_map": None}
        if self.occlusion is not None:
            result["occlusion_map"] = torch.sigmoid(self.occlusion(prediction.reshape(b, -1, h, w)))  # (B, 1, H, W)
        return result


class WarpingModule(nn.Module):
    """(feature_3d, kp_driving, kp_source) -> dict(out, occlusion_map, deformation).

    ``out`` is (B, block_expansion * 2**num_down_blocks, H, W): 256 x 64 x 64 officially.
    """

    def __init__(self, config: WarpingModuleConfig | None = None):
        super().__init__()
        self.config = cfg = config or WarpingModuleConfig()
        self.dense_motion_network = DenseMotionNetwork(cfg.dense_motion_params, cfg.num_kp, cfg.reshape_channel,
                                                       cfg.estimate_occlusion_map)
        out_features = cfg.block_expansion * 2**cfg.num_down_blocks
        self.third = SameBlock2d(cfg.max_features, out_features, leaky=True)
        self.fourth = nn.Conv2d(out_features, out_features, kernel_size=1)
        self.set_grid_sample(cfg.grid_sample)

    def set_grid_sample(self, method: str) -> None:
        """Choose "native" or "gather" 3-D sampling for the dense motion and the warp."""
        if method not in GRID_SAMPLE_METHODS:
            raise TalkingHeadError(f"grid_sample {method!r} is not one of {GRID_SAMPLE_METHODS}")
        self.grid_sample = method
        self.dense_motion_network.grid_sample = method

    def forward(self, feature_3d: torch.Tensor, kp_driving: torch.Tensor, kp_source: torch.Tensor) -> dict:
        dense = self.dense_motion_network(feature_3d, kp_driving, kp_source)
        warped = grid_sample_3d(feature_3d, dense["deformation"], self.grid_sample)  # (B, C, D, H, W)
        b, c, d, h, w = warped.shape
        out = self.fourth(self.third(warped.reshape(b, c * d, h, w)))  # (B, out_features, H, W)
        if dense["occlusion_map"] is not None:
            out = out * dense["occlusion_map"]
        return {"out": out, "occlusion_map": dense["occlusion_map"], "deformation": dense["deformation"]}
