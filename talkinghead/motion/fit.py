"""Fit motion to observed landmarks: pose by rigid alignment, expression by bounded least squares.

Model (see :mod:`talkinghead.motion.rig` and :mod:`talkinghead.motion.pose`)::

    pixels_t = to_image( apply_pose( identity + sum_k c_tk B_k [+ sum_j m_tj S_j] , pose_t ) )

Per frame, alternately (``iterations`` times, batched over frames in numpy float64):

1. **Pose**: a weak-perspective similarity ``pixels ~ s * O @ X + t`` (O = the first two rows of
   a rotation) of the current face estimate ``X`` to the observed points, weighted by MediaPipe's
   rigid Procrustes landmarks (:data:`talkinghead.face.landmarks.POSE_WEIGHTS`) damped where the
   rig moves them; closed form (weighted affine fit, then the nearest rotation). With observed
   depth the rotation's third row is fitted too (:data:`DEPTH_WEIGHT`).
2. **Expression**: the rig coefficients under that pose, by box-constrained least squares
   (expression in [0, 1], gaze in [-1, 1]) with landmark-group weights (mouth 3, eyes, irises and
   brows 2, face oval 0.3, the rest 1), solved exactly by a batched projected-Newton method.

Known face (``identity`` given — a video of a registered avatar, rig-generated landmarks): only
the rig's channels are fitted, with a negligible ridge, so rig-made landmarks are recovered exactly.
Unknown face (``identity=None``): the face starts as the rest face
(:func:`~talkinghead.motion.shape.rest_identity`) and identity **shape modes** ``S_j`` are fitted
too, unbounded, under unit Gaussian priors, with the expression channels under a Gaussian prior
of std :data:`EXPRESSION_PRIOR_STD`, both weighed against a landmark misfit of
:data:`LANDMARK_NOISE` IOD. Proportions then go to the identity rather than to expression; the
price is that expression values shrink towards 0 (a rig-made smile of 0.7 reads ~0.35).

One frame of an unknown face is ambiguous: a pucker looks like a narrow, full-lipped mouth, raised
brows like high brows, and on a smiling face "less smile" explains a narrowing mouth as well as a
pucker does, so frame by frame such channels read as 0. Unknown face, many frames of it
(``same_face=True``, :func:`fit_same_face` — a video): the face is estimated once from the whole
sequence and every frame is fitted against it, so changes between frames are read in full (at
rest each channel keeps what a single photo shows).

Observed depth (MediaPipe's z, third column) informs the pose only, as a third row of the
affine fit (see :func:`weak_perspective_fit`); the expression is fitted to x, y alone. The pose
is returned relative to a canonical->image similarity ``to_image`` (given, e.g. the avatar's
own, or chosen from the data: median scale, no rotation, median head position). With ``identity``
from :func:`identity_from`, ``Rig(identity).image_landmarks(result.motion(), result.to_image)``
reproduces the input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidControlError
from ..face import landmarks as L
from ..timing import FPS
from .channels import EXPRESSION_RANGE, EXPRESSION_NAMES, GAZE_NAMES, GAZE_RANGE
from .motion import Motion
from .pose import FACE_SIZE, HEAD_PIVOT, rotation_matrix, rotation_to_angles
from .rig import NUM_POINTS, NUM_RIG, Rig, build_basis, check_transform
from .shape import NUM_SHAPE, shape_basis

GROUP_WEIGHTS = {  # landmark group -> weight in the expression fit (others 1)
    "mouth": (L.LIPS_OUTER + L.LIPS_INNER, 3.0),
    "eyes": (L.LEFT_EYE + L.RIGHT_EYE, 2.0),
    "irises": (L.IRIS_POINTS, 2.0),
    "brows": (L.LEFT_EYEBROW + L.RIGHT_EYEBROW, 2.0),
    "face_oval": (L.FACE_OVAL, 0.3),  # mostly identity (jaw shape, cheeks, hairline)
}
RIGID_MOTION_SCALE = 0.03  # IOD; a pose landmark the rig moves by this much counts half in the pose fit
# Weight of the observed depth row against the x and y rows when the pose's rotation is taken from
# the affine fit (1: all three coordinates alike, as face.pose and MediaPipe's own face-geometry
# Procrustes treat its 3-D landmarks). x, y alone fix yaw and roll well but pitch only weakly: a
# nodding head moves its points vertically by depth * sin(pitch), which on a face of unknown
# proportions is confounded with a longer nose or a lower forehead, while MediaPipe's z changes by
# height * sin(pitch) with a 3x longer lever (forehead to chin).
DEPTH_WEIGHT = 1.0
DEFAULT_ITERATIONS = 4  # pose <-> expression alternations
NEWTON_STEPS = 30  # projected-Newton iterations per expression solve (few are used when warm)
LINE_SEARCH_STEPS = 12  # step sizes 1, 1/2, ... 1/2048
ARMIJO = 1e-4  # sufficient-decrease constant of the line search
BOUND_TOL = 1e-9  # a coefficient this close to a bound counts as on it
OPTIMALITY_TOL = 1e-10  # stop when the free gradient is this small relative to |h|
DEFAULT_RIDGE = 1e-6  # Tikhonov weight relative to the mean curvature; keeps antagonists determined
# With shape modes (unknown face): landmark misfit, IOD, against which the priors are weighed, and
# the expression channels' prior std (shape modes have std 1 by construction).
LANDMARK_NOISE = 0.01
EXPRESSION_PRIOR_STD = 0.6
# fit_same_face: a channel's rest in a sequence is this percentile of its values (robust to a few noisy frames).
REST_PERCENTILE = 5.0
# ... and the bounds of its frame-to-frame changes against the mean face: a frame's value (in [0, 1]) minus
# the frames' mean misreading by the per-frame fits (each in [-1, 1]) lies in [-1, 2].
CHANGE_RANGE = (-1.0, 2.0)
# ... and the std of its prior there (landmark-noise units as EXPRESSION_PRIOR_STD): 5x wider, so a
# change is read nearly in full (a rig-made 1.0 reads ~0.9) while MediaPipe's noise is damped.
CHANGE_PRIOR_STD = 3.0


@dataclass
class FitResult:
    """Fitted motion of T frames (numpy float64 arrays).

    pose: (T, 6) yaw, pitch, roll (degrees), tx, ty (face sizes), scale — relative to ``to_image``.
    expression: (T, 29) ARKit channels in [0, 1]; gaze: (T, 2) in [-1, 1].
    shape: (T, 8) identity shape-mode values (:data:`~talkinghead.motion.shape.SHAPE_NAMES`, in prior
        standard deviations); zeros when the identity was given.
    to_image: (2, 3) canonical->image similarity the pose refers to.
    identity: (478, 3) the neutral face the fit started from (canonical frame); basis: its (31, 478, 3) rig.
    residual: (T,) root-mean-square landmark error in pixels (all 478 points, unweighted).
    """

    pose: np.ndarray
    expression: np.ndarray
    gaze: np.ndarray
    shape: np.ndarray
    to_image: np.ndarray
    identity: np.ndarray
    basis: np.ndarray
    residual: np.ndarray

    @property
    def channels(self) -> np.ndarray:
        """(T, 31) rig coefficients: expression then gaze."""
        return np.concatenate([self.expression, self.gaze], axis=1)

    def motion(self, fps: float = FPS) -> Motion:
        """The fit as a :class:`Motion` (T, 37)."""
        return Motion(np.concatenate([self.pose, self.expression, self.gaze], axis=1), fps)

    def rig(self) -> Rig:
        """The rig the fit used (its identity does not include the fitted shape modes)."""
        return Rig(self.identity, self.basis)


def fit(landmarks, identity: np.ndarray | None = None, to_image=None, *, basis: np.ndarray | None = None,
        shape_modes: bool | None = None, same_face: bool = False, iterations: int = DEFAULT_ITERATIONS,
        ridge: float = DEFAULT_RIDGE) -> FitResult:
    """Fit pose + expression + gaze to (T, 478, 2|3) or (478, 2|3) landmarks in image/crop pixels.

    A third column is observed depth (MediaPipe's z: smaller is nearer, any unit and origin); it
    steadies the head's rotation, pitch above all (:data:`DEPTH_WEIGHT`). Pass only x, y to ignore it.

    identity: (478, 3) neutral face in the canonical frame; default the motion space's rest face
    (:func:`~talkinghead.motion.shape.rest_identity`). basis: its rig (default: built for it).
    to_image: the (2, 3) canonical->image similarity the pose is expressed against (default: chosen
    from the data, see the module docstring). shape_modes: also fit identity shape modes per frame
    under their priors (default: only when ``identity`` is None, i.e. the face is unknown).
    same_face: the frames show one unknown face (a video): its identity is estimated from the whole
    sequence (:func:`fit_same_face`) instead of frame by frame. Ignored when ``identity`` is given.
    """
    if same_face and identity is None:
        return fit_same_face(landmarks, to_image, basis=basis, iterations=iterations, ridge=ridge)
    return _fit(_check_landmarks(landmarks), identity, to_image, basis, shape_modes, iterations, ridge)


def _fit(q, identity, to_image, basis, shape_modes, iterations, ridge, *, signed: bool = False,
         centre: np.ndarray | None = None, prior_std: float = EXPRESSION_PRIOR_STD) -> FitResult:
    """:func:`fit` on checked (T, 478, 2|3) landmarks.

    signed: expression within :data:`CHANGE_RANGE` instead of [0, 1]. centre: (31,) rig coefficients
    the channels' Gaussian prior (std ``prior_std``) pulls towards; default 0 for an unknown face and
    no channel prior for a known one.
    """
    rig = Rig(identity, basis)
    use_shape = identity is None if shape_modes is None else bool(shape_modes)
    if centre is None and identity is None:
        centre = np.zeros(NUM_RIG)
    F, prior, mean, lo, hi = _fit_basis(rig, use_shape, centre, prior_std)  # (K, 478, 3), (K,) x 4
    if signed:
        expression = np.arange(len(lo)) < len(EXPRESSION_NAMES)
        lo, hi = np.where(expression, CHANGE_RANGE[0], lo), np.where(expression, CHANGE_RANGE[1], hi)
    X0 = rig.identity  # (478, 3)
    w_pose, w_expr = _weights(rig.basis)
    H = np.einsum("kna,lnb->klab", F * w_expr[None, :, None], F)  # (K, K, 3, 3), frame-independent
    xy = q[..., :2]  # (T, 478, 2)
    coeffs = np.zeros((q.shape[0], len(F)))
    for _ in range(max(1, int(iterations))):
        s, O, t = weak_perspective_fit(X0 + np.einsum("tk,knd->tnd", coeffs, F), q, w_pose)
        coeffs = _solve_coefficients(xy, X0, F, H, s, O, t, w_expr, lo, hi, prior, mean, ridge, coeffs)
    face = X0 + np.einsum("tk,knd->tnd", coeffs, F)  # (T, 478, 3)
    s, O, t = weak_perspective_fit(face, q, w_pose)
    model = s[:, None, None] * np.matmul(face, O.transpose(0, 2, 1)) + t[:, None, :]
    residual = np.sqrt(((model - xy) ** 2).sum(-1).mean(-1))
    A = _reference_transform(s, O, t) if to_image is None else _check_similarity(to_image)
    pose = _pose_from_similarity(s, O, t, A)
    n_expr = len(EXPRESSION_NAMES)
    shape_values = coeffs[:, NUM_RIG:] if use_shape else np.zeros((len(q), NUM_SHAPE))
    return FitResult(pose=pose, expression=coeffs[:, :n_expr], gaze=coeffs[:, n_expr:NUM_RIG],
                     shape=shape_values, to_image=A, identity=rig.identity, basis=rig.basis, residual=residual)


def _fit_basis(rig: Rig, use_shape: bool, centre: np.ndarray | None, std: float):
    """Fields, prior precisions (per unit of landmark noise), prior means and bounds of the fitted
    coefficients: the rig's channels (a prior around ``centre`` unless it is None), then the shape modes."""
    lo, hi = _bounds()
    prior = np.full(NUM_RIG, 0.0 if centre is None else 1.0 / std ** 2)
    mean = np.zeros(NUM_RIG) if centre is None else np.asarray(centre, np.float64)
    if not use_shape:
        return rig.basis, prior, mean, lo, hi
    fields = np.concatenate([rig.basis, shape_basis(rig.identity)])  # (31 + 8, 478, 3)
    return (fields, np.concatenate([prior, np.ones(NUM_SHAPE)]), np.concatenate([mean, np.zeros(NUM_SHAPE)]),
            np.concatenate([lo, np.full(NUM_SHAPE, -np.inf)]), np.concatenate([hi, np.full(NUM_SHAPE, np.inf)]))


def fit_same_face(landmarks, to_image=None, *, basis: np.ndarray | None = None,
                  iterations: int = DEFAULT_ITERATIONS, ridge: float = DEFAULT_RIDGE) -> FitResult:
    """Fit T frames of one unknown face (a video): identity from the whole sequence, expression relative to it.

    A single frame cannot tell identity from expression: a pucker looks like a narrow, full-lipped
    mouth (shape modes ``mouthWidth``, ``*LipThickness``), raised brows like high brows
    (``browHeight``), and on a smiling face "less smile" explains a narrowing mouth as cheaply as a
    pucker does. Over a sequence the face stays the same, so every change between frames is
    expression. Steps:

    1. each frame as a portrait (:func:`fit` of an unknown face), its neutral face by
       :func:`identity_from`; their mean is the sequence's face;
    2. every frame against that face with signed expression (within :data:`CHANGE_RANGE`): the
       frame-to-frame changes ``d`` (T, 29);
    3. each channel's rest is its :data:`REST_PERCENTILE` percentile of ``d`` over the frames; at
       rest a channel keeps the value the per-frame fits read there (what a single photo shows),
       lowered where needed so that rest + the sequence's range stays within [0, 1];
    4. the face is moved to that rest and every frame fitted against it (a known face).

    Steps 2 and 4 hold the channels to a weak Gaussian prior (std :data:`CHANGE_PRIOR_STD`, around
    the mean face's values in 2, the rest in 4): real landmarks (MediaPipe on video) do not follow
    the rig exactly, and without it nearly collinear lip channels would trade large opposite values.

    A single frame (T = 1) gets the per-frame fit's values. Rig-generated landmarks of one face
    (a registered avatar driven by motion) are recovered up to a per-channel constant.
    Returns a :class:`FitResult` whose ``identity`` is the sequence's rest face (shape modes zero).
    """
    q = _check_landmarks(landmarks)  # (T, 478, 2|3)
    single = _fit(q, None, to_image, basis, None, iterations, ridge)
    face = identity_from(q, single, iterations=0).mean(axis=0)  # (478, 3)
    n_expr = len(EXPRESSION_NAMES)
    mean = single.channels.mean(axis=0)  # (31,) the mean observed face's coefficients on that face
    change = _fit(q, face, single.to_image, single.basis, False, iterations, ridge, signed=True,
                  centre=mean, prior_std=CHANGE_PRIOR_STD).expression  # (T, 29)
    lo, hi = EXPRESSION_RANGE
    rest = np.percentile(change, REST_PERCENTILE, axis=0)  # (29,)
    room = np.maximum(hi - (change - rest).max(axis=0), lo)  # (29,) largest rest value the range allows
    level = np.minimum(np.percentile(single.expression, REST_PERCENTILE, axis=0), room)  # (29,)
    shift = np.zeros(NUM_RIG)
    shift[:n_expr] = rest - level
    face = face + np.tensordot(shift, single.basis, axes=1)  # the rest face of the sequence
    centre = np.concatenate([level, mean[n_expr:]])  # (31,) the rest's channels, the mean gaze
    return _fit(q, face, single.to_image, single.basis, False, iterations, ridge, centre=centre,
                prior_std=CHANGE_PRIOR_STD)


def identity_from(landmarks, fitted: FitResult, iterations: int = 3) -> np.ndarray:
    """The neutral face behind observed landmarks: their own fitted expression (and gaze) removed.

    landmarks: (478, 2|3) or (T, 478, 2|3) pixels, as given to :func:`fit`; ``fitted`` its result.
    Returns (478, 3) or (T, 478, 3) in the canonical frame. x, y come from the observation, depth
    from the fitted model. The rig is rebuilt for the new face a few times (fixed point), so that
    ``Rig(identity).image_landmarks(fitted.motion(), fitted.to_image)`` reproduces the observation.
    An open-mouthed or smiling portrait thus yields a closed, neutral face (as far as the rig's
    channels explain its expression; a fully closed eye cannot be opened from one photo).
    """
    points = _check_landmarks(landmarks)[..., :2]  # (T, 478, 2)
    coeffs = fitted.channels  # (T, 31)
    if coeffs.shape[0] != points.shape[0]:
        raise InvalidControlError(f"fit has {coeffs.shape[0]} frames but landmarks have {points.shape[0]}")
    unposed = _unpose(points, fitted)  # (T, 478, 3): identity + c B in the canonical frame
    identity = unposed - np.einsum("tk,knd->tnd", coeffs, fitted.basis)
    for _ in range(iterations):
        bases = [build_basis(face).astype(np.float64) for face in identity]
        identity = unposed - np.stack([c @ b.reshape(NUM_RIG, -1) for c, b in zip(coeffs, bases)]).reshape(
            unposed.shape)
    squeeze = np.asarray(landmarks).ndim == 2
    return identity[0] if squeeze else identity


# ======================================================================= pose
def weak_perspective_fit(shape: np.ndarray, q: np.ndarray, w: np.ndarray, depth_weight: float = DEPTH_WEIGHT):
    """Weighted ``q ~ s O X + t`` for (T, N, 3) model points X and (T, N, 2|3) observations.

    A weighted affine fit of the observed coordinates to X, then the rotation nearest to its rows
    (the polar factor of the rows weighted by ``[1, 1, depth_weight ** 2]``). Observed depth (a
    third column) enters only through the rotation: its row is rescaled to the x, y rows' scale (the
    median ratio over the frames, so depth in any unit works) and its offset is ignored. A depth
    column that does not vary (2-D points padded with zeros) is ignored.
    Returns s (T,), O (T, 2, 3) orthonormal rows (the first two rows of a rotation), t (T, 2).
    """
    wn = (w / w.sum())[None, :, None]  # (1, N, 1)
    mx, mq = (shape * wn).sum(1), (q * wn).sum(1)  # (T, 3), (T, 2|3)
    xc, qc = shape - mx[:, None], q - mq[:, None]
    cov_xx = np.matmul((xc * wn).transpose(0, 2, 1), xc)  # (T, 3, 3)
    cov_qx = np.matmul((qc * wn).transpose(0, 2, 1), xc)  # (T, 2|3, 3)
    M = np.linalg.solve(cov_xx, cov_qx.transpose(0, 2, 1)).transpose(0, 2, 1)  # (T, 2|3, 3) affine rows
    U, S, Vh = np.linalg.svd(M[:, :2], full_matrices=False)  # (T, 2, 2), (T, 2), (T, 2, 3)
    O = np.matmul(U, Vh)  # nearest orthonormal rows to x, y alone
    depth = M[:, 2] if M.shape[1] == 3 else None  # (T, 3)
    if depth is not None and depth_weight > 0 and np.ptp(q[..., 2]) > 1e-6 * np.ptp(q[..., :2]):
        norms = np.linalg.norm(depth, axis=1)  # (T,)
        depth_scale = float(np.median(norms / S.mean(axis=1)))  # observed depth units per x, y unit
        rows = np.concatenate([M[:, :2], (depth_weight ** 2 / depth_scale) * depth[:, None]], axis=1)  # (T, 3, 3)
        u, _, vh = np.linalg.svd(rows)
        flip = np.sign(np.linalg.det(np.matmul(u, vh)))  # (T,) keep a proper rotation
        u[:, :, 2] *= flip[:, None]
        O = np.matmul(u, vh)[:, :2]
    proj = np.matmul(xc, O.transpose(0, 2, 1))  # (T, N, 2)
    qc, mq = qc[..., :2], mq[:, :2]
    s = (proj * qc * wn).sum((1, 2)) / (proj * proj * wn).sum((1, 2))
    t = mq - s[:, None] * np.matmul(O, mx[:, :, None])[..., 0]
    return s, O, t


def _rotation_from_rows(O: np.ndarray) -> np.ndarray:
    """(T, 2, 3) orthonormal rows -> (T, 3, 3) proper rotations (third row = cross product)."""
    return np.concatenate([O, np.cross(O[:, 0], O[:, 1])[:, None, :]], axis=1)


def _reference_transform(s, O, t) -> np.ndarray:
    """No rotation, median scale, head pivot at its median image position (so median tx = ty = 0)."""
    pivot = np.asarray(HEAD_PIVOT)
    scale = float(np.median(s))
    pivot_image = t + s[:, None] * (O @ pivot)  # (T, 2) where the pivot lands in each frame
    offset = np.median(pivot_image, axis=0) - scale * pivot[:2]
    return np.array([[scale, 0.0, offset[0]], [0.0, scale, offset[1]]])


def _pose_from_similarity(s, O, t, A) -> np.ndarray:
    """Per-frame similarity (s, O, t) -> (T, 6) pose relative to the canonical->image similarity A."""
    A2, a = A[:, :2], A[:, 2]
    scale_a = math.sqrt(abs(np.linalg.det(A2)))
    phi = math.atan2(A2[1, 0], A2[0, 0])
    Qz = np.array([[math.cos(phi), -math.sin(phi), 0.0], [math.sin(phi), math.cos(phi), 0.0], [0.0, 0.0, 1.0]])
    R = Qz.T @ _rotation_from_rows(O)  # (T, 3, 3): A's own rotation taken out
    angles = rotation_to_angles(R)  # (T, 3)
    scale = s / scale_a
    pivot = np.asarray(HEAD_PIVOT)
    posed_t = np.linalg.solve(A2, (t - a).T).T  # (T, 2) translation in the posed frame
    txy = (posed_t + scale[:, None] * (R @ pivot)[:, :2] - pivot[:2]) / FACE_SIZE
    return np.concatenate([angles, txy, scale[:, None]], axis=1)


def _unpose(points: np.ndarray, fitted: FitResult) -> np.ndarray:
    """Observed pixels -> canonical frame, depth taken from the fitted model. (T, 478, 3)."""
    rig = fitted.rig()
    motion = fitted.motion().values.astype(np.float64)
    posed = rig.landmarks(motion)  # (T, 478, 3) model in the posed frame
    A = fitted.to_image
    xy = np.linalg.solve(A[:, :2], (points - A[:, 2]).reshape(-1, 2).T).T.reshape(points.shape)
    lifted = np.concatenate([xy, posed[..., 2:]], axis=-1)
    pose = fitted.pose
    R = rotation_matrix(pose[:, :3])  # (T, 3, 3)
    pivot = np.asarray(HEAD_PIVOT)
    shift = np.concatenate([pose[:, 3:5] * FACE_SIZE, np.zeros((len(pose), 1))], axis=1)
    local = (lifted - pivot - shift[:, None, :]) / pose[:, 5, None, None]
    return np.einsum("tnj,tjk->tnk", local, R) + pivot  # R^T applied to row vectors


# ======================================================================= expression
def _weights(basis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(478,) pose weights (rigid Procrustes landmarks, damped where the rig moves them) and expression weights."""
    motion = np.abs(basis[: len(EXPRESSION_NAMES)]).max(axis=(0, 2))  # (478,) largest displacement
    w_pose = np.zeros(NUM_POINTS)
    w_pose[list(L.POSE_LANDMARKS)] = L.POSE_WEIGHTS
    w_pose /= 1.0 + (motion / RIGID_MOTION_SCALE) ** 2
    w_expr = np.ones(NUM_POINTS)
    for group, weight in GROUP_WEIGHTS.values():
        w_expr[list(group)] = weight
    return w_pose, w_expr


def _bounds() -> tuple[np.ndarray, np.ndarray]:
    n_expr, n_gaze = len(EXPRESSION_NAMES), len(GAZE_NAMES)
    lo = np.array([EXPRESSION_RANGE[0]] * n_expr + [GAZE_RANGE[0]] * n_gaze)
    hi = np.array([EXPRESSION_RANGE[1]] * n_expr + [GAZE_RANGE[1]] * n_gaze)
    return lo, hi


def _matvec(G: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.matmul(G, x[:, :, None])[..., 0]


def _solve_coefficients(q, X0, F, H, s, O, t, w, lo, hi, prior, mean, ridge, start):
    """Normal equations of the weighted linear model under the pose (+ priors), then the bounded solve.

    The data term is sum_n w_n |residual_n|^2 in pixels; a prior precision p_k around mean m_k adds
    p_k (s * LANDMARK_NOISE)^2 sum_n w_n (c_k - m_k)^2, i.e. c_k has prior std 1/sqrt(p_k) in units
    where the landmarks are off by LANDMARK_NOISE IOD each.
    """
    P = np.matmul(O.transpose(0, 2, 1), O)  # (T, 3, 3) projector onto the image plane
    G = (s ** 2)[:, None, None] * np.einsum("tab,klab->tkl", P, H)  # (T, K, K)
    base = s[:, None, None] * np.matmul(X0, O.transpose(0, 2, 1)) + t[:, None, :]  # (T, N, 2)
    back = np.matmul(q - base, O)  # (T, N, 3): residual lifted through O^T
    h = s[:, None] * np.einsum("kna,tna->tk", F * w[None, :, None], back)  # (T, K)
    diag = np.diagonal(G, axis1=1, axis2=2)
    noise = (s * LANDMARK_NOISE) ** 2 * w.sum()  # (T,)
    G = G + (ridge * diag.mean(1))[:, None, None] * np.eye(G.shape[1])
    G = G + noise[:, None, None] * np.diag(prior)[None]
    h = h + noise[:, None] * (prior * mean)[None]
    return bounded_least_squares(G, h, lo, hi, start)


def bounded_least_squares(G: np.ndarray, h: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                          start: np.ndarray | None = None, max_steps: int = NEWTON_STEPS) -> np.ndarray:
    """Minimise ``0.5 c^T G c - h^T c`` subject to ``lo <= c <= hi``, batched: G (T, K, K), h (T, K) -> (T, K).

    Projected Newton (Bertsekas 1982): coefficients at a bound whose gradient pushes outwards are
    held; a Newton step on the others; a projected backtracking line search (Armijo). Exact for a
    convex QP once the active set is found, which takes a few steps from a warm ``start``.
    """
    x = np.clip(np.zeros_like(h) if start is None else start, lo, hi)
    eye = np.eye(G.shape[1])
    alphas = 0.5 ** np.arange(LINE_SEARCH_STEPS)  # (S,)
    for _ in range(max_steps):
        grad = _matvec(G, x) - h  # (T, K)
        held = ((x <= lo + BOUND_TOL) & (grad > 0)) | ((x >= hi - BOUND_TOL) & (grad < 0))
        free = (~held).astype(G.dtype)
        projected = np.abs(grad * free).max(1)  # optimality measure, (T,)
        active = projected > OPTIMALITY_TOL * (np.abs(h).max(1) + 1e-12)
        if not active.any():
            break
        M = G * free[:, :, None] * free[:, None, :] + (1.0 - free)[:, :, None] * eye
        step = np.linalg.solve(M, -(grad * free)[:, :, None])[..., 0]  # (T, K)
        trial = np.clip(x[:, None, :] + alphas[None, :, None] * step[:, None, :], lo, hi)  # (T, S, K)
        change = trial - x[:, None, :]
        slope = np.einsum("tsk,tk->ts", change, grad)
        gain = 0.5 * np.einsum("tsk,tkl,tsl->ts", change, G, change) + slope
        ok = gain <= ARMIJO * slope  # sufficient decrease
        first = np.where(ok.any(1), ok.argmax(1), len(alphas) - 1)
        chosen = trial[np.arange(len(x)), first]
        x = np.where(active[:, None], chosen, x)
    return x


# ======================================================================= validation
def _check_landmarks(landmarks) -> np.ndarray:
    array = np.asarray(landmarks, dtype=np.float64)
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3 or array.shape[1] != NUM_POINTS or array.shape[2] not in (2, 3) or array.shape[0] == 0:
        raise InvalidControlError(f"landmarks must be ({NUM_POINTS}, 2|3) or (T, {NUM_POINTS}, 2|3) pixels "
                                  f"(MediaPipe with refine_landmarks=True), got {np.shape(landmarks)}")
    if not np.isfinite(array).all():
        raise InvalidControlError("landmarks contain NaN/inf; drop frames where no face was found")
    return array


def _check_similarity(to_image) -> np.ndarray:
    A = check_transform(to_image)
    A2 = A[:, :2]
    if np.linalg.det(A2) <= 0 or not np.allclose(A2.T @ A2, np.eye(2) * np.linalg.det(A2), atol=1e-6 * abs(A2).max()):
        raise InvalidControlError("to_image must be a similarity (rotation, uniform scale, translation; no mirror)")
    return A
