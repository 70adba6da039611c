"""Evaluate motion generation on held-out synthetic clips, against their ground-truth channels.

    report = evaluate_synthetic("data/synth/", motion_fn, "report/")

``motion_fn(features)`` gets a clip's stored audio features ``(T, F)`` float32 (made by the
front-end's one windowing function, so exactly what the model saw in training) and returns
motion ``(T, 37)`` (array or :class:`~talkinghead.motion.motion.Motion`) at 25 fps.

Per clip:

* ``channel_r``: Pearson r of every mouth channel (``jawOpen`` and the ``mouth*`` channels the
  visemes drive) with the ground truth; ``None`` where the truth is constant. ``jawOpen_r`` and
  ``mouth_channels_r`` (their mean) are the headline numbers.
* The same lip-sync numbers as for real videos, on the inner-lip opening the motion gives the
  rest face (:func:`rig_mouth_opening`: the rig's landmarks with the pose removed, measured like
  MediaPipe's): ``mouth_r``, ``mouth_r_best``, ``best_lag``.
* Lip closure on p/b/m, when the clip's metadata holds its phonemes (``meta["phonemes"]`` =
  ``[[symbol, start_s, end_s], ...]`` and ``meta["phoneset"]``, as written by
  ``talkinghead data synth``): a bilabial counts as closed when the rig's lip gap falls to
  ``CLOSED_LIP_GAP`` or less within its frames (one frame of slack either side);
  ``bilabial_closure`` is the share closed in the generated motion, ``bilabial_closure_truth``
  in the ground truth, ``bilabial_gap`` / ``bilabial_gap_truth`` the mean smallest gap (IOD).
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable

import numpy as np

from ..data.shards import Clip, load_clips, read_manifest
from ..errors import TalkingHeadError
from ..motion.channels import CHANNEL_INDEX, MOTION_DIM, MOUTH_CHANNELS, NEUTRAL, POSE_SLICE
from ..timing import FPS
from . import metrics as M

MotionFn = Callable[[np.ndarray], object]
CLOSED_LIP_GAP = 0.03  # IOD (~2 mm): an inner-lip gap this small reads as closed lips
BILABIAL_VISEME = "BMP"
CLOSURE_SLACK_FRAMES = 1  # a closure may land one frame before or after the phoneme's frames
MIN_TRUTH_STD = 1e-4  # a channel varying less than this in the truth has no defined r


def evaluate_synthetic(data_dir: str | os.PathLike, motion_fn: MotionFn, out_dir: str | os.PathLike,
                       split: str = "heldout", max_clips: int | None = None, max_lag: int = M.MAX_LAG,
                       progress: bool = True) -> dict:
    """Run :func:`evaluate_synthetic_clip` on the clips of ``split`` of a data folder; write
    report.json / report.md / plots to ``out_dir`` and return the report."""
    from tqdm import tqdm

    from .report import summarize, write_report

    manifest = read_manifest(data_dir)
    clips = load_clips(data_dir, split)
    if not clips:
        splits = sorted({s["split"] for s in manifest["shards"]})
        raise TalkingHeadError(f"{data_dir} has no '{split}' clips (it has: {', '.join(splits) or 'none'})")
    clips = clips[:max_clips] if max_clips else clips
    results = []
    for k, clip in enumerate(tqdm(clips, desc="eval synthetic", unit="clip", disable=not progress)):
        result = evaluate_synthetic_clip(clip, motion_fn, max_lag=max_lag)
        result["clip"] = f"{split}-{k:04d}"
        results.append(result)
    settings = {"data": str(data_dir), "split": split, "max_lag": max_lag, "features": manifest.get("features")}
    report = summarize(results, kind="synthetic", settings=settings)
    write_report(report, out_dir)
    return report


def evaluate_synthetic_clip(clip: Clip, motion_fn: MotionFn, max_lag: int = M.MAX_LAG) -> dict:
    """Every number for one clip (keys: module docstring), plus ``curves`` for the plot."""
    truth = np.asarray(clip.motion, np.float64)
    start = time.perf_counter()
    generated = np.asarray(_values(motion_fn(np.asarray(clip.features, np.float32))), np.float64)
    seconds = time.perf_counter() - start
    result: dict = {"voice": clip.meta.get("voice"), "text": clip.meta.get("text"), "frames": len(truth),
                    "generate_s": round(seconds, 4), "notes": []}
    if generated.ndim != 2 or generated.shape[1] != MOTION_DIM:
        return dict(result, skipped=f"motion_fn returned shape {generated.shape}, expected (T, {MOTION_DIM})")
    n = min(len(truth), len(generated))
    if len(generated) != len(truth):
        result["notes"].append(f"generated {len(generated)} frames for {len(truth)}; compared over {n}")
    truth, generated = truth[:n], generated[:n]
    result.update(_channel_numbers(truth, generated))
    open_truth, open_gen = rig_mouth_opening(truth), rig_mouth_opening(generated)
    r0 = M.pearson(open_gen, open_truth)
    best_r, best_lag = M.lagged_pearson(open_gen, open_truth, max_lag)
    if best_r <= r0:
        best_r, best_lag = r0, 0
    result.update(mouth_r=round(r0, 4), mouth_r_best=round(best_r, 4), best_lag=int(best_lag))
    result.update(_closure_numbers(clip.meta, open_truth, open_gen, result["notes"]))
    jaw = CHANNEL_INDEX["jawOpen"]
    result["curves"] = {"mouth_truth": _rounded(open_truth), "mouth_generated": _rounded(open_gen),
                        "jaw_truth": _rounded(truth[:, jaw]), "jaw_generated": _rounded(generated[:, jaw])}
    return result


def _values(motion) -> np.ndarray:
    return getattr(motion, "values", motion)


def _channel_numbers(truth: np.ndarray, generated: np.ndarray) -> dict:
    channel_r = {}
    for name in MOUTH_CHANNELS:
        k = CHANNEL_INDEX[name]
        channel_r[name] = round(M.pearson(generated[:, k], truth[:, k]), 4) if truth[:, k].std() > MIN_TRUTH_STD else None
    defined = [r for r in channel_r.values() if r is not None]
    return {"channel_r": channel_r, "jawOpen_r": channel_r["jawOpen"],
            "mouth_channels_r": round(float(np.mean(defined)), 4) if defined else None}


def rig_mouth_opening(motion: np.ndarray) -> np.ndarray:
    """(T,) inner-lip opening / IOD of the rest face driven by (T, 37) motion with its pose removed.

    Clipped at 0: pressing or rolling closed lips moves the rig's inner-lip points past each
    other (negative gaps of up to ~0.4 IOD), which an image shows as closed lips, as MediaPipe reads it.
    """
    values = np.array(motion, np.float64)
    values[:, POSE_SLICE] = np.asarray(NEUTRAL)[POSE_SLICE]
    return np.maximum(M.mouth_opening(_rest_rig().landmarks(values)), 0.0)


@functools.lru_cache(maxsize=1)
def _rest_rig():
    from ..motion.rig import Rig

    return Rig()


def bilabial_frames(meta: dict, num_frames: int) -> list[tuple[int, int]] | None:
    """Frame spans ``[a, b)`` of the p/b/m phonemes in a clip's metadata (None without phonemes)."""
    from ..data.visemes import visemes_of

    phonemes, phoneset = meta.get("phonemes"), meta.get("phoneset")
    if not phonemes or not phoneset:
        return None
    spans = []
    for symbol, start_s, end_s in phonemes:
        if visemes_of(str(symbol), phoneset) == (BILABIAL_VISEME,):
            a = int(np.floor(start_s * FPS))
            b = max(a + 1, int(np.ceil(end_s * FPS)))
            if a < num_frames:
                spans.append((a, min(b, num_frames)))
    return spans


def _closure_numbers(meta: dict, open_truth: np.ndarray, open_gen: np.ndarray, notes: list[str]) -> dict:
    spans = bilabial_frames(meta, len(open_truth))
    if spans is None:
        notes.append("no phoneme metadata: no p/b/m closure numbers")
        return {}
    if not spans:
        return {"bilabials": 0}

    def smallest(curve):
        return np.array([curve[max(0, a - CLOSURE_SLACK_FRAMES):b + CLOSURE_SLACK_FRAMES].min() for a, b in spans])

    gap_gen, gap_truth = smallest(open_gen), smallest(open_truth)
    return {"bilabials": len(spans),
            "bilabial_closure": round(float((gap_gen <= CLOSED_LIP_GAP).mean()), 4),
            "bilabial_closure_truth": round(float((gap_truth <= CLOSED_LIP_GAP).mean()), 4),
            "bilabial_gap": round(float(gap_gen.mean()), 5), "bilabial_gap_truth": round(float(gap_truth.mean()), 5)}


def _rounded(values: np.ndarray, digits: int = 5) -> list:
    return [round(float(v), digits) for v in np.asarray(values, np.float64)]
