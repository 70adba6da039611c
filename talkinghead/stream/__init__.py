"""Live streaming: push audio chunks, get lip-synced frames in lock-step (see :mod:`.session`).

:class:`StreamSession` is the core (one avatar, one stream, background workers);
:class:`RealtimeStream` paces it in wall-clock time and fills underruns with idle frames. The
WebRTC server (:mod:`.server`, ``talkinghead serve``) and the virtual-camera / file sinks
(:mod:`.sinks`, ``talkinghead stream``) are built on them and need the ``[stream]`` extra.
"""

from .realtime import RealtimeStream
from .session import DEFAULT_WINDOW, StreamFrame, StreamSession, audio_needed

__all__ = ["DEFAULT_WINDOW", "RealtimeStream", "StreamFrame", "StreamSession", "audio_needed"]
