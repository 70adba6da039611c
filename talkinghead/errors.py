"""Exception types raised at talkinghead's boundaries.

Every error a user can cause derives from :class:`TalkingHeadError`, so an
application can catch one type.  Messages say what went wrong *and* what to do.
"""


class TalkingHeadError(Exception):
    """Base class for every error talkinghead raises on bad input or environment."""


class InvalidImageError(TalkingHeadError, ValueError):
    """The portrait could not be read as an image (missing, empty, truncated, not an image)."""


class NoFaceError(TalkingHeadError, ValueError):
    """No usable face was found in the portrait."""


class FaceTooSmallError(NoFaceError):
    """A face was found but is smaller than the documented minimum size."""


class InvalidAudioError(TalkingHeadError, ValueError):
    """The audio could not be read or is unusable (empty, corrupt, non-finite, too short)."""


class InputLimitError(TalkingHeadError, ValueError):
    """An input exceeds a configured limit (audio length, image pixels, upload bytes)."""


class InvalidControlError(TalkingHeadError, ValueError):
    """A generation control has an unknown name, a wrong type or is out of range."""


class ModelNotFoundError(TalkingHeadError, FileNotFoundError):
    """A model name, path or hub id could not be resolved; the message lists what is available."""


class ChecksumError(TalkingHeadError):
    """A weights file does not match its pinned sha256 (corrupt or unexpected download)."""


class DependencyError(TalkingHeadError, RuntimeError):
    """An optional dependency or system tool (espeak-ng, pyvirtualcam, ...) is missing."""


class VideoWriteError(TalkingHeadError, OSError):
    """The output video could not be written (missing folder, a folder in its place, full disk, encoder
    failure); nothing is left behind: outputs are written to a temporary sibling and renamed."""
