"""Training data from real talking videos: frames -> tracked landmarks -> fitted motion, audio -> features.

    ingest_videos("videos/", "data/real/")      # shards + manifest.json + report.json

Per video (mp4/mov/mkv/webm/avi, searched recursively):

1. Frames are decoded at 25 fps by timestamp (:func:`~talkinghead.video.reader.iter_frames`:
   variable frame rates are resampled, frame ``i`` shows time ``(i + 0.5) / 25`` s).
2. Every frame is tracked (:class:`~talkinghead.face.track.FaceTracker`): 478 landmarks or a
   reason the frame is unusable (``no_face``, ``multiple_faces``, ``too_small``).
3. The audio track is read at 16 kHz (:func:`~talkinghead.audio.io.load_audio`), placed on the
   video's timeline (a stream that starts late is preceded by silence) and turned into features
   by the front-end's one windowing function (:func:`~talkinghead.audio.features.whisper_features`).
   Video and feature frames are aligned index by index; the longer one is truncated.
4. Runs of usable frames become clips; a run shorter than ``min_clip_frames`` is skipped.
5. The person's neutral face (identity) is estimated once per video from its first usable frames
   (the ``identity_frames`` with the most closed mouth and open eyes among the first
   ``identity_search_frames``), and every clip is fitted against it
   (:func:`~talkinghead.motion.fit.fit` with that identity: pose, 29 expression channels, gaze).
   Pose is relative to the head's position in those identity frames, so it is consistent across a
   video's clips and near zero on average, as in the synthetic data.

Splits are by video (or by speaker): a video's split key is its first folder below ``DIR`` when
it lies in a subfolder (``DIR/speaker/clip.mp4`` -> ``speaker``), else its file name. A key is
held out when ``sha1(key)`` maps below the ``heldout`` fraction, so a video's split never changes
when others are added. Everything skipped is listed with its reason in ``report.json``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
from tqdm import tqdm

from ..audio.features import WindowConfig, whisper_features
from ..audio.io import load_audio
from ..audio.whisper_models import DEFAULT_WHISPER, load_whisper_encoder
from ..errors import InvalidAudioError, TalkingHeadError
from ..eval.metrics import eye_opening, inter_ocular_distance, mouth_opening
from ..face.config import FaceConfig
from ..face.track import MULTIPLE_FACES, NO_FACE, OK, TOO_SMALL, FaceTracker, track_landmarks
from ..motion.fit import fit, identity_from
from ..paths import atomic_path
from ..timing import FPS, SAMPLE_RATE
from ..video.reader import VideoReadError, iter_frames, probe_video
from .build import feature_info
from .shards import Clip, ShardWriter

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".webm", ".avi")
REPORT = "report.json"
SPLIT_HASH_RANGE = 2**32
EYE_TYPICAL_RATIO = 1.25  # identity frames have a lid gap within this factor of the median  # the first 8 hex digits of sha1(key) as a fraction of this


@dataclass
class VideoIngestConfig:
    """How real videos become training clips.

    min_clip_frames: shortest run of usable frames kept as a clip (25 = 1 s).
    min_face_px: faces smaller than this (roll-free landmark box, pixels) make a frame unusable.
    allow_multiple_faces: keep frames with more than one face (the tracked person is used).
    identity_search_frames / identity_frames: the neutral face is estimated from the
        ``identity_frames`` most neutral of a video's first ``identity_search_frames`` usable frames.
    fit_ridge: Tikhonov weight of the expression fit (:func:`~talkinghead.motion.fit.fit`'s ``ridge``).
        Real landmarks are noisy and some channel combinations nearly equivalent; on the closed loop
        (warp renders of known motion) 0.01 instead of the fit's 1e-6 kept blinks from picking up
        mouth motion (blink r 0.81 -> 0.96) at no cost to the other channels.
    heldout: fraction of split keys (videos or speaker folders) held out of training.
    encoder: Whisper encoder for the features (registry name, local dir or hub id).
    window: the feature windowing (recorded in the manifest).
    """

    min_clip_frames: int = FPS
    min_face_px: float = FaceConfig.min_face_px
    allow_multiple_faces: bool = False
    identity_search_frames: int = 2 * FPS
    identity_frames: int = 5
    fit_ridge: float = 0.01
    heldout: float = 0.1
    encoder: str = DEFAULT_WHISPER
    window: WindowConfig = field(default_factory=WindowConfig)

    def __post_init__(self) -> None:
        if self.min_clip_frames < 2:
            raise TalkingHeadError(f"min_clip_frames must be at least 2, got {self.min_clip_frames}")
        if not 0.0 <= self.heldout < 1.0:
            raise TalkingHeadError(f"heldout must be a fraction in [0, 1), got {self.heldout}")
        if not 1 <= self.identity_frames <= self.identity_search_frames:
            raise TalkingHeadError("need 1 <= identity_frames <= identity_search_frames")


@dataclass
class IngestedVideo:
    """One video's clips (empty when it was skipped) and its report entry."""

    clips: list[Clip]
    report: dict


# ======================================================================= folder level
def find_videos(video_dir: str | os.PathLike) -> list[Path]:
    """Video files below ``video_dir`` (recursive, sorted), by extension."""
    root = Path(video_dir)
    if not root.is_dir():
        raise TalkingHeadError(f"video folder {video_dir} does not exist")
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)


