"""Warp renderer speed on this machine.

render_ms: median wall time per frame of ``WarpRenderer.render`` (motion -> rig landmarks -> warp
    of a 512 px crop -> drawn mouth / eyes -> paste-back into the photo) on scikit-image's
    astronaut upscaled to 1024x1024, for a 16-frame batch of talking motion (jaw, smile, blink,
    small head turns), OpenCV backend, torch threads as configured.
render_crop_ms: the same without paste-back (512 px crops).
render_torch_ms: the whole per-frame model in torch (``backend="torch"``, what ONNX export sees),
    crops only.
render_register_ms: one-off ``WarpRenderer.register`` (face registration, rig fit, control mesh,
    hole filling) of that photo.
"""

from __future__ import annotations

import statistics
import time

import cv2
import numpy as np

PHOTO_SIDE = 1024  # ~1 MP
FRAMES = 16  # one batch


def talking_motion(avatar, frames: int) -> np.ndarray:
    """A deterministic talking-like motion around the portrait's rest motion, (frames, 37)."""
    from talkinghead.motion.channels import CHANNEL_INDEX

    t = np.arange(frames) / 25.0
    values = np.repeat(avatar.rest_motion.values, frames, axis=0)
    values[:, CHANNEL_INDEX["jawOpen"]] = 0.4 * (1 + np.sin(2 * np.pi * 3.0 * t)) / 2
    values[:, CHANNEL_INDEX["mouthSmileLeft"]] = values[:, CHANNEL_INDEX["mouthSmileRight"]] = 0.3
    values[:, CHANNEL_INDEX["eyeBlinkLeft"]] = values[:, CHANNEL_INDEX["eyeBlinkRight"]] = (t % 0.32 < 0.12) * 1.0
    values[:, CHANNEL_INDEX["yaw"]] = 6.0 * np.sin(2 * np.pi * 0.5 * t)
    values[:, CHANNEL_INDEX["pitch"]] = 3.0 * np.sin(2 * np.pi * 0.7 * t)
    return values


def _per_frame_ms(fn, frames: int, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3 / frames)
    return statistics.median(times)


def run(quick: bool) -> dict:
    import skimage.data

    from talkinghead.render import WarpRenderer, WarpRendererConfig

    photo = cv2.resize(skimage.data.astronaut(), (PHOTO_SIDE, PHOTO_SIDE), interpolation=cv2.INTER_CUBIC)
    renderer = WarpRenderer(WarpRendererConfig(batch_size=FRAMES))
    start = time.perf_counter()
    avatar = renderer.register(photo)
    register_ms = (time.perf_counter() - start) * 1e3
    assert avatar.crop_size == 512
    motion = talking_motion(avatar, FRAMES)
    repeats = 3 if quick else 15
    render_ms = _per_frame_ms(lambda: renderer.render(avatar, motion), FRAMES, repeats)
    crop_ms = _per_frame_ms(lambda: renderer.render(avatar, motion, paste=False), FRAMES, repeats)
    torch_renderer = WarpRenderer(WarpRendererConfig(backend="torch", batch_size=FRAMES))
    torch_ms = _per_frame_ms(lambda: torch_renderer.render(avatar, motion, paste=False), FRAMES,
                             max(2, repeats // 3))
    return {"render_ms": round(render_ms, 2), "render_crop_ms": round(crop_ms, 2),
            "render_torch_ms": round(torch_ms, 2), "render_register_ms": round(register_ms, 1)}
