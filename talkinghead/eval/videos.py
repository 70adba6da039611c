"""Evaluate a generator on real talking videos: its first frame + its own audio in, frames out,
compared with the real frames.

    report = evaluate_videos("videos/", generate_fn, "report/")

``generate_fn(portrait, audio)`` gets the clip's first frame ``(H, W, 3)`` uint8 RGB and its audio
``(n,)`` float32 at 16 kHz, and returns the generated frames at 25 fps (an iterable of
``(H, W, 3)`` uint8 arrays, or a ``(T, H, W, 3)`` array), or a tuple ``(frames, info)`` with a
JSON-able ``info`` dict kept in the report. Frames are consumed one at a time, so a lazy
generator keeps memory bounded; the time spent inside ``generate_fn`` and in producing frames is
the clip's ``generate_s``.

Per clip (see :func:`evaluate_clip` for the keys): MediaPipe inner-lip opening / IOD of real and
generated frames, their Pearson r at lag 0 (``mouth_r``) and the best r within ``max_lag`` frames
(``mouth_r_best``, ``best_lag``; positive = generated late), M-LMD (``m_lmd``, lip landmarks after
aligning the faces, in IODs), landmark jitter of generated and real frames (IOD per frame^2),
PSNR of generated frames against the portrait outside the head region the renderer may touch
(``psnr_outside_head``; infinite when the background is untouched), face-region SSIM of the first
generated frame against the portrait (``face_ssim``) and timing.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable

import av
import cv2
import numpy as np

from ..data.videos import find_videos, video_audio
from ..errors import InvalidAudioError, TalkingHeadError
from ..face import landmarks as L
from ..face.track import OK, FaceTracker, track_landmarks
from ..timing import FPS, SAMPLE_RATE, SAMPLES_PER_FRAME
from ..video.reader import VideoReadError, iter_frames, probe_video
from . import metrics as M

log = logging.getLogger(__name__)

GenerateFn = Callable[[np.ndarray, np.ndarray], object]
MIN_VALID_FRACTION = 0.8  # a clip needs a face in this share of both real and generated frames
MIN_FRAMES = 10  # fewer frames than this cannot give a meaningful correlation
FACE_BOX_MARGIN = 0.1  # the SSIM face region is the mesh box grown by this fraction per side
SSIM_MIN_SIDE = 16  # px: smaller face regions are not compared
HEAD_MASK_DILATE_PX = 2  # the head region is grown by this much (resampling reaches a pixel further)
EXTRA_FRAMES = 2 * FPS  # generated frames read beyond the real count (a wrong frame rate shows as a mismatch)


def evaluate_videos(video_dir: str | os.PathLike, generate_fn: GenerateFn, out_dir: str | os.PathLike,
                    max_lag: int = M.MAX_LAG, max_seconds: float | None = None, progress: bool = True,
                    tracker: FaceTracker | None = None) -> dict:
    """Run :func:`evaluate_clip` on every video below ``video_dir``; write ``report.json``,
    ``report.md`` and one PNG per clip to ``out_dir``; return the report dict."""
    from tqdm import tqdm

    from .report import summarize, write_report

    videos = find_videos(video_dir)
    if not videos:
        raise TalkingHeadError(f"no videos found in {video_dir}")
    tracker = tracker or FaceTracker()
    clips = []
    for path in tqdm(videos, desc="eval", unit="clip", disable=not progress):
        clip = evaluate_clip(path, generate_fn, tracker=tracker, max_lag=max_lag, max_seconds=max_seconds)
        clip["clip"] = str(path.relative_to(video_dir))
        if clip.get("skipped"):
            log.warning("skipped %s: %s", path, clip["skipped"])
        clips.append(clip)
    report = summarize(clips, kind="videos", settings={"max_lag": max_lag, "max_seconds": max_seconds})
    write_report(report, out_dir)
    return report


def evaluate_clip(path: str | os.PathLike, generate_fn: GenerateFn, tracker: FaceTracker | None = None,
                  max_lag: int = M.MAX_LAG, max_seconds: float | None = None) -> dict:
    """Every number for one video (a ``skipped`` reason instead when it cannot be used).

    Keys: ``frames``, ``frames_generated``, ``duration_s``, ``mouth_r``, ``mouth_r_best``, ``best_lag``,
    ``m_lmd``, ``jitter`` (generated), ``jitter_real``, ``jitter_ratio``, ``psnr_outside_head``,
    ``outside_fraction`` (share of pixels outside the head region), ``face_ssim``, ``generate_s``,
    ``rtf`` (generate_s / audio s), ``seconds`` (whole evaluation), ``valid_real`` /
    ``valid_generated`` (share of frames with a face), ``curves`` (per-frame mouth openings and the
    audio envelope, for plots), ``notes`` (what was left out and why), ``generator`` (its info dict).
    """
    tracker = tracker or FaceTracker()
    start = time.perf_counter()
    result: dict = {"video": str(path), "notes": []}
    try:
        info = probe_video(path)
        audio, _ = video_audio(path)
    except (VideoReadError, InvalidAudioError) as e:
        return dict(result, skipped=str(e))
    limit = None if max_seconds is None else max(1, round(max_seconds * FPS))
    first: dict = {}
    try:
        real, real_status = track_landmarks(iter_frames(path, FPS), tracker, limit=limit,
                                            on_frame=lambda i, f, t: first.setdefault("frame", f))
    except av.FFmpegError as e:
        return dict(result, skipped=f"decoding failed: {e}")
    if not len(real):
        return dict(result, skipped="the video has no frames")
    if real_status[0] != OK:
        return dict(result, skipped=f"first frame has no usable face ({real_status[0]}); it is the portrait")
    portrait = first["frame"]
    audio = audio[: len(real) * SAMPLES_PER_FRAME]
    result.update(width=info.width, height=info.height, average_fps=round(info.average_fps, 3),
                  duration_s=round(len(audio) / SAMPLE_RATE, 3))
    try:
        generated, background, gen_s, gen_info = _run_generator(
            generate_fn, portrait, audio, real[0], tracker, limit=len(real) + EXTRA_FRAMES)
    except TalkingHeadError as e:
        return dict(result, skipped=f"the generator failed: {e}")
    result.update(generate_s=round(gen_s, 3), rtf=round(gen_s / max(len(audio) / SAMPLE_RATE, 1e-9), 4),
                  generator=gen_info, **background)
    result.update(_compare(real, generated, audio, max_lag, result["notes"]))
    result["seconds"] = round(time.perf_counter() - start, 3)
    return result


# ======================================================================= generation
class _TimedIterator:
    """Iterates ``frames`` and adds the time spent producing each one to ``seconds``."""

    def __init__(self, frames, seconds: float):
        self._it = iter(frames)
        self.seconds = seconds

    def __iter__(self):
        return self

    def __next__(self):
        start = time.perf_counter()
        try:
            return next(self._it)
        finally:
            self.seconds += time.perf_counter() - start


def _run_generator(generate_fn: GenerateFn, portrait: np.ndarray, audio: np.ndarray, portrait_landmarks: np.ndarray,
                   tracker: FaceTracker, limit: int):
    """Call the generator and measure its frames as they arrive.

    Returns generated landmarks (T, 478, 3) (NaN without a face), the background/identity numbers,
    the generation seconds and the generator's info dict.
    """
    start = time.perf_counter()
    output = generate_fn(portrait.copy(), audio.copy())
    frames, info = output if isinstance(output, tuple) else (output, {})
    timed = _TimedIterator(frames, time.perf_counter() - start)
    background = _BackgroundMeter(portrait, portrait_landmarks)
    landmarks, _ = track_landmarks(timed, tracker, limit=limit,
                                   on_frame=lambda i, frame, tracked: background.add(i, frame))
    return landmarks, background.result(), timed.seconds, _jsonable(info)


class _BackgroundMeter:
    """PSNR outside the head region against the portrait (accumulated) and the first frame's face SSIM."""

    def __init__(self, portrait: np.ndarray, landmarks: np.ndarray):
        self.portrait = portrait
        self.outside = head_region(portrait)
        if self.outside is not None:
            self.outside = ~self.outside
        self.box = _face_box(landmarks, portrait.shape)
        self.sse, self.count, self.ssim = 0.0, 0, None
        self.notes: list[str] = []

    def add(self, index: int, frame: np.ndarray) -> None:
        frame = np.asarray(frame)
        h, w = min(frame.shape[0], self.portrait.shape[0]), min(frame.shape[1], self.portrait.shape[1])
        if abs(frame.shape[0] - self.portrait.shape[0]) > 1 or abs(frame.shape[1] - self.portrait.shape[1]) > 1:
            if index == 0:
                self.notes.append(f"generated frames are {frame.shape[1]}x{frame.shape[0]}, the portrait "
                                  f"{self.portrait.shape[1]}x{self.portrait.shape[0]}: no PSNR / SSIM")
            return
        gen, ref = frame[:h, :w].astype(np.float64), self.portrait[:h, :w].astype(np.float64)
        if self.outside is not None:
            mask = self.outside[:h, :w]
            self.sse += float(((gen - ref) ** 2)[mask].sum())
            self.count += int(mask.sum()) * 3
        if index == 0:
            self.ssim = face_ssim(frame[:h, :w], self.portrait[:h, :w], self.box)

    def result(self) -> dict:
        psnr = None
        if self.outside is None:
            self.notes.append("no head region found on the portrait: no PSNR outside the head")
        elif self.count:
            psnr = math.inf if self.sse == 0 else 10 * math.log10(255.0**2 * self.count / self.sse)
        fraction = None if self.outside is None else round(float(self.outside.mean()), 4)
        return {"psnr_outside_head": psnr, "outside_fraction": fraction, "face_ssim": self.ssim,
                "background_notes": self.notes}


