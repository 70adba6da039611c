"""LivePortrait's stitching, eye-retargeting and lip-retargeting MLPs.

Each is Linear+ReLU per hidden layer and a plain Linear at the end (``mlp.0``, ``mlp.2``, ...).

* stitching: [x_s, x_d] flattened (B, 6K) -> (B, 3K + 2): a keypoint delta plus a shared
  (dx, dy) shift, so the rendered face lines up with the paste-back region.
* eye: [x_s, eye_ratio] (B, 3K + 3) -> (B, 3K) delta; eye_ratio = [source left, source right, target].
* lip: [x_s, lip_ratio] (B, 3K + 2) -> (B, 3K) delta; lip_ratio = [source, target].

In the released checkpoint file the three state dicts sit under ``retarget_shoulder``,
``retarget_mouth`` and ``retarget_eye`` (see :data:`CHECKPOINT_GROUPS`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn

NUM_KP = 21
STITCH_SHIFT_DIMS = 2  # the stitching MLP's trailing (dx, dy)


@dataclass(frozen=True)
class RetargetingMLPConfig:
    input_size: int
    hidden_sizes: tuple[int, ...]
    output_size: int


def _stitching_default() -> RetargetingMLPConfig:
    return RetargetingMLPConfig(2 * 3 * NUM_KP, (128, 128, 64), 3 * NUM_KP + STITCH_SHIFT_DIMS)


def _lip_default() -> RetargetingMLPConfig:
    return RetargetingMLPConfig(3 * NUM_KP + 2, (128, 128, 64), 3 * NUM_KP)


def _eye_default() -> RetargetingMLPConfig:
    return RetargetingMLPConfig(3 * NUM_KP + 3, (256, 256, 128, 128, 64), 3 * NUM_KP)


@dataclass(frozen=True)
class StitchingRetargetingConfig:
    """Defaults are the official ``stitching_retargeting_module_params`` of models.yaml."""

    stitching: RetargetingMLPConfig = field(default_factory=_stitching_default)
    lip: RetargetingMLPConfig = field(default_factory=_lip_default)
    eye: RetargetingMLPConfig = field(default_factory=_eye_default)


# Our submodule name -> top-level key in stitching_retargeting_module.pth.
CHECKPOINT_GROUPS = {"stitching": "retarget_shoulder", "lip": "retarget_mouth", "eye": "retarget_eye"}


class RetargetingMLP(nn.Module):
    """(B, input_size) -> (B, output_size)."""

    def __init__(self, config: RetargetingMLPConfig):
        super().__init__()
        self.config = config
        sizes = [config.input_size, *config.hidden_sizes]
        layers: list[nn.Module] = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
        layers.append(nn.Linear(sizes[-1], config.output_size))
        self.mlp = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(x)


class StitchingRetargeting(nn.Module):
    """The three MLPs plus the keypoint arithmetic around them."""

    def __init__(self, config: StitchingRetargetingConfig | None = None):
        super().__init__()
        self.config = cfg = config or StitchingRetargetingConfig()
        self.stitching = RetargetingMLP(cfg.stitching)
        self.lip = RetargetingMLP(cfg.lip)
        self.eye = RetargetingMLP(cfg.eye)

    def stitch(self, kp_source: torch.Tensor, kp_driving: torch.Tensor) -> torch.Tensor:
        """(B, K, 3) source and driving keypoints -> stitched driving keypoints (B, K, 3)."""
        b, k, _ = kp_source.shape
        delta = self.stitching(torch.cat([kp_source.reshape(b, -1), kp_driving.reshape(b, -1)], dim=1))  # (B, 3K+2)
        moved = kp_driving + delta[:, : 3 * k].reshape(b, k, 3)
        shift = delta[:, 3 * k: 3 * k + STITCH_SHIFT_DIMS].reshape(b, 1, STITCH_SHIFT_DIMS)
        return torch.cat([moved[..., :STITCH_SHIFT_DIMS] + shift, moved[..., STITCH_SHIFT_DIMS:]], dim=-1)

    def retarget_eye(self, kp_source: torch.Tensor, eye_ratio: torch.Tensor) -> torch.Tensor:
        """(B, K, 3) keypoints, (B, 3) eye ratios -> keypoint delta (B, K, 3)."""
        b, k, _ = kp_source.shape
        return self.eye(torch.cat([kp_source.reshape(b, -1), eye_ratio], dim=1)).reshape(b, k, 3)

    def retarget_lip(self, kp_source: torch.Tensor, lip_ratio: torch.Tensor) -> torch.Tensor:
        """(B, K, 3) keypoints, (B, 2) lip ratios -> keypoint delta (B, K, 3)."""
        b, k, _ = kp_source.shape
        return self.lip(torch.cat([kp_source.reshape(b, -1), lip_ratio], dim=1)).reshape(b, k, 3)
