"""WebRTC media for one peer: its audio track in, the avatar's video and audio tracks out (aiortc).

:class:`AvatarPeer` owns one :class:`~talkinghead.stream.session.StreamSession`: a task reads the
peer's audio track and pushes every frame into the session (any rate and layout the decoder
gives); another task pulls paced frames (:class:`~talkinghead.stream.realtime.RealtimeStream`, which
turns gaps in the incoming audio into idle frames) and hands each one to both outgoing tracks at the
same moment: the picture to :class:`AvatarVideoTrack` (90 kHz RTP clock, ``pts = index * 3600``)
and the frame's own 40 ms of audio, as two 20 ms packets, to :class:`AvatarAudioTrack`. Because
both come from the same :class:`StreamFrame` at the same instant, the audio leaves in sync with
the picture it belongs to.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import time
from collections import deque

import numpy as np

from ..errors import DependencyError, TalkingHeadError
from ..timing import SAMPLE_RATE, SAMPLES_PER_FRAME
from .realtime import RealtimeStream
from .session import StreamFrame, StreamSession

try:
    import av
    from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise DependencyError("WebRTC streaming needs aiortc: pip install 'talkinghead[stream]'") from e

log = logging.getLogger(__name__)

VIDEO_CLOCK_RATE = 90_000  # RTP clock of video
AUDIO_PACKET_SAMPLES = SAMPLES_PER_FRAME // 2  # 20 ms at 16 kHz: one Opus packet
TRACK_QUEUE_FRAMES = 12  # video frames held if the video sender falls behind (older ones give way: pts keep sync)
AUDIO_QUEUE_PACKETS = 500  # 10 s: audio is never dropped in practice (its RTP clock counts samples, so a drop
#                            would shift it against the video); the bound only matters if nobody reads the track
SEND_LOG_FRAMES = 4000  # (index, kind, time) records kept for A/V measurements


class _TrackQueue:
    """A small queue whose oldest item gives way when full (a stalled sender never stalls the other)."""

    def __init__(self, size: int):
        self._queue: asyncio.Queue = asyncio.Queue(maxsize=size)

    def offer(self, item) -> None:
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(item)

    async def get(self):
        return await self._queue.get()


class AvatarVideoTrack(MediaStreamTrack):
    """The avatar's frames as a WebRTC video track (largest side limited to ``max_side``)."""

    kind = "video"

    def __init__(self, peer: "AvatarPeer", max_side: int):
        super().__init__()
        self._peer, self._max_side = peer, max_side
        self.queue = _TrackQueue(TRACK_QUEUE_FRAMES)

    async def recv(self):
        frame: StreamFrame | None = await self.queue.get()
        if frame is None or self.readyState != "live":
            self.stop()
            raise MediaStreamError
        video = av.VideoFrame.from_ndarray(_fit(frame.image, self._max_side), format="rgb24")
        video.pts = frame.index * VIDEO_CLOCK_RATE // frame.fps
        video.time_base = fractions.Fraction(1, VIDEO_CLOCK_RATE)
        self._peer.log_send(frame.index, "video")
        return video


class AvatarAudioTrack(MediaStreamTrack):
    """The audio each frame carries, 16 kHz mono, in 20 ms packets."""

    kind = "audio"

    def __init__(self, peer: "AvatarPeer"):
        super().__init__()
        self._peer = peer
        self.queue = _TrackQueue(AUDIO_QUEUE_PACKETS)

    async def recv(self):
        item = await self.queue.get()
        if item is None or self.readyState != "live":
            self.stop()
            raise MediaStreamError
        index, part, samples = item
        pcm = np.clip(np.rint(samples * 32767.0), -32768, 32767).astype(np.int16)
        audio = av.AudioFrame.from_ndarray(pcm[None], format="s16", layout="mono")
        audio.sample_rate = SAMPLE_RATE
        audio.pts = index * SAMPLES_PER_FRAME + part * AUDIO_PACKET_SAMPLES
        audio.time_base = fractions.Fraction(1, SAMPLE_RATE)
        if part == 0:
            self._peer.log_send(index, "audio")
        return audio