def head_region(portrait: np.ndarray) -> np.ndarray | None:
    """(H, W) bool: the photo pixels the warp renderer's paste-back may change (its feathered head
    mask mapped into the photo, grown by ``HEAD_MASK_DILATE_PX``); None when no face is registered."""
    from ..face import register_face
    from ..render.warp_renderer import renderer_face_config

    try:
        reg = register_face(portrait, renderer_face_config())
    except TalkingHeadError:
        return None
    touched = np.zeros(portrait.shape[:2], bool)
    for value in (0, 255):  # a pixel may coincide with one extreme, not with both
        touched |= np.any(reg.paste_back(np.full_like(reg.crop, value)) != reg.photo, axis=-1)
    kernel = np.ones((2 * HEAD_MASK_DILATE_PX + 1,) * 2, np.uint8)
    return cv2.dilate(touched.astype(np.uint8), kernel).astype(bool)


def face_ssim(generated: np.ndarray, portrait: np.ndarray, box: tuple[int, int, int, int] | None) -> float | None:
    """SSIM (skimage, colour, data range 255) of two images on the face box (x0, y0, x1, y1)."""
    from skimage.metrics import structural_similarity

    if box is None:
        return None
    x0, y0, x1, y1 = box
    a, b = generated[y0:y1, x0:x1], portrait[y0:y1, x0:x1]
    if min(a.shape[:2]) < SSIM_MIN_SIDE or a.shape != b.shape:
        return None
    return float(structural_similarity(a, b, channel_axis=2, data_range=255))


