"""Decode video frames by their timestamps and resample them to a constant frame rate.

Variable-frame-rate files are handled by presentation timestamps, not by frame count:
output frame ``i`` (covering ``[i / fps, (i + 1) / fps)``) is the decoded frame shown at
that interval's centre ``(i + 0.5) / fps``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator

import av
import numpy as np

from ..errors import TalkingHeadError
from ..timing import FPS


class VideoReadError(TalkingHeadError):
    """A video file could not be opened or has no video stream."""


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds: size, duration (s), average frame rate, whether it has audio."""

    width: int
    height: int
    duration: float
    average_fps: float
    has_audio: bool


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Read a video's header information without decoding frames."""
    with _open(path) as container:
        stream = container.streams.video[0]
        duration = _duration_s(container, stream)
        rate = float(stream.average_rate) if stream.average_rate else 0.0
        return VideoInfo(stream.codec_context.width, stream.codec_context.height, duration, rate,
                         bool(container.streams.audio))


def iter_frames(path: str | os.PathLike, fps: int = FPS) -> Iterator[np.ndarray]:
    """Yield (H, W, 3) uint8 RGB frames resampled to ``fps`` by timestamp (hold the last frame)."""
    with _open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        index = 0  # next output frame
        previous: tuple[float, np.ndarray] | None = None
        for frame in container.decode(stream):
            if frame.pts is None:
                continue
            t = float(frame.pts * frame.time_base)
            if previous is not None:
                # `previous` is on screen over [previous_t, t): emit every output centre inside it.
                while (index + 0.5) / fps < t:
                    yield previous[1]
                    index += 1
            previous = (t, frame.to_ndarray(format="rgb24"))
        if previous is None:
            return
        end = _duration_s(container, stream)
        while (index + 0.5) / fps < max(end, previous[0] + 1e-6):
            yield previous[1]
            index += 1


def _open(path: str | os.PathLike):
    if not os.path.isfile(path):
        raise VideoReadError(f"video file {path} does not exist")
    try:
        container = av.open(str(path))
    except av.FFmpegError as e:
        raise VideoReadError(f"cannot open {path} as a video ({e}); use mp4/mov/mkv/webm/avi") from e
    if not container.streams.video:
        container.close()
        raise VideoReadError(f"{path} has no video stream")
    return container


def _duration_s(container, stream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1e6
    return 0.0