class AvatarPeer:
    """Session + tracks + tasks of one peer connection; :meth:`close` frees all of it."""

    def __init__(self, session: StreamSession, max_side: int = 720, slack_s: float | None = None,
                 margin_s: float | None = None):
        self.session = session
        kwargs = {k: v for k, v in (("slack_s", slack_s), ("margin_s", margin_s)) if v is not None}
        self.realtime = RealtimeStream(session, **kwargs)
        self.video = AvatarVideoTrack(self, max_side)
        self.audio = AvatarAudioTrack(self)
        self.send_log: deque[tuple[int, str, float]] = deque(maxlen=SEND_LOG_FRAMES)
        self.first_input_time: float | None = None
        self._tasks: list[asyncio.Task] = []
        self._closed = False
        self.ended = asyncio.Event()  # set when the outgoing stream is over (input limit, failed session)

    def start(self) -> None:
        """Start pacing frames out (idle until audio arrives)."""
        self._tasks.append(asyncio.ensure_future(self._pace()))

    def attach_input(self, track) -> None:
        """Feed the peer's audio track into the session."""
        self._tasks.append(asyncio.ensure_future(self._consume(track)))

    def log_send(self, index: int, kind: str) -> None:
        self.send_log.append((index, kind, time.monotonic()))

    async def _consume(self, track) -> None:
        while not self._closed:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            samples, sr = audio_frame_samples(frame)
            if self.first_input_time is None:
                self.first_input_time = time.monotonic()
            try:
                self.session.push(samples, sr, block=False)
            except TalkingHeadError as e:  # over a limit (far behind real time, total audio) or closed
                log.warning("stopping peer input: %s", e)
                self._end_session()
                return

    def _end_session(self) -> None:
        """No more input: the stream ends after the frames of the audio received (then :attr:`ended`)."""
        try:
            self.session.finish()
        except TalkingHeadError:
            pass  # already finishing or closed: it ends anyway

    async def _pace(self) -> None:
        try:
            async for frame in self.realtime:
                if self._closed:
                    break
                self.video.queue.offer(frame)
                self.audio.queue.offer((frame.index, 0, frame.audio[:AUDIO_PACKET_SAMPLES]))
                self.audio.queue.offer((frame.index, 1, frame.audio[AUDIO_PACKET_SAMPLES:]))
        except Exception:  # a failed worker: this peer's stream ends, the server goes on
            log.exception("stream session failed")
        finally:
            self.video.queue.offer(None)
            self.audio.queue.offer(None)
            self.ended.set()

    async def close(self) -> None:
        """Cancel the tasks, stop the tracks and close the session (its threads are joined off-loop)."""
        if self._closed:
            return
        self._closed = True
        for task in self._tasks:
            task.cancel()
        # closing the session ends its frame stream, so the tasks end even if a cancellation got lost
        await asyncio.get_running_loop().run_in_executor(None, self.session.close)
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.video.stop()
        self.audio.stop()


def audio_frame_samples(frame) -> tuple[np.ndarray, int]:
    """An ``av.AudioFrame`` -> ``(samples, channels)`` array and its sample rate."""
    data = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if frame.format.is_planar:
        samples = data.T  # (channels, n) -> (n, channels)
    else:
        samples = data.reshape(-1, channels)  # packed: (1, n * channels)
    return samples, int(frame.sample_rate)


def _fit(image: np.ndarray, max_side: int) -> np.ndarray:
    """Downscale (area) so the larger side is at most ``max_side``; even sizes for the encoder."""
    import cv2

    h, w = image.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    size = (max(2, int(w * scale) // 2 * 2), max(2, int(h * scale) // 2 * 2))
    if size == (w, h):
        return image
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)
