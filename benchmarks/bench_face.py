"""Face pipeline speed: one-off registration of a ~1 MP portrait, per-frame paste-back.

face_register_ms: median wall time of ``register_face`` (load, detect + 478 landmarks, refine,
    pose, 512 px crop, head mask, paste plan) on scikit-image's astronaut upscaled to 1024x1024,
    with the detector already created (it is created once per process).
paste_back_ms: median wall time of ``FaceRegistration.paste_back`` of a 512 px crop into that
    1024x1024 photo (the per-frame cost).
"""

from __future__ import annotations

import cv2
import numpy as np

from benchmarks._timing import median_ms

PHOTO_SIDE = 1024  # ~1 MP


def run(quick: bool) -> dict:
    import skimage.data

    from talkinghead.face import FaceConfig, default_detector, register_face

    photo = cv2.resize(skimage.data.astronaut(), (PHOTO_SIDE, PHOTO_SIDE), interpolation=cv2.INTER_CUBIC)
    config = FaceConfig(crop_size=512)
    detector = default_detector(config.max_faces, config.min_detection_confidence)
    reg = register_face(photo, config, detector=detector)
    crop = np.ascontiguousarray(reg.crop[:, ::-1])  # a "rendered" crop that differs from the source
    register_ms = median_ms(lambda: register_face(photo, config, detector=detector), repeats=3 if quick else 15)
    paste_ms = median_ms(lambda: reg.paste_back(crop), repeats=10 if quick else 100, warmup=3)
    return {"face_register_ms": round(register_ms, 2), "paste_back_ms": round(paste_ms, 3)}
