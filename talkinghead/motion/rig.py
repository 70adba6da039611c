"""The rig: one displacement field per motion channel over the 478 MediaPipe landmarks.

A frame's landmarks are::

    shape  = identity + sum_k c_k B_k          (canonical frame; k over RIG_NAMES)
    posed  = apply_pose(shape, pose)           (talkinghead.motion.pose)
    pixels = project(posed, to_image)          (orthographic, avatar's canonical->crop similarity)

Frame and units: the canonical frame of :mod:`talkinghead.face.canonical` (x to the image's
right, y down, z away from the camera, origin between the eye centres, **1 unit = the
inter-ocular distance (IOD)**, about 6.3 cm on an adult). Amplitudes (in
:mod:`talkinghead.motion.authoring`) are in IOD and chosen so that a coefficient of 1.0 is a
strong but plausible expression: jawOpen 1 rotates the mandible 26 degrees and drops the lower
lip ~0.55 IOD (~3.5 cm, a wide-open mouth; speech mostly stays below 0.5); mouthSmile 1 moves a
corner ~0.1 IOD up and out; eyeBlink 1 brings the upper lid down onto the lower lid.

``RIG_NAMES`` = the 29 expression channels then ``gazeX, gazeY`` — the contiguous motion
columns ``6:37`` — so ``B`` has shape (31, 478, 3). Gaze coefficients are in [-1, 1] and move
only the iris points (468-477); every other channel leaves the iris points fixed (a blink covers
the iris, it does not move it).

The fields are authored procedurally (:mod:`talkinghead.motion.authoring`): which landmarks a
channel moves is fixed per landmark index (weights computed once on MediaPipe's canonical face,
whose lips and lids are cleanly apart); how far is measured on the face the rig is built for
(:func:`build_basis` takes the identity), so a blink closes *this* face's eye and a jaw rotates
about the same hinge for everyone. Regions are blended with smooth (C2) weights so the warp
renderer sees no creases: the jaw weight is sharp only between the lips and spreads out through
the cheeks and jaw line; lid, brow and cheek fields fall off over a few tenths of an IOD.
Left/Right are the subject's sides (``...Left`` moves x > 0); the two sides are built by the same
code with the sign of x flipped, so on a symmetric face they mirror each other exactly.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from ..errors import InvalidControlError
from ..face import landmarks as L
from ..face.canonical import canonical_landmarks
from .authoring import build_fields
from .channels import EXPRESSION_NAMES, EXPRESSION_SLICE, GAZE_NAMES, GAZE_SLICE, MOTION_DIM
from .pose import apply_pose, project
from .shape import rest_identity

RIG_NAMES = EXPRESSION_NAMES + GAZE_NAMES
NUM_RIG = len(RIG_NAMES)  # 29 + 2 = 31
RIG_SLICE = slice(EXPRESSION_SLICE.start, GAZE_SLICE.stop)  # motion columns 6..36
NUM_POINTS = L.NUM_LANDMARKS  # 478


# ======================================================================= public API
def build_basis(identity: np.ndarray | None = None) -> np.ndarray:
    """The rig fields for a face: (31, 478, 3) float32 in canonical units, rows in RIG_NAMES order.

    ``identity`` is a (478, 3) neutral face in the canonical frame (default: the motion space's
    rest face, :func:`talkinghead.motion.shape.rest_identity`). Fields depend on its geometry
    (lid gap, lip curves).
    """
    if identity is None:
        return _rest_basis().copy()
    return _build(check_identity(identity)).astype(np.float32)


class Rig:
    """A face's rig: ``identity`` (478, 3) float64 and ``basis`` (31, 478, 3) float64 (canonical frame)."""

    def __init__(self, identity: np.ndarray | None = None, basis: np.ndarray | None = None):
        self.identity = rest_identity() if identity is None else check_identity(identity)
        if basis is None:
            basis = _rest_basis() if identity is None else _build(self.identity)
        basis = np.asarray(basis, dtype=np.float64)
        if basis.shape != (NUM_RIG, NUM_POINTS, 3):
            raise InvalidControlError(f"rig basis must have shape ({NUM_RIG}, {NUM_POINTS}, 3), got {basis.shape}")
        self.basis = basis

    def shapes(self, coefficients) -> np.ndarray:
        """Unposed faces: (T, 31) rig coefficients -> (T, 478, 3) = identity + sum_k c_k B_k."""
        c = np.asarray(coefficients, dtype=np.float64)
        if c.ndim != 2 or c.shape[1] != NUM_RIG or not np.isfinite(c).all():
            raise InvalidControlError(f"rig coefficients must be finite (frames, {NUM_RIG}), got shape {c.shape}")
        flat = c @ self.basis.reshape(NUM_RIG, -1)  # (T, 478 * 3)
        return self.identity + flat.reshape(-1, NUM_POINTS, 3)

    def landmarks(self, motion) -> np.ndarray:
        """(T, 37) motion (array or Motion) -> (T, 478, 3) posed landmarks in the canonical frame."""
        values = motion_array(motion)
        return apply_pose(self.shapes(values[:, RIG_SLICE]), values[:, :RIG_SLICE.start])

    def image_landmarks(self, motion, to_image) -> np.ndarray:
        """(T, 37) motion -> (T, 478, 2) pixel landmarks through the (2, 3) canonical->image ``to_image``."""
        return project(self.landmarks(motion), check_transform(to_image))

    def module(self, to_image, dtype: torch.dtype = torch.float32, device=None) -> RigModule:
        """A torch module computing :meth:`image_landmarks` (ONNX-exportable)."""
        return RigModule(self.identity, self.basis, to_image, dtype=dtype, device=device)