def _face_box(landmarks: np.ndarray, shape) -> tuple[int, int, int, int] | None:
    """The mesh box of (478, 3) landmarks grown by FACE_BOX_MARGIN, clipped to the image."""
    xy = np.asarray(landmarks)[: L.NUM_MESH_POINTS, :2]
    if not np.isfinite(xy).all():
        return None
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    pad = FACE_BOX_MARGIN * (hi - lo)
    x0, y0 = np.floor(np.maximum(lo - pad, 0)).astype(int)
    x1, y1 = np.ceil(np.minimum(hi + pad, [shape[1], shape[0]])).astype(int)
    return int(x0), int(y0), int(x1), int(y1)


# ======================================================================= comparison
def _compare(real: np.ndarray, generated: np.ndarray, audio: np.ndarray, max_lag: int, notes: list[str]) -> dict:
    """Lip sync and stability numbers of generated vs real landmarks (NaN where no face)."""
    n_real, n_gen = len(real), len(generated)
    out: dict = {"frames": n_real, "frames_generated": n_gen}
    if abs(n_gen - n_real) > 1:
        notes.append(f"generated {n_gen} frames for {n_real} real frames; compared over the first "
                     f"{min(n_gen, n_real)}")
    n = min(n_real, n_gen)
    real, generated = real[:n].astype(np.float64), generated[:n].astype(np.float64)
    valid_real, valid_gen = _has_face(real), _has_face(generated)
    out.update(valid_real=round(float(valid_real.mean()), 4) if n else 0.0,
               valid_generated=round(float(valid_gen.mean()), 4) if n else 0.0)
    envelope = M.audio_envelope(audio)[:n]
    mouth_real, mouth_gen = _opening(real, valid_real), _opening(generated, valid_gen)
    out["curves"] = {"mouth_real": _rounded(mouth_real), "mouth_generated": _rounded(mouth_gen),
                     "audio_envelope": _rounded(envelope)}
    if n < MIN_FRAMES:
        notes.append(f"only {n} frames: no lip-sync numbers")
        return out
    if valid_real.mean() < MIN_VALID_FRACTION or valid_gen.mean() < MIN_VALID_FRACTION:
        notes.append(f"a face was found in {valid_real.mean():.0%} of real and {valid_gen.mean():.0%} of generated "
                     f"frames (need {MIN_VALID_FRACTION:.0%}): no lip-sync numbers")
        return out
    a, b = _interpolate_gaps(mouth_gen), _interpolate_gaps(mouth_real)
    r0 = M.pearson(a, b)
    best_r, best_lag = M.lagged_pearson(a, b, max_lag)
    if best_r <= r0:  # ties (e.g. a constant curve) go to lag 0
        best_r, best_lag = r0, 0
    both = valid_real & valid_gen
    jitter_gen, jitter_real = M.normalized_jitter(generated), M.normalized_jitter(real)
    out.update(mouth_r=round(r0, 4), mouth_r_best=round(best_r, 4), best_lag=int(best_lag),
               m_lmd=round(M.mouth_lmd(generated[both], real[both]), 5),
               jitter=round(jitter_gen, 6), jitter_real=round(jitter_real, 6),
               jitter_ratio=round(jitter_gen / jitter_real, 4) if jitter_real > 0 else None,
               envelope_r_real=round(M.pearson(b, envelope), 4))
    return out


