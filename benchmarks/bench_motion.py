"""Motion-space speed: fitting landmarks to motion, and the per-frame rig.

fit_ms_per_frame: median wall time of ``fit`` on 250 frames (10 s at 25 fps) of rig-generated
    landmarks with a known identity (the video path), divided by 250.
fit_unknown_face_ms: median wall time of ``fit`` on one portrait with the identity unknown (shape
    modes on), the one-off cost of registering a portrait.
identity_from_ms: median wall time of ``identity_from`` for that portrait.
rig_ms_per_frame: median wall time of the torch ``RigModule`` (motion -> 478 crop pixels) on a
    batch of 25 frames, divided by 25.
"""

from __future__ import annotations

import numpy as np

from benchmarks._timing import median_ms

FRAMES = 250
RIG_BATCH = 25


def _motion(frames: int) -> np.ndarray:
    from talkinghead.motion.channels import EXPRESSION_SLICE, NEUTRAL

    rng = np.random.default_rng(0)
    values = np.tile(np.asarray(NEUTRAL), (frames, 1))
    values[:, 0:3] = rng.uniform(-15, 15, (frames, 3))
    values[:, EXPRESSION_SLICE] = rng.uniform(0, 1, (frames, EXPRESSION_SLICE.stop - EXPRESSION_SLICE.start)) ** 4
    return values


def run(quick: bool) -> dict:
    import torch

    from talkinghead.motion.fit import fit, identity_from
    from talkinghead.motion.pose import similarity_matrix
    from talkinghead.motion.rig import Rig

    rig = Rig()
    to_image = similarity_matrix(102.4, (256.0, 230.0))  # a 512 px crop 5 IOD wide
    frames = FRAMES if not quick else 50
    values = _motion(frames)
    pixels = rig.image_landmarks(values, to_image)
    fit_ms = median_ms(lambda: fit(pixels, identity=rig.identity, to_image=to_image), repeats=2 if quick else 5)
    portrait = pixels[0]
    fitted = fit(portrait)
    portrait_ms = median_ms(lambda: fit(portrait), repeats=3 if quick else 10)
    identity_ms = median_ms(lambda: identity_from(portrait, fitted), repeats=3 if quick else 10)
    module = rig.module(to_image)
    batch = torch.from_numpy(values[:RIG_BATCH].astype(np.float32))
    with torch.inference_mode():
        rig_ms = median_ms(lambda: module(batch), repeats=10 if quick else 100, warmup=3)
    return {"fit_ms_per_frame": round(fit_ms / frames, 3), "fit_unknown_face_ms": round(portrait_ms, 2),
            "identity_from_ms": round(identity_ms, 2), "rig_ms_per_frame": round(rig_ms / RIG_BATCH, 4)}
