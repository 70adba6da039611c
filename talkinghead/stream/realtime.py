"""Real-time pacing: one frame every 1/fps s of wall time, silence fed in when the audio runs out.

:class:`RealtimeStream` wraps a :class:`~talkinghead.stream.session.StreamSession` for consumers
that play frames live (a WebRTC track, a virtual camera, a window):

* **Audio clock.** From :meth:`start`, the stream's audio must keep up with the wall clock: while
  the producer's audio horizon lags more than ``slack_s`` behind, the gap is filled with silence
  (:meth:`StreamSession.pad_silence <talkinghead.stream.session.StreamSession.pad_silence>`), so an
  underrun (the speaker stopped, a TTS finished, the network stalled) turns into idle frames
  instead of a frozen picture. Audio pushed later continues after the inserted silence, so the
  avatar recovers as soon as speech resumes.
* **Video clock.** Frame ``i`` is handed out at ``anchor + pts``; the anchor is the first frame's
  ready time plus ``margin_s`` (headroom for compute jitter between windows). A frame that is not
  ready by its time is handed out late, never dropped, and the schedule moves by the delay
  (``late_frames`` and ``stall_s`` count this).

Both a blocking iterator and ``async for`` are offered; they share the same logic.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

from .session import StreamFrame, StreamSession

DEFAULT_SLACK_S = 0.10  # how far the producer's audio may lag the wall clock (jitter) before silence fills in
DEFAULT_MARGIN_S = 0.12  # headroom after the first frame for compute jitter of later windows
FEED_PERIOD_S = 0.02  # how often the audio clock is checked while waiting
LATE_TOLERANCE_S = 0.005  # a frame later than this counts as late and moves the schedule


class RealtimeStream:
    """Paced frames of a session (see the module docstring)."""

    def __init__(self, session: StreamSession, slack_s: float = DEFAULT_SLACK_S, margin_s: float = DEFAULT_MARGIN_S,
                 clock=time.monotonic):
        self.session = session
        self.slack_s, self.margin_s = float(slack_s), float(margin_s)
        self._clock = clock
        self._start: float | None = None
        self._anchor: float | None = None  # wall time of pts 0
        self.frames_delivered = 0
        self.late_frames = 0
        self.stall_s = 0.0

    def start(self) -> None:
        """Start the audio clock now (the first frame request starts it otherwise)."""
        if self._start is None:
            self._start = self._clock()

    def feed(self) -> int:
        """Fill an underrun up to ``now - slack``; returns the samples inserted."""
        self.start()
        return self.session.pad_silence(self._clock() - self._start - self.slack_s)

    # -- blocking ---------------------------------------------------------------------------
    def next_frame(self) -> StreamFrame | None:
        """Wait for the next frame's due time and return it; None when the session ended."""
        while True:
            self.feed()
            try:
                frame = self.session.get(timeout=FEED_PERIOD_S)
                break
            except TimeoutError:
                continue
        if frame is None:
            return None
        while (wait := self._due(frame) - self._clock()) > 0:
            time.sleep(min(wait, FEED_PERIOD_S))
            self.feed()
        return self._delivered(frame)

    def __iter__(self) -> Iterator[StreamFrame]:
        while (frame := self.next_frame()) is not None:
            yield frame

    # -- asyncio ----------------------------------------------------------------------------
    async def anext_frame(self) -> StreamFrame | None:
        """``await`` version of :meth:`next_frame` (never blocks the event loop).

        One pending ``aget`` is polled with ``asyncio.wait`` (not ``wait_for``, whose cancel-on-timeout
        can swallow a cancellation of the caller on Python 3.11: a closed peer's pacing task then never
        ended and its session was never freed)."""
        getter = asyncio.ensure_future(self.session.aget())
        try:
            while True:
                self.feed()
                done, _ = await asyncio.wait({getter}, timeout=FEED_PERIOD_S)
                if done:
                    frame = getter.result()
                    break
        finally:
            if not getter.done():
                getter.cancel()
        if frame is None:
            return None
        while (wait := self._due(frame) - self._clock()) > 0:
            await asyncio.sleep(min(wait, FEED_PERIOD_S))
            self.feed()
        return self._delivered(frame)

    async def __aiter__(self) -> AsyncIterator[StreamFrame]:
        while (frame := await self.anext_frame()) is not None:
            yield frame

    # -- schedule ---------------------------------------------------------------------------
    def _due(self, frame: StreamFrame) -> float:
        if self._anchor is None:
            self._anchor = self._clock() + self.margin_s - frame.pts
        return self._anchor + frame.pts

    def _delivered(self, frame: StreamFrame) -> StreamFrame:
        late = self._clock() - self._due(frame)
        if late > LATE_TOLERANCE_S:
            self.late_frames += 1
            self.stall_s += late
            self._anchor += late
        self.frames_delivered += 1
        return frame
