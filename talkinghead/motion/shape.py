"""The rest face and identity shape modes: what a fit of an *unknown* face may explain as identity.

A single portrait cannot tell a wide mouth from a stretched one, or a short upper lip from a raised
one. The rig's channels (:mod:`talkinghead.motion.rig`) describe expression; when the identity is
unknown, :func:`talkinghead.motion.fit.fit` also fits these **shape modes** — smooth changes of
facial proportion, each with a Gaussian prior of one unit — so that proportions a person is born
with are not reported as expression (and are not "neutralised" away when the portrait is driven).

:func:`rest_identity` is the face a motion of all zeros means: MediaPipe's canonical face
(:mod:`talkinghead.face.canonical`) with the systematic differences between that model and the
face mesh's output on relaxed faces taken out — the detected lid contours are about 1.5x as far
apart as the model's (0.16 vs 0.106 IOD), the lips are closed (the model's are 0.087 IOD apart),
the face oval is ~8 % narrower at the cheeks (2.2 vs 2.43 IOD) and the chin ~0.1 IOD higher (1.8
vs 1.9 IOD below the eyes). These numbers were measured on a handful of public portraits; the
shape modes and their priors absorb individual variation.

Frame and units as in the rig: canonical frame, 1 unit = inter-ocular distance (IOD). Each mode's
field is its displacement at one prior standard deviation.
"""

from __future__ import annotations

import functools

import numpy as np

from ..face.canonical import canonical_landmarks
from . import authoring as A

REST_EYE_OPENING = 1.5  # detected lid gap / canonical-model lid gap on relaxed faces
REST_FACE_WIDTH = -1.4  # faceWidth mode value that narrows the model's oval to detected faces'
REST_LOWER_FACE = -1.8  # lowerFaceLength mode value that raises the model's chin to detected faces'
SHAPE_NAMES = (
    "faceWidth", "lowerFaceLength", "mouthHeight", "mouthWidth", "upperLipThickness",
    "lowerLipThickness", "eyeOpening", "browHeight",
)
NUM_SHAPE = len(SHAPE_NAMES)
# Displacement at one standard deviation, IOD (or relative, where noted).
SHAPE_STD = {
    "faceWidth": 0.06,  # relative x scale of the sides (|x| > 0.5)
    "lowerFaceLength": 0.06,  # relative y scale below the nose base
    "mouthHeight": 0.04,  # mouth region shift, upwards
    "mouthWidth": 0.03,  # each corner, outwards
    "upperLipThickness": 0.025,  # upper vermilion border, upwards
    "lowerLipThickness": 0.025,  # lower vermilion border, downwards
    "eyeOpening": 0.25,  # relative lid gap
    "browHeight": 0.04,  # brows and forehead, upwards
}
NOSE_BASE_Y = 0.75  # canonical subnasale height; the lower face scales about it
MOUTH_REGION = {"centre_y": 1.1, "radius": (0.75, 0.45)}


def rest_identity() -> np.ndarray:
    """(478, 3) float64: the neutral face of the motion space (see the module docstring), a copy."""
    return _rest().copy()


def shape_basis(identity: np.ndarray) -> np.ndarray:
    """(8, 478, 3) shape-mode fields for a face in the canonical frame (SHAPE_NAMES order).

    Weights come from the canonical face, magnitudes from ``identity`` (as for the rig's fields).
    """
    geo = A.FaceGeometry(np.asarray(identity, dtype=np.float64), canonical_landmarks())
    return np.stack([_MODES[name](geo) for name in SHAPE_NAMES])


@functools.lru_cache(maxsize=1)
def _rest() -> np.ndarray:
    points = canonical_landmarks()
    geo = A.FaceGeometry(points)
    half = (REST_EYE_OPENING - 1.0) / 2.0
    for s in A.SIDES.values():
        points = points + A.lid_field(geo, s, -half, half, A.WIDE_SKIN_ABOVE)
    gap = np.maximum(geo.curves["inner_lower"].y_at(geo.x) - geo.curves["inner_upper"].y_at(geo.x), 0.0)
    points[:, 1] += 0.5 * gap * (geo.upper_lip - geo.lower_lip)  # lips meet half-way
    points = points + REST_FACE_WIDTH * _face_width(geo) + REST_LOWER_FACE * _lower_face_length(geo)
    points.setflags(write=False)
    return points


def _face_width(geo: A.FaceGeometry) -> np.ndarray:
    return A.field(dx=SHAPE_STD["faceWidth"] * geo.fx * A.smoothstep(0.5, 1.1, np.abs(geo.x)))


def _lower_face_length(geo: A.FaceGeometry) -> np.ndarray:
    below = np.maximum(geo.fy - NOSE_BASE_Y, 0.0)
    weight = A.smoothstep(0.0, 0.25, np.maximum(geo.y - NOSE_BASE_Y, 0.0))
    return A.field(dy=SHAPE_STD["lowerFaceLength"] * below * weight)


def _mouth_region(geo: A.FaceGeometry) -> np.ndarray:
    rx, ry = MOUTH_REGION["radius"]
    return A.bump(np.hypot(geo.x / rx, (geo.y - MOUTH_REGION["centre_y"]) / ry))


def _mouth_height(geo: A.FaceGeometry) -> np.ndarray:
    return A.field(dy=-SHAPE_STD["mouthHeight"] * _mouth_region(geo))


def _mouth_width(geo: A.FaceGeometry) -> np.ndarray:
    return A.field(dx=SHAPE_STD["mouthWidth"] * np.clip(geo.x / geo.mouth_half, -1.5, 1.5) * _mouth_region(geo))


def _lip_thickness(geo: A.FaceGeometry, lower: bool) -> np.ndarray:
    """Move one lip's outer (vermilion) border away from its inner border; the inner border stays."""
    inner = geo.ref_curves["inner_lower" if lower else "inner_upper"].y_at(geo.x)
    outer = geo.ref_curves["outer_lower" if lower else "outer_upper"].y_at(geo.x)
    depth = np.clip(np.abs(geo.y - inner) / np.maximum(np.abs(outer - inner), 1e-3), 0.0, 1.0)
    if lower:
        return A.field(dy=SHAPE_STD["lowerLipThickness"] * depth * geo.lower_lip)
    return A.field(dy=-SHAPE_STD["upperLipThickness"] * depth * geo.upper_lip)


def _eye_opening(geo: A.FaceGeometry) -> np.ndarray:
    half = SHAPE_STD["eyeOpening"] / 2.0
    return sum(A.lid_field(geo, s, -half, half, A.WIDE_SKIN_ABOVE) for s in A.SIDES.values())


def _brow_height(geo: A.FaceGeometry) -> np.ndarray:
    return A.field(dy=-SHAPE_STD["browHeight"] * A.brow_weight(geo, A.BROW["forehead_reach"]))


_MODES = {
    "faceWidth": _face_width,
    "lowerFaceLength": _lower_face_length,
    "mouthHeight": _mouth_height,
    "mouthWidth": _mouth_width,
    "upperLipThickness": lambda geo: _lip_thickness(geo, lower=False),
    "lowerLipThickness": lambda geo: _lip_thickness(geo, lower=True),
    "eyeOpening": _eye_opening,
    "browHeight": _brow_height,
}