def split_key(video: Path, root: Path) -> str:
    """The key a video is split by: its first folder below ``root``, else its file name."""
    rel = video.relative_to(root)
    return rel.parts[0] if len(rel.parts) > 1 else rel.name


def split_of(key: str, heldout: float) -> str:
    """"heldout" or "train", deterministically from ``sha1(key)``."""
    u = int(hashlib.sha1(key.encode("utf-8")).hexdigest()[:8], 16) / SPLIT_HASH_RANGE
    return "heldout" if u < heldout else "train"


def ingest_videos(video_dir: str | os.PathLike, out_dir: str | os.PathLike, config: VideoIngestConfig | None = None,
                  progress: bool = True) -> Path:
    """Turn every video below ``video_dir`` into shards in ``out_dir``; returns the manifest path.

    Writes ``report.json`` next to the manifest: per video what was used and what was skipped and why.
    """
    config = config or VideoIngestConfig()
    root = Path(video_dir)
    videos = find_videos(root)
    if not videos:
        raise TalkingHeadError(f"no videos ({', '.join(VIDEO_EXTENSIONS)}) found in {video_dir}")
    encoder = load_whisper_encoder(config.encoder)
    tracker = FaceTracker(min_face_px=config.min_face_px)
    writer = ShardWriter(out_dir, feature_info(str(config.encoder), encoder, config.window), fps=FPS)
    reports, start = [], time.perf_counter()
    for path in tqdm(videos, desc="videos", unit="video", disable=not progress):
        key = split_key(path, root)
        split = split_of(key, config.heldout)
        result = ingest_video(path, encoder, config, tracker, name=str(path.relative_to(root)), progress=progress)
        for clip in result.clips:
            clip.meta.update(split_key=key)
            writer.add(clip, split)
        reports.append(dict(result.report, split=split, split_key=key))
        if result.report.get("skipped"):
            log.warning("skipped %s: %s", path, result.report["skipped"])
    report = _summary(reports, time.perf_counter() - start, config)
    manifest = writer.close(extra={"source": "videos", "report": REPORT, "totals": report["totals"]})
    _write_json(Path(out_dir) / REPORT, report)
    return manifest


def _summary(reports: list[dict], seconds: float, config: VideoIngestConfig) -> dict:
    frames = sum(r.get("frames", 0) for r in reports)
    totals = {
        "videos": len(reports), "videos_used": sum(1 for r in reports if r["clips"]),
        "clips": sum(len(r["clips"]) for r in reports),
        "frames": frames, "frames_used": sum(r.get("frames_used", 0) for r in reports),
        "seconds": round(seconds, 2), "frames_per_second": round(frames / seconds, 2) if seconds > 0 else 0.0,
    }
    settings = {k: v for k, v in dataclasses.asdict(config).items() if k != "window"}
    return {"totals": totals, "config": settings, "videos": reports}


def _write_json(path: Path, data: dict) -> None:
    tmp = atomic_path(path)
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


# ======================================================================= one video
def ingest_video(path: str | os.PathLike, encoder, config: VideoIngestConfig | None = None,
                 tracker: FaceTracker | None = None, name: str | None = None, progress: bool = False
                 ) -> IngestedVideo:
    """Clips (features, motion, meta) of one video and its report entry; a video that cannot be
    used gives no clips and a ``skipped`` reason instead of raising."""
    config = config or VideoIngestConfig()
    tracker = tracker or FaceTracker(min_face_px=config.min_face_px)
    name = name or Path(path).name
    report: dict = {"video": name, "clips": [], "skipped_clips": []}
    start = time.perf_counter()
    try:
        info = probe_video(path)
        audio, offset = video_audio(path)
        landmarks, status = track_video(path, tracker, progress=progress, total=round(info.duration * FPS))
    except (VideoReadError, InvalidAudioError, av.FFmpegError) as e:
        return IngestedVideo([], dict(report, skipped=f"{type(e).__name__}: {e}"))
    report.update(width=info.width, height=info.height, duration_s=round(info.duration, 3),
                  average_fps=round(info.average_fps, 3), audio_offset_s=round(offset, 4))
    feats = whisper_features(audio, encoder, config.window).numpy()  # (Ta, F)
    frames = min(len(status), len(feats))
    report.update(frames=frames, video_frames=len(status), audio_frames=len(feats))
    good = _clip_runs(status[:frames], config, report)
    if not good:
        return IngestedVideo([], report)
    clips = _fit_clips(landmarks, feats, good, config, dict(video=name, width=info.width, height=info.height,
                                                            video_fps=round(info.average_fps, 3)), report)
    report["frames_used"] = int(sum(b - a for a, b in good))
    report["seconds"] = round(time.perf_counter() - start, 2)
    return IngestedVideo(clips, report)


