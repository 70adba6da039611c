"""Explicit motion space: named channels, the :class:`Motion` type, the rig and the fit.

* :mod:`.channels` — the (T, 37) layout: pose (6) | ARKit expression (29) | gaze (2).
* :mod:`.motion` — :class:`Motion` (npz / ARKit CSV / JSON).
* :mod:`.pose` — head pose and projection (canonical frame -> image pixels).
* :mod:`.rig` — displacement fields per channel; :class:`Rig`, :func:`landmarks`, :func:`image_landmarks`.
* :mod:`.fit` — ``fit`` landmarks -> motion (``same_face=True`` for a video of one unknown face),
  ``identity_from`` (a portrait's neutral face); import them
  from ``talkinghead.motion.fit`` (not re-exported here, so the module name stays unshadowed).
* :mod:`.shape` — the rest face and identity shape modes used when the face is unknown.
"""

from .channels import CHANNEL_NAMES, EXPRESSION_NAMES, GAZE_NAMES, MOTION_DIM, POSE_NAMES
from .motion import Motion
from .rig import RIG_NAMES, Rig, RigModule, build_basis, image_landmarks, landmarks
from .shape import rest_identity

__all__ = [
    "CHANNEL_NAMES", "EXPRESSION_NAMES", "GAZE_NAMES", "MOTION_DIM", "POSE_NAMES", "Motion", "RIG_NAMES", "Rig",
    "RigModule", "build_basis", "image_landmarks", "landmarks",
    "rest_identity",
]
