"""Time bases shared by every stage: audio sample rate, video frame rate, alignment.

Video frame ``i`` covers audio ``[i * SAMPLES_PER_FRAME, (i + 1) * SAMPLES_PER_FRAME)``
samples, i.e. ``[40 i ms, 40 (i + 1) ms)`` at the default 25 fps.
"""

import math

SAMPLE_RATE = 16_000  # Hz; Whisper's input rate, every audio path resamples to it
FPS = 25  # video frames per second of the motion model (and default output)
SAMPLES_PER_FRAME = SAMPLE_RATE // FPS  # 640 samples = 40 ms of audio per video frame
WHISPER_HOP = 160  # samples per mel frame (10 ms), fixed by Whisper's front-end
MEL_FRAMES_PER_VIDEO_FRAME = SAMPLES_PER_FRAME // WHISPER_HOP  # 4 mel frames
ENCODER_FRAMES_PER_VIDEO_FRAME = 2  # Whisper's encoder halves the mel rate: 50 Hz -> 25 fps

SUPPORTED_FPS = (25, 30)


def num_frames(num_samples: int, fps: int = FPS, sample_rate: int = SAMPLE_RATE) -> int:
    """Number of video frames that cover ``num_samples`` of audio: ``ceil(duration * fps)``."""
    return math.ceil(num_samples * fps / sample_rate - 1e-9)