def _clip_runs(status: np.ndarray, config: VideoIngestConfig, report: dict) -> list[tuple[int, int]]:
    """Runs of usable frames long enough to be clips; records the rest (and why) in ``report``."""
    usable = status == OK
    if config.allow_multiple_faces:
        usable |= status == MULTIPLE_FACES
    report["frame_status"] = {s: int(np.sum(status == s)) for s in (OK, NO_FACE, MULTIPLE_FACES, TOO_SMALL)}
    report["unusable_runs"] = [dict(start=a, end=b, reason=str(status[a])) for a, b in runs(~usable)]
    good = []
    for a, b in runs(usable):
        if b - a >= config.min_clip_frames:
            good.append((a, b))
        else:
            report["skipped_clips"].append(dict(start=a, end=b, reason=f"shorter than {config.min_clip_frames} frames"))
    if not good:
        counts = ", ".join(f"{n} {s}" for s, n in report["frame_status"].items() if n) or "no frames"
        reason = "no face" if not usable.any() else f"no run of {config.min_clip_frames} usable frames"
        report["skipped"] = f"{reason} ({counts})"
    return good


def _fit_clips(landmarks: np.ndarray, feats: np.ndarray, good: list[tuple[int, int]], config: VideoIngestConfig,
               video_meta: dict, report: dict) -> list[Clip]:
    """Fit motion to each run against the identity of the first run; one Clip per run."""
    first = good[0][0]
    identity, to_image, chosen = estimate_identity(landmarks[first:good[0][1]], config)
    report["identity_frames"] = [int(first + i) for i in chosen]
    clips = []
    for a, b in good:
        fitted = fit(landmarks[a:b], identity=identity, to_image=to_image, ridge=config.fit_ridge)
        residual = fitted.residual / np.median(inter_ocular_distance(landmarks[a:b]))  # (T,) in IOD
        meta = {"source": "video", **video_meta, "start_frame": int(a), "end_frame": int(b), "start_s": a / FPS,
                "num_frames": int(b - a), "fps": FPS, "fit_residual_iod": round(float(residual.mean()), 5)}
        clips.append(Clip(feats[a:b].astype(np.float32), fitted.motion().values.astype(np.float32), meta))
        report["clips"].append(dict(start=int(a), end=int(b), fit_residual_iod=meta["fit_residual_iod"],
                                    fit_residual_iod_max=round(float(residual.max()), 5)))
    return clips


def video_audio(path: str | os.PathLike) -> tuple[np.ndarray, float]:
    """A video's audio at 16 kHz mono on the video's timeline, and the audio stream's start (s).

    The frame reader puts frame 0 at time 0 of the container timeline; an audio stream that starts
    later is preceded by that much silence, one that starts earlier loses its lead.
    """
    samples = load_audio(path)
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
    shift = round(start * SAMPLE_RATE)
    if shift > 0:
        samples = np.concatenate([np.zeros(shift, np.float32), samples])
    elif shift < 0:
        samples = samples[-shift:]
    return samples, start


def track_video(path: str | os.PathLike, tracker: FaceTracker, progress: bool = False, total: int | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """Track a video at 25 fps: (T, 478, 3) float32 landmarks (NaN where no face) and (T,) statuses."""
    return track_landmarks(iter_frames(path, FPS), tracker, progress=progress, total=total, desc=Path(path).name)


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs ``[start, end)`` where the (T,) boolean ``mask`` is True."""
    edges = np.diff(np.concatenate([[0], np.asarray(mask, np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def estimate_identity(landmarks: np.ndarray, config: VideoIngestConfig | None = None
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A person's neutral face from the first frames of a run of usable (T, 478, 3) landmarks.

    Among the first ``identity_search_frames`` frames, the ``identity_frames`` with the most closed
    mouth whose eyes are about as open as usual (within ``EYE_TYPICAL_RATIO`` of the median: no
    blink, no wide-eyed surprise) are fitted as an unknown face, their
    expression removed (:func:`~talkinghead.motion.fit.identity_from`) and the faces averaged.
    Returns identity (478, 3) canonical frame, the (2, 3) canonical->image transform of those frames
    (the pose reference) and the chosen frame indices.
    """
    config = config or VideoIngestConfig()
    search = np.asarray(landmarks[: config.identity_search_frames], np.float64)
    mouth = mouth_opening(search)
    eyes = eye_opening(search)
    typical = np.abs(np.log(eyes / np.median(eyes))) <= np.log(EYE_TYPICAL_RATIO)
    candidates = np.flatnonzero(typical) if typical.sum() >= config.identity_frames else np.arange(len(search))
    chosen = np.sort(candidates[np.argsort(mouth[candidates], kind="stable")[: config.identity_frames]])
    fitted = fit(search[chosen])
    faces = identity_from(search[chosen], fitted)  # (K, 478, 3)
    return faces.mean(axis=0), fitted.to_image, chosen
