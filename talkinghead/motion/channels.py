"""The motion layout: one documented vector per video frame.

A frame of motion is ``MOTION_DIM`` floats laid out as::

    [ pose (6) | expression (29) | gaze (2) ]

* pose: ``yaw, pitch, roll`` in degrees (right-handed, camera looking at the face:
  positive yaw turns the face towards the image's left, positive pitch nods down,
  positive roll tilts clockwise in the image; applied as ``R = Rz(roll) Ry(yaw) Rx(pitch)``
  about the head pivot, see :mod:`talkinghead.motion.pose`); ``tx, ty`` translation of the
  head pivot in units of face size (inter-ocular distance * :data:`FACE_SIZE_PER_IOD`,
  x to the image's right, y down); ``scale`` relative to the reference transform (the
  source portrait's own size: 1 = unchanged).
* expression: ARKit blendshape names, each in ``[0, 1]`` (0 = rest, 1 = full).
  ``Left``/``Right`` are the *subject's* left/right (as in ARKit), i.e. ``...Left``
  moves the side that appears on the image's right.
* gaze: ``gazeX, gazeY`` in ``[-1, 1]`` (x to the image's right, y down); at 1 the irises move
  0.45 / 0.30 eye half-widths (about 28 / 18 degrees of eye rotation); exported to ARKit as the
  eight ``eyeLook*`` channels in ``[0, 1]`` (:mod:`talkinghead.motion.motion`).
"""

from __future__ import annotations

POSE_NAMES = ("yaw", "pitch", "roll", "tx", "ty", "scale")

EXPRESSION_NAMES = (
    "jawOpen",
    "mouthClose",
    "mouthFunnel",
    "mouthPucker",
    "mouthStretchLeft",
    "mouthStretchRight",
    "mouthSmileLeft",
    "mouthSmileRight",
    "mouthFrownLeft",
    "mouthFrownRight",
    "mouthUpperUpLeft",
    "mouthUpperUpRight",
    "mouthLowerDownLeft",
    "mouthLowerDownRight",
    "mouthRollLower",
    "mouthRollUpper",
    "mouthPressLeft",
    "mouthPressRight",
    "eyeBlinkLeft",
    "eyeBlinkRight",
    "eyeWideLeft",
    "eyeWideRight",
    "browInnerUp",
    "browDownLeft",
    "browDownRight",
    "browOuterUpLeft",
    "browOuterUpRight",
    "cheekSquintLeft",
    "cheekSquintRight",
)

GAZE_NAMES = ("gazeX", "gazeY")

CHANNEL_NAMES = POSE_NAMES + EXPRESSION_NAMES + GAZE_NAMES
MOTION_DIM = len(CHANNEL_NAMES)  # 6 + 29 + 2 = 37

POSE_SLICE = slice(0, len(POSE_NAMES))  # columns 0..5
EXPRESSION_SLICE = slice(POSE_SLICE.stop, POSE_SLICE.stop + len(EXPRESSION_NAMES))  # 6..34
GAZE_SLICE = slice(EXPRESSION_SLICE.stop, MOTION_DIM)  # 35..36

CHANNEL_INDEX = {name: i for i, name in enumerate(CHANNEL_NAMES)}

# Face size in inter-ocular distances (eye-centre to eye-centre), the unit of tx/ty:
# forehead top (landmark 10) to chin (152) of MediaPipe's canonical face is 2.795 IOD.
FACE_SIZE_PER_IOD = 2.8

# Value ranges per column (lo, hi); pose ranges are what the renderer supports, not hard limits of a head.
POSE_RANGES = {"yaw": (-45.0, 45.0), "pitch": (-30.0, 30.0), "roll": (-30.0, 30.0),
               "tx": (-0.5, 0.5), "ty": (-0.5, 0.5), "scale": (0.7, 1.4)}
EXPRESSION_RANGE = (0.0, 1.0)
GAZE_RANGE = (-1.0, 1.0)

# The rest pose: frontal, centred, unscaled, neutral face, looking ahead.
NEUTRAL = tuple(1.0 if n == "scale" else 0.0 for n in CHANNEL_NAMES)

# Groups used by controls and metrics.
MOUTH_CHANNELS = tuple(n for n in EXPRESSION_NAMES if n.startswith(("jaw", "mouth")))
EYE_CHANNELS = tuple(n for n in EXPRESSION_NAMES if n.startswith("eye"))
BROW_CHANNELS = tuple(n for n in EXPRESSION_NAMES if n.startswith("brow"))


def channel_range(name: str) -> tuple[float, float]:
    """The documented value range of channel ``name``."""
    if name in POSE_RANGES:
        return POSE_RANGES[name]
    if name in GAZE_NAMES:
        return GAZE_RANGE
    if name in EXPRESSION_NAMES:
        return EXPRESSION_RANGE
    raise KeyError(f"unknown motion channel {name!r}; known channels: {', '.join(CHANNEL_NAMES)}")