def landmarks(identity: np.ndarray | None, motion) -> np.ndarray:
    """(478, 3) identity (None = the rest face) + (T, 37) motion -> (T, 478, 3) posed canonical landmarks."""
    return Rig(identity).landmarks(motion)


def image_landmarks(identity: np.ndarray | None, motion, to_image) -> np.ndarray:
    """(478, 3) identity + (T, 37) motion + (2, 3) canonical->crop transform -> (T, 478, 2) crop pixels."""
    return Rig(identity).image_landmarks(motion, to_image)


class RigModule(torch.nn.Module):
    """Per-frame rig in torch: ``forward(motion (T, 37)) -> (T, 478, 2)`` image pixels.

    Holds the avatar's identity, basis and canonical->image transform as buffers; only
    matmul / sin / cos / stack, so it exports to ONNX with a dynamic frame axis.
    """

    def __init__(self, identity, basis, to_image, dtype: torch.dtype = torch.float32, device=None):
        super().__init__()
        identity = np.asarray(identity, np.float64)
        basis = np.asarray(basis, np.float64)
        self.register_buffer("identity", torch.as_tensor(identity.reshape(1, -1), dtype=dtype, device=device))
        self.register_buffer("basis", torch.as_tensor(basis.reshape(NUM_RIG, -1), dtype=dtype, device=device))
        self.register_buffer("to_image", torch.as_tensor(check_transform(to_image), dtype=dtype, device=device))

    def shapes(self, motion: torch.Tensor) -> torch.Tensor:
        """(T, 37) -> (T, 478, 3) unposed canonical landmarks."""
        flat = self.identity + torch.matmul(motion[:, RIG_SLICE], self.basis)  # (T, 478 * 3)
        return flat.reshape(-1, NUM_POINTS, 3)

    def posed(self, motion: torch.Tensor) -> torch.Tensor:
        """(T, 37) -> (T, 478, 3) posed canonical landmarks."""
        return apply_pose(self.shapes(motion), motion[:, :RIG_SLICE.start])

    def forward(self, motion: torch.Tensor) -> torch.Tensor:
        return project(self.posed(motion), self.to_image)  # (T, 478, 2)


# ======================================================================= validation
def motion_array(motion) -> np.ndarray:
    """A Motion or (T, 37) array -> (T, 37) float64, raising InvalidControlError on bad input."""
    values = getattr(motion, "values", motion)
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1 and values.shape[0] == MOTION_DIM:
        values = values[None]
    if values.ndim != 2 or values.shape[1] != MOTION_DIM:
        raise InvalidControlError(f"motion must have shape (frames, {MOTION_DIM}), got {values.shape}")
    if not np.isfinite(values).all():
        raise InvalidControlError("motion contains NaN/inf; every value must be finite")
    return values


def check_identity(identity) -> np.ndarray:
    """Validate a (478, 3) canonical-frame face; returns it as float64."""
    array = np.asarray(identity, dtype=np.float64)
    if array.shape != (NUM_POINTS, 3):
        raise InvalidControlError(f"identity must be ({NUM_POINTS}, 3) canonical-frame landmarks "
                                  f"(MediaPipe with refine_landmarks=True), got {array.shape}")
    if not np.isfinite(array).all():
        raise InvalidControlError("identity landmarks contain NaN/inf")
    return array


def check_transform(to_image) -> np.ndarray:
    """Validate a (2, 3) canonical->image affine transform; returns float64."""
    array = np.asarray(to_image, dtype=np.float64)
    if array.shape != (2, 3) or not np.isfinite(array).all():
        raise InvalidControlError(f"to_image must be a finite (2, 3) affine matrix, got shape {array.shape}")
    if abs(np.linalg.det(array[:, :2])) < 1e-12:
        raise InvalidControlError("to_image is singular (zero scale)")
    return array


# ======================================================================= mirror
@functools.lru_cache(maxsize=1)
def mirror_index() -> np.ndarray:
    """(478,) index of each landmark's left/right mirror partner (from the symmetric canonical face)."""
    from scipy.optimize import linear_sum_assignment

    points = canonical_landmarks()
    flipped = points * np.array([-1.0, 1.0, 1.0])
    cost = np.linalg.norm(points[:, None, :] - flipped[None, :, :], axis=-1)  # (478, 478)
    rows, cols = linear_sum_assignment(cost)
    index = np.empty(NUM_POINTS, dtype=np.int64)
    index[rows] = cols
    index.setflags(write=False)
    return index


def mirror_field(field: np.ndarray) -> np.ndarray:
    """Mirror a (..., 478, 3) field left<->right: swap partner points and negate x."""
    return field[..., mirror_index(), :] * np.array([-1.0, 1.0, 1.0])


def mirror_name(name: str) -> str:
    """``mouthSmileLeft`` <-> ``mouthSmileRight``; names without a side map to themselves."""
    for a, b in (("Left", "Right"), ("Right", "Left")):
        if name.endswith(a):
            return name[: -len(a)] + b
    return name


# ======================================================================= authoring
@functools.lru_cache(maxsize=1)
def _rest_basis() -> np.ndarray:
    basis = _build(rest_identity()).astype(np.float32)
    basis.setflags(write=False)
    return basis


def _build(points: np.ndarray) -> np.ndarray:
    """(31, 478, 3) float64 fields for ``points``; weights from the canonical face (see :mod:`.authoring`)."""
    return build_fields(points, canonical_landmarks(), RIG_NAMES)
