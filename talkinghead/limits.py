"""Input limits enforced at every entry point (API, CLI, app, servers), with documented defaults.

=====================  =============  ===================================  ==================================
limit                  default        environment variable                 enforced
=====================  =============  ===================================  ==================================
``max_audio_seconds``  3600 (1 h)     ``TALKINGHEAD_MAX_AUDIO_SECONDS``    ``TalkingHead.generate`` /
                                                                           ``talkinghead.generate`` /
                                                                           ``talkinghead generate``: from the
                                                                           file header before decoding, then
                                                                           the decoded length; a
                                                                           ``StreamSession``'s total audio
                                                                           (pushed + inserted silence), so
                                                                           every ``talkinghead serve`` peer
``max_image_pixels``   50 000 000     ``TALKINGHEAD_MAX_IMAGE_PIXELS``     portraits (files, arrays, uploads):
                                                                           from the header before decoding
``max_upload_bytes``   100 MiB        ``TALKINGHEAD_MAX_UPLOAD_BYTES``     bytes of one upload to ``talkinghead
                                                                           serve`` (``Content-Length`` and the
                                                                           server's body limit) and the app;
                                                                           local files are limited by their
                                                                           decoded length/pixels instead (an
                                                                           hour of 16 kHz WAV is 115 MB)
=====================  =============  ===================================  ==================================

Fixed bounds next to these: a WebRTC offer (signalling JSON) is at most 256 KiB
(:data:`talkinghead.stream.server.MAX_OFFER_BYTES`); Pillow refuses images above 2 x 89 MP on its own
(decompression-bomb guard), reported as :class:`~talkinghead.errors.InputLimitError` too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .errors import InputLimitError

ENV_PREFIX = "TALKINGHEAD_"


@dataclass(frozen=True)
class Limits:
    """Upper bounds on what a caller may submit."""

    max_audio_seconds: float = 3600.0
    max_image_pixels: int = 50_000_000
    max_upload_bytes: int = 100 * 1024 * 1024

    @classmethod
    def from_env(cls) -> "Limits":
        """Defaults overridden by ``TALKINGHEAD_MAX_*`` environment variables."""
        values = {}
        for name, kind in (("max_audio_seconds", float), ("max_image_pixels", int), ("max_upload_bytes", int)):
            raw = os.environ.get(ENV_PREFIX + name.upper())
            if raw is not None:
                try:
                    values[name] = kind(raw)
                except ValueError:
                    raise InputLimitError(f"{ENV_PREFIX + name.upper()}={raw!r} is not a number") from None
        return cls(**values)

    def check_audio_seconds(self, seconds: float) -> None:
        if seconds > self.max_audio_seconds:
            raise InputLimitError(f"audio is {seconds:.1f} s long; the limit is {self.max_audio_seconds:g} s "
                                  f"(raise it with {ENV_PREFIX}MAX_AUDIO_SECONDS or split the audio)")

    def check_upload_bytes(self, size: int) -> None:
        if size > self.max_upload_bytes:
            raise InputLimitError(f"upload is {size} bytes; the limit is {self.max_upload_bytes} "
                                  f"({ENV_PREFIX}MAX_UPLOAD_BYTES)")
