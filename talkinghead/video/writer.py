"""Write frames + audio to an mp4 (H.264 yuv420p + AAC) with PyAV; no system ffmpeg needed.

The file is written to a temporary sibling and renamed on success, so a failure or an
interrupt never leaves a half-written output. Audio is interleaved with the video as the
frames arrive (memory stays bounded for long runs) and the first frame is at t = 0.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..errors import VideoWriteError
from ..paths import atomic_path
from ..timing import SAMPLE_RATE

AUDIO_BITRATE = 96_000  # bits/s: transparent enough for speech
AUDIO_CHUNK = 1024  # AAC frame size in samples


def check_output_path(path: str | os.PathLike) -> Path:
    """``path`` as a Path if a video can be written there (its folder exists, it is not a folder);
    :class:`~talkinghead.errors.VideoWriteError` otherwise. Nothing is created."""
    path = Path(path)
    if not path.parent.is_dir():
        raise VideoWriteError(f"output folder {path.parent} does not exist; create it first")
    if path.is_dir():
        raise VideoWriteError(f"output {path} is a folder; give a file name such as {path / 'out.mp4'}")
    return path


class VideoWriter:
    """Stream frames into an mp4, optionally muxing a mono float32 audio track.

    Use as a context manager::

        with VideoWriter("out.mp4", fps=25, audio=samples) as w:
            for frame in frames:        # (H, W, 3) uint8 RGB
                w.write(frame)

    Args:
        path: output ``.mp4`` path; parent directories must exist.
        fps: frame rate (integer).
        audio: optional mono float32 samples in [-1, 1] at ``sample_rate``.
        crf: H.264 constant rate factor (lower is better quality; 18-23 is typical).
        preset: x264 speed preset.
    """

    def __init__(self, path: str | os.PathLike, fps: int, audio: np.ndarray | None = None,
                 sample_rate: int = SAMPLE_RATE, crf: int = 20, preset: str = "veryfast"):
        self.path = check_output_path(path)
        self.fps = int(fps)
        self.audio = None if audio is None else np.asarray(audio, np.float32).reshape(-1)
        self.sample_rate = int(sample_rate)
        self._crf, self._preset = crf, preset
        self._tmp = atomic_path(self.path.with_suffix(".mp4"))
        self._container = None
        self._vstream = None
        self._astream = None
        self._frames = 0
        self._audio_pos = 0  # samples already encoded
        self._size: tuple[int, int] | None = None

    # -- context manager -------------------------------------------------------------
    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    # -- writing ---------------------------------------------------------------------
    def _open(self, height: int, width: int) -> None:
        try:
            self._container = av.open(str(self._tmp), mode="w", format="mp4")
        except OSError as e:
            raise VideoWriteError(f"cannot write {self.path}: {e}") from e
        v = self._container.add_stream("libx264", rate=self.fps)
        v.width, v.height = width - width % 2, height - height % 2  # yuv420p needs even sizes
        v.pix_fmt = "yuv420p"
        v.options = {"crf": str(self._crf), "preset": self._preset}
        self._vstream = v
        if self.audio is not None:
            a = self._container.add_stream("aac", rate=self.sample_rate)
            a.layout = "mono"
            a.bit_rate = AUDIO_BITRATE
            self._astream = a
        self._size = (height, width)

    def write(self, frame: np.ndarray) -> None:
        """Append one (H, W, 3) uint8 RGB frame; all frames must share one size."""
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise VideoWriteError(f"frames must be (H, W, 3) uint8 RGB, got {frame.shape} {frame.dtype}")
        if self._container is None:
            self._open(*frame.shape[:2])
        if frame.shape[:2] != self._size:
            raise VideoWriteError(f"frame size {frame.shape[:2]} differs from the first frame's {self._size}")
        h, w = self._vstream.height, self._vstream.width
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame[:h, :w]), format="rgb24")
        vf.pts = self._frames
        vf.time_base = Fraction(1, self.fps)
        self._mux(self._vstream.encode(vf))
        self._frames += 1
        self._write_audio_until(self._frames * self.sample_rate // self.fps)

    def _write_audio_until(self, end: int) -> None:
        if self._astream is None:
            return
        end = min(end, len(self.audio))
        while self._audio_pos + AUDIO_CHUNK <= end:
            self._encode_audio(self.audio[self._audio_pos:self._audio_pos + AUDIO_CHUNK])

    def _encode_audio(self, chunk: np.ndarray) -> None:
        af = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="flt", layout="mono")
        af.sample_rate = self.sample_rate
        af.pts = self._audio_pos
        af.time_base = Fraction(1, self.sample_rate)
        self._mux(self._astream.encode(af))
        self._audio_pos += len(chunk)

    def _mux(self, packets) -> None:
        for packet in packets:
            self._container.mux(packet)

    @property
    def frames_written(self) -> int:
        return self._frames

    def close(self) -> Path:
        """Flush encoders, finish the audio track and move the file into place."""
        if self._container is None:
            raise VideoWriteError("no frames were written; nothing to save")
        try:
            if self._astream is not None:
                self._write_audio_until(len(self.audio))
                tail = self.audio[self._audio_pos:]
                if len(tail):
                    self._encode_audio(tail)
                self._mux(self._astream.encode(None))
            self._mux(self._vstream.encode(None))
            self._container.close()
            self._container = None
            os.replace(self._tmp, self.path)
        except (OSError, av.FFmpegError) as e:
            self.abort()
            raise VideoWriteError(f"writing {self.path} failed: {e}") from e
        return self.path

    def abort(self) -> None:
        """Discard the partial output (called on errors)."""
        if self._container is not None:
            try:
                self._container.close()
            except (OSError, av.FFmpegError):
                pass  # the file is deleted below; a close error changes nothing
            self._container = None
        self._tmp.unlink(missing_ok=True)


def write_video(path: str | os.PathLike, frames, fps: int, audio: np.ndarray | None = None,
                sample_rate: int = SAMPLE_RATE) -> Path:
    """Write an iterable of (H, W, 3) uint8 frames (+ optional mono audio) to ``path``; returns the path."""
    with VideoWriter(path, fps, audio=audio, sample_rate=sample_rate) as writer:
        for frame in frames:
            writer.write(frame)
    return writer.path
