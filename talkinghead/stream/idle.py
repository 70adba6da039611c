"""Idle mode: while a stream plays silence the session inserted, the mouth rests closed.

When no audio arrives (an underrun) or the speaker finished, a
:class:`~talkinghead.stream.session.StreamSession` feeds silence, and the motion model keeps
generating from it: head motion and blinks go on, so the avatar idles instead of freezing. The
session *knows* those frames are silence it made up, so it also guarantees the mouth rests closed
there, whatever the model does with silence: the raw mouth/jaw channels are eased to zero over
:data:`IDLE_RAMP_FRAMES` after the last frame with real audio, and return at once with the next real
audio (speech starts from a closed mouth anyway). It is an exact edit in motion space, applied
before the user's controls (so an expression preset's smile survives idling), and it touches only
inserted-silence frames: audio a caller pushes, silent or not, is animated as the model says.
"""

from __future__ import annotations

import numpy as np

from ..motion.channels import CHANNEL_INDEX, MOUTH_CHANNELS

IDLE_RAMP_FRAMES = 4  # 160 ms: about the time a mouth takes to close after the last phoneme
MOUTH_COLUMNS = tuple(CHANNEL_INDEX[n] for n in MOUTH_CHANNELS)


class IdleMouthGate:
    """Stateful across windows: remembers how many inserted-silence frames have passed."""

    def __init__(self, ramp_frames: int = IDLE_RAMP_FRAMES):
        self.ramp = max(1, int(ramp_frames))
        self._silent_run = 0  # inserted-silence frames since the last real-audio frame

    def __call__(self, values: np.ndarray, inserted: np.ndarray) -> np.ndarray:
        """Raw motion (T, 37) and per-frame inserted-silence flags (T,) -> gated copy (T, 37)."""
        gain = np.ones(len(values), np.float32)
        for i, silent in enumerate(inserted):
            self._silent_run = self._silent_run + 1 if silent else 0
            gain[i] = max(0.0, 1.0 - self._silent_run / self.ramp)
        if (gain == 1).all():
            return values
        out = np.array(values, np.float32, copy=True)
        out[:, list(MOUTH_COLUMNS)] *= gain[:, None]
        return out
