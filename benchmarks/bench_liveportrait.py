"""LivePortrait-architecture renderer speed on this machine (random weights: speed only, no quality).

render_ms_liveportrait_small: median wall time per frame of ``LivePortraitRenderer.render`` (motion ->
    driving keypoints -> eye retargeting -> stitching -> warping module -> SPADE generator -> paste-back
    into the photo), one frame per call, at the reference folder's small network sizes and the official
    256 px input, on scikit-image's astronaut (512 x 512).
render_ms_liveportrait_full: the same at the official sizes (the released model: 130 M parameters,
    64 x 64 x 16 warp volume, 512 px out). Seconds per frame on a 2-core CPU: a GPU path. Skipped with
    ``--quick`` (then ``render_ms_liveportrait_full_skipped_in_quick`` is true).
register_ms_liveportrait_small / _full: one-off ``register`` (face registration, rig fit, source
    features and keypoints, the expression calibration's 67 probe renderings through the motion extractor).

Quick mode: 1 frame after 1 warm-up; full mode: median of 3 after 1 warm-up.
"""

from __future__ import annotations

import time

from benchmarks._timing import median_ms

SIZES = ("small", "full")


def _measure(size: str, photo, repeats: int) -> tuple[float, float]:
    """(register ms, render ms per frame) at network size ``size`` with random weights."""
    import torch

    from talkinghead.motion.channels import CHANNEL_INDEX
    from talkinghead.render.liveportrait import LivePortraitModels, liveportrait_config
    from talkinghead.render.liveportrait_renderer import LivePortraitRenderer

    torch.manual_seed(0)
    models = LivePortraitModels(liveportrait_config("official" if size == "full" else size))
    renderer = LivePortraitRenderer(models, device="cpu")
    start = time.perf_counter()
    avatar = renderer.register(photo)
    register_ms = (time.perf_counter() - start) * 1e3
    motion = avatar.rest_motion.values.copy()
    motion[0, CHANNEL_INDEX["jawOpen"]] = 0.5  # a non-rest frame
    render_ms = median_ms(lambda: renderer.render(avatar, motion), repeats=repeats, warmup=1)
    return register_ms, render_ms


def run(quick: bool) -> dict:
    import skimage.data

    photo = skimage.data.astronaut()
    repeats = 1 if quick else 3
    result = {}
    for size in SIZES:
        if quick and size == "full":
            result["render_ms_liveportrait_full_skipped_in_quick"] = True
            continue
        register_ms, render_ms = _measure(size, photo, repeats)
        result[f"render_ms_liveportrait_{size}"] = round(render_ms, 1)
        result[f"register_ms_liveportrait_{size}"] = round(register_ms, 1)
    return result
