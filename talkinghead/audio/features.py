"""Whisper encoder features for the motion model: the ONE windowing used by training data and inference.

Everything that turns audio into motion-model features goes through :func:`encode_windows`:
offline (:func:`whisper_features`), training-data generation (same function) and streaming
(:class:`~talkinghead.audio.streaming.StreamingFeatures`). So a model only ever sees features
computed exactly as they will be at run time.

Windowing (:class:`WindowConfig`, lengths in 40 ms video frames)
----------------------------------------------------------------
The clip is cut into blocks of ``B = block_frames`` video frames. Block ``k`` (frames
``[kB, kB + B)``) is encoded in its own window spanning video frames ``[kB - L, kB + B + A)``:
``L = left_context_frames`` of past audio and ``A = lookahead_frames`` of future audio. Audio
before the clip start or after its end is zeros. After the look-ahead, ``P = trailing_silence_frames``
of digital silence are appended: Whisper was trained on 30 s segments whose speech is followed by
zero padding, so a window that ends in silence looks in-distribution at its right edge, whereas a
window cut off mid-speech does not (measured below). Every window has the same length, so shapes
are fixed (good for batching and export). Each window is encoded on its own: its positional
embedding rows are ``0 .. 2(W + P) - 1`` (``W = L + B + A``), i.e. every window looks to Whisper like
the start of a recording, as its training segments do; only the block's ``2B`` encoder frames are kept.

Mel framing and alignment
-------------------------
Mel frame ``m`` is the 25 ms window of samples ``[160 m - 40, 160 m + 360)``, centred on sample
``160 (m + 1)``. Whisper's two convolutions (the second with stride 2) make encoder frame ``j``
centred on mel frame ``2 j``: time ``20 j + 10`` ms, so it stands for ``[20 j, 20 j + 20)`` ms.
Video frame ``i`` covers ``[40 i, 40 (i + 1))`` ms (:mod:`talkinghead.timing`); its feature is the
concatenation ``[enc[2i], enc[2i+1]]`` (``2 * d_model`` values, 768 for tiny.en, 1024 for base),
centred on ``40 i + 20`` ms, the middle of its interval. Stacking (not averaging) keeps the 20 ms
detail, which matters for fast lip closures.

Log-mel floor: Whisper floors each clip at its own ``max - 8``, which depends on audio not heard
yet; here the floor is the fixed ``LOG_MEL_FLOOR`` of :mod:`talkinghead.audio.mel` so streaming
equals offline.

What each frame sees
--------------------
Window ``k`` ends at sample ``640 (kB + B + A) + 200`` (the last mel frame reaches 12.5 ms past the
last frame boundary). Frame ``i = kB + r`` (``0 <= r < B``) therefore sees
``40 (B - 1 - r + A) + 12.5`` ms of audio past the end of its own interval: from ``40 A + 12.5``
ms (last frame of a block) to ``40 (A + B - 1) + 12.5`` ms (first frame), and ``40 (L + r)``
ms (+2.5 ms) before its start. Streaming latency of the first frame of a block is block fill plus
look-ahead, ``40 (B + A) + 12.5`` ms of audio, plus the encoder's compute on one window.

Defaults (B=2, L=16, A=2, P=4), measured on this 2-core CPU with tiny.en
-------------------------------------------------------------------------
* Latency: a block waits for ``40 (B + A) + 12.5 = 172.5`` ms of audio, plus ~16 ms to encode one
  48-position window: ~190 ms, inside the 250 ms first-frame budget with room for the generator.
  ``A = 3`` would cost 40 ms more; ``B = 1`` doubles the windows per second.
* Quality proxy: how much of Whisper's native representation survives, as the cross-validated R^2
  of a ridge map from windowed features to the features of the same clip encoded in one 30 s
  segment (six English clips; 0.89 = same-features ceiling). It grows with look-ahead and context:
  (B, L, A, P) = (2, 12, 2, 0) 0.32; (2, 12, 2, 4) 0.39; (2, 16, 2, 4) 0.43; (2, 24, 2, 4) 0.48;
  (2, 25, 4, 0) 0.54; (4, 12, 0, 4) 0.30. Four frames of trailing silence buy as much as ~2 frames
  of extra look-ahead, at no latency.
* Cost: offline 83-86 ms per audio second (tiny.en; base about 3x) for (2, 16, 2, 4), versus
  71 ms for L = 12 and 134 ms for L = 24: L = 16 is the largest context inside ~100 ms per second.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import TalkingHeadError
from ..timing import ENCODER_FRAMES_PER_VIDEO_FRAME, MEL_FRAMES_PER_VIDEO_FRAME, SAMPLES_PER_FRAME, num_frames
from .mel import FRAME_START_OFFSET, N_FFT, as_tensor, log_mel_frames

# Samples a window needs beyond its W * 640 frame samples: 40 before its first frame boundary
# (FRAME_START_OFFSET) and 200 past its last (N_FFT - FRAME_START_OFFSET - 160 = 200).
WINDOW_EXTRA_SAMPLES = N_FFT - SAMPLES_PER_FRAME // MEL_FRAMES_PER_VIDEO_FRAME  # 240
LOOKAHEAD_TAIL_SAMPLES = WINDOW_EXTRA_SAMPLES - FRAME_START_OFFSET  # 200 samples = 12.5 ms
DEFAULT_BATCH_WINDOWS = 32  # windows per encoder call offline (bounds memory on long clips)

# Defaults measured on this 2-core CPU with tiny.en: see "Defaults" in the module docstring.
DEFAULT_BLOCK_FRAMES = 2
DEFAULT_LEFT_CONTEXT_FRAMES = 16
DEFAULT_LOOKAHEAD_FRAMES = 2
DEFAULT_TRAILING_SILENCE_FRAMES = 4


@dataclass(frozen=True)
class WindowConfig:
    """How the audio is cut into encoder windows (all lengths in 40 ms video frames)."""

    block_frames: int = DEFAULT_BLOCK_FRAMES  # B: frames produced per window
    left_context_frames: int = DEFAULT_LEFT_CONTEXT_FRAMES  # L: past frames each window sees
    lookahead_frames: int = DEFAULT_LOOKAHEAD_FRAMES  # A: future frames each window sees
    trailing_silence_frames: int = DEFAULT_TRAILING_SILENCE_FRAMES  # P: zeros appended to each window

    def __post_init__(self):
        if min(self.left_context_frames, self.lookahead_frames, self.trailing_silence_frames) < 0 \
                or self.block_frames < 1:
            raise TalkingHeadError(f"invalid {self}: need block_frames >= 1 and the other lengths >= 0")

    @property
    def window_frames(self) -> int:
        """W = L + B + A video frames per window."""
        return self.left_context_frames + self.block_frames + self.lookahead_frames

    @property
    def window_samples(self) -> int:
        """Samples one window reads: W * 640 + 240."""
        return self.window_frames * SAMPLES_PER_FRAME + WINDOW_EXTRA_SAMPLES

    @property
    def block_samples(self) -> int:
        """Hop between consecutive windows: B * 640 samples."""
        return self.block_frames * SAMPLES_PER_FRAME

    @property
    def lead_samples(self) -> int:
        """Zeros placed before the clip so window 0 starts L frames (+40 samples) early."""
        return self.left_context_frames * SAMPLES_PER_FRAME + FRAME_START_OFFSET

    @property
    def encoder_positions(self) -> int:
        """Encoder frames per window: 2 (W + P)."""
        return ENCODER_FRAMES_PER_VIDEO_FRAME * (self.window_frames + self.trailing_silence_frames)

    def first_frame_audio_ms(self) -> float:
        """Audio (ms from the stream start) needed before the first block can be computed."""
        return 1e3 * ((self.block_frames + self.lookahead_frames) * SAMPLES_PER_FRAME
                      + LOOKAHEAD_TAIL_SAMPLES) / 16_000


def feature_dim(encoder: torch.nn.Module) -> int:
    """Values per video frame: two stacked encoder frames, ``2 * d_model``."""
    if hasattr(encoder, "feature_dim"):  # a compiled window encoder (see encode_windows)
        return int(encoder.feature_dim)
    return ENCODER_FRAMES_PER_VIDEO_FRAME * encoder.config.d_model


def encode_mel(encoder: torch.nn.Module, mel: torch.Tensor) -> torch.Tensor:
    """Run a transformers ``WhisperEncoder``'s modules on mel of any even length ``T <= 3000``.

    ``mel`` ``(N, n_mels, T)`` -> hidden states ``(N, T // 2, d_model)``, positions ``0 .. T/2 - 1``.
    Same math as the stock forward (which only accepts T = 3000), in eval mode.
    """
    positions = mel.shape[-1] // 2
    assert mel.shape[-1] % 2 == 0 and positions <= encoder.embed_positions.num_embeddings, mel.shape
    x = F.gelu(encoder.conv1(mel))  # (N, D, T)
    x = F.gelu(encoder.conv2(x)).transpose(1, 2)  # (N, T/2, D)
    x = x + encoder.embed_positions.weight[:positions]
    for layer in encoder.layers:
        x = x + _self_attention(layer.self_attn, layer.self_attn_layer_norm(x))
        x = x + layer.fc2(layer.activation_fn(layer.fc1(layer.final_layer_norm(x))))
    return encoder.layer_norm(x)  # (N, T/2, D)


def _self_attention(attn: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Whisper's multi-head self-attention without mask, via scaled_dot_product_attention."""
    n, t, d = x.shape
    heads = attn.num_heads

    def split(y: torch.Tensor) -> torch.Tensor:
        return y.view(n, t, heads, d // heads).transpose(1, 2)  # (N, H, T, Dh)

    out = F.scaled_dot_product_attention(split(attn.q_proj(x)), split(attn.k_proj(x)), split(attn.v_proj(x)))
    return attn.out_proj(out.transpose(1, 2).reshape(n, t, d))  # (N, T, D)


def encode_windows(encoder: torch.nn.Module, windows: torch.Tensor, config: WindowConfig) -> torch.Tensor:
    """Features of the blocks of a batch of windows.

    ``windows`` ``(K, config.window_samples)`` raw 16 kHz samples, window ``k`` starting 40 samples
    before its first video frame -> ``(K, B, 2 * d_model)``: the B block frames of each window.
    """
    assert windows.shape[-1] == config.window_samples, (windows.shape, config)
    if hasattr(encoder, "encode_windows"):  # a compiled window encoder, e.g. talkinghead.export's ONNX graph
        return encoder.encode_windows(windows)
    param = encoder.conv1.weight
    windows = windows.to(device=param.device, dtype=torch.float32)
    windows = F.pad(windows, (0, config.trailing_silence_frames * SAMPLES_PER_FRAME))  # (K, S + 640 P)
    mel = log_mel_frames(windows, encoder.config.num_mel_bins)  # (K, M, 4 (W + P))
    hidden = encode_mel(encoder, mel.to(param.dtype))  # (K, 2W, D)
    start = ENCODER_FRAMES_PER_VIDEO_FRAME * config.left_context_frames
    block = hidden[:, start:start + ENCODER_FRAMES_PER_VIDEO_FRAME * config.block_frames]  # (K, 2B, D)
    return block.reshape(block.shape[0], config.block_frames, -1).float()  # (K, B, 2D)


@torch.inference_mode()
def whisper_features(audio, encoder: torch.nn.Module, config: WindowConfig | None = None,
                     batch_windows: int = DEFAULT_BATCH_WINDOWS) -> torch.Tensor:
    """Per-video-frame features of 16 kHz mono ``audio`` ``(n,)`` -> ``(ceil(n / 640), 2 * d_model)`` on CPU.

    This is the offline path; :class:`~talkinghead.audio.streaming.StreamingFeatures` yields the
    same frames from chunks, :func:`iter_whisper_features` these very frames batch by batch.
    """
    out = list(iter_whisper_features(audio, encoder, config, batch_windows))
    return torch.cat(out) if out else torch.zeros(0, feature_dim(encoder))  # (F, 2D)


def iter_whisper_features(audio, encoder: torch.nn.Module, config: WindowConfig | None = None,
                          batch_windows: int = DEFAULT_BATCH_WINDOWS) -> Iterator[torch.Tensor]:
    """:func:`whisper_features` one encoder batch at a time: ``(k, 2 * d_model)`` tensors whose
    concatenation is exactly ``whisper_features(audio)`` (the same batches), so a long clip can be
    consumed without holding all its features (an hour of them is 280 MB)."""
    config = config or WindowConfig()
    _check_fits(encoder, config)
    samples = as_tensor(audio)
    total = num_frames(samples.shape[-1])
    if total == 0:
        return
    blocks = math.ceil(total / config.block_frames)
    padded_len = (blocks - 1) * config.block_samples + config.window_samples
    padded = F.pad(samples, (config.lead_samples, padded_len - config.lead_samples - samples.shape[-1]))
    windows = padded.unfold(0, config.window_samples, config.block_samples)  # (K, window_samples) view
    for i in range(0, blocks, batch_windows):
        with torch.inference_mode():
            feats = encode_windows(encoder, windows[i:i + batch_windows], config).cpu()
        first = i * config.block_frames
        yield feats.reshape(-1, feature_dim(encoder))[:max(0, total - first)]  # (k, 2D)


def _check_fits(encoder: torch.nn.Module, config: WindowConfig) -> None:
    compiled_for = getattr(encoder, "window_config", None)
    if compiled_for is not None:  # compiled encoders run exactly one window shape
        if compiled_for != config:
            raise TalkingHeadError(f"this compiled encoder was exported for {compiled_for}, not {config}")
        return
    positions = config.encoder_positions
    if positions > encoder.embed_positions.num_embeddings:
        raise TalkingHeadError(f"{config} needs {positions} encoder positions; this Whisper has "
                               f"{encoder.embed_positions.num_embeddings} (30 s): shorten the window")