def _has_face(landmarks: np.ndarray) -> np.ndarray:
    return np.isfinite(landmarks).all(axis=(1, 2)) if len(landmarks) else np.zeros(0, bool)


def _opening(landmarks: np.ndarray, valid: np.ndarray) -> np.ndarray:
    out = np.full(len(landmarks), np.nan)
    if valid.any():
        out[valid] = M.mouth_opening(landmarks[valid])
    return out


def _interpolate_gaps(curve: np.ndarray) -> np.ndarray:
    """NaN entries filled by linear interpolation (held at the ends)."""
    curve = np.asarray(curve, np.float64)
    good = np.isfinite(curve)
    if good.all() or not good.any():
        return curve
    index = np.arange(len(curve))
    return np.interp(index, index[good], curve[good])


def _rounded(values: np.ndarray, digits: int = 5) -> list:
    return [None if not np.isfinite(v) else round(float(v), digits) for v in np.asarray(values, np.float64)]


def _jsonable(info) -> dict:
    """The generator's info dict with numbers made plain (numpy scalars -> Python)."""
    if not isinstance(info, dict):
        return {"info": repr(info)}
    out = {}
    for key, value in info.items():
        if isinstance(value, dict):
            out[str(key)] = _jsonable(value)
        elif isinstance(value, (np.floating, np.integer)):
            out[str(key)] = value.item()
        elif isinstance(value, (int, float, str, bool)) or value is None:
            out[str(key)] = value
        else:
            out[str(key)] = repr(value)
    return out
