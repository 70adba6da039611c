"""LivePortrait's implicit-keypoint algebra: pose bins -> degrees, rotation, transform.

Conventions (facts of the LivePortrait release):

* Head pose is predicted as 66 bins of 3 degrees; the angle is the softmax expectation of
  the bin index mapped to ``3 * i - 97.5``, so it spans [-97.5, 97.5] degrees.
* Keypoints are row vectors, so the rotation used is ``(Rz(roll) @ Ry(yaw) @ Rx(pitch))^T``.
* ``x = scale * (kp @ R + exp)``, then tx, ty are added to the x and y columns; tz is unused.
"""

from __future__ import annotations

import math

import torch

NUM_BINS = 66
BIN_DEGREES = 3.0
BIN_OFFSET_DEGREES = 97.5  # = BIN_DEGREES * (NUM_BINS - 1) / 2: centres the bins on 0 degrees


def bins_to_degrees(pred: torch.Tensor) -> torch.Tensor:
    """(B, 66) bin logits -> (B,) degrees; any other shape is already degrees and is returned as is."""
    if pred.ndim != 2 or pred.shape[1] != NUM_BINS:
        return pred
    index = torch.arange(NUM_BINS, dtype=pred.dtype, device=pred.device)  # (66,)
    expectation = (torch.softmax(pred, dim=1) * index).sum(dim=1)  # (B,)
    return expectation * BIN_DEGREES - BIN_OFFSET_DEGREES


def rotation_matrix(pitch: torch.Tensor, yaw: torch.Tensor, roll: torch.Tensor) -> torch.Tensor:
    """Angles in degrees, each (B,) or (B, 1) -> (B, 3, 3) = (Rz @ Ry @ Rx)^T for row-vector keypoints."""
    x, y, z = (a.reshape(-1) / 180 * math.pi for a in (pitch, yaw, roll))  # (B,) radians
    one, zero = torch.ones_like(x), torch.zeros_like(x)

    def matrix(*rows):  # 9 tensors of (B,) -> (B, 3, 3)
        return torch.stack(rows, dim=1).reshape(-1, 3, 3)

    rot_x = matrix(one, zero, zero, zero, x.cos(), -x.sin(), zero, x.sin(), x.cos())
    rot_y = matrix(y.cos(), zero, y.sin(), zero, one, zero, -y.sin(), zero, y.cos())
    rot_z = matrix(z.cos(), -z.sin(), zero, z.sin(), z.cos(), zero, zero, zero, one)
    return (rot_z @ rot_y @ rot_x).transpose(1, 2)


def transform_keypoints(kp: torch.Tensor, pitch: torch.Tensor, yaw: torch.Tensor, roll: torch.Tensor,
                        t: torch.Tensor, exp: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Canonical keypoints -> posed keypoints (B, K, 3).

    kp, exp: (B, 3K) or (B, K, 3); pitch/yaw/roll: bin logits (B, 66) or degrees (B,) / (B, 1);
    t: (B, 3) (only tx, ty used); scale: (B, 1).
    """
    batch = kp.shape[0]
    rot = rotation_matrix(bins_to_degrees(pitch), bins_to_degrees(yaw), bins_to_degrees(roll))  # (B, 3, 3)
    kp = kp.reshape(batch, -1, 3)  # (B, K, 3)
    x = (kp @ rot + exp.reshape(batch, -1, 3)) * scale.reshape(batch, 1, 1)
    return torch.cat([x[..., :2] + t[:, None, :2], x[..., 2:]], dim=-1)


def keypoint_info(raw: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The motion extractor's raw dict -> degrees (B, 1) for the angles, (B, K, 3) for kp and exp."""
    batch = raw["kp"].shape[0]
    info = dict(raw)
    for name in ("pitch", "yaw", "roll"):
        info[name] = bins_to_degrees(raw[name]).reshape(batch, 1)
    info["kp"] = raw["kp"].reshape(batch, -1, 3)
    info["exp"] = raw["exp"].reshape(batch, -1, 3)
    return info
