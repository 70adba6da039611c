"""Where a stream's frames go outside Python: a virtual camera (pyvirtualcam) or an mp4 file.

``talkinghead stream`` drives a :class:`~talkinghead.stream.session.StreamSession` from an audio
file pushed in live-sized chunks and sends every frame to the chosen sinks:

* :class:`VirtualCameraSink`: a system camera device other programs (video calls, OBS) can pick.
  pyvirtualcam needs a backend the OS provides (v4l2loopback on Linux, OBS's virtual camera on
  Windows/macOS, Unity Capture); without one it fails with a
  :class:`~talkinghead.errors.DependencyError` that says what to install. A camera carries
  pictures only: the audio of each frame is in ``frame.audio`` for whoever plays it.
* :class:`FileSink`: an mp4 (H.264 + AAC) of the stream, for checking it (atomic write).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from ..errors import DependencyError
from ..timing import FPS, SAMPLE_RATE
from ..video.writer import VideoWriter
from .session import StreamFrame

CAMERA_HINTS = {
    "linux": "load the v4l2loopback kernel module (sudo modprobe v4l2loopback devices=1)",
    "win32": "install OBS Studio (its virtual camera) or Unity Capture",
    "darwin": "install OBS Studio and start its virtual camera once",
}


def open_virtual_camera(width: int, height: int, fps: int = FPS, device: str | None = None):
    """A pyvirtualcam camera, or :class:`DependencyError` saying what the OS lacks."""
    try:
        import pyvirtualcam
    except ImportError as e:
        raise DependencyError("--virtual-camera needs pyvirtualcam: pip install 'talkinghead[stream]'") from e
    try:
        return pyvirtualcam.Camera(width=width, height=height, fps=fps, device=device)
    except RuntimeError as e:  # pyvirtualcam's error when no backend/device is available
        hint = CAMERA_HINTS.get(sys.platform, "install a virtual camera backend pyvirtualcam supports")
        raise DependencyError(f"no virtual camera device is available ({e}); {hint}") from e


class VirtualCameraSink:
    """Sends frames to a virtual camera, paced by the camera's own clock (``sleep_until_next_frame``)."""

    def __init__(self, width: int, height: int, fps: int = FPS, device: str | None = None):
        self.camera = open_virtual_camera(width, height, fps, device)
        self.size = (height, width)

    @property
    def device(self) -> str:
        return self.camera.device

    def write(self, frame: StreamFrame) -> None:
        image = frame.image
        if image.shape[:2] != self.size:
            import cv2

            image = cv2.resize(image, self.size[::-1], interpolation=cv2.INTER_AREA)
        self.camera.send(np.ascontiguousarray(image))
        self.camera.sleep_until_next_frame()

    def close(self) -> None:
        self.camera.close()


class FileSink:
    """Writes frames + the 16 kHz audio they carry to an mp4 (the stream's audio is known in full
    in advance here: ``audio`` is what will be pushed; frames carry the same samples)."""

    def __init__(self, path: str | os.PathLike, audio: np.ndarray, fps: int = FPS):
        self.path = Path(path)
        self._writer = VideoWriter(self.path, fps, audio=audio, sample_rate=SAMPLE_RATE)

    def write(self, frame: StreamFrame) -> None:
        self._writer.write(frame.image)

    def close(self) -> Path:
        return self._writer.close()

    def abort(self) -> None:
        self._writer.abort()
