"""The talking-head pipeline: audio -> Whisper features -> motion DiT -> controls -> renderer -> frames.

One pipeline serves both schedules: offline generation (here, long sampler windows) and
streaming (:mod:`talkinghead.stream`, short windows over the same stages).

    th = TalkingHead()                       # loads the models once
    avatar = th.register("portrait.jpg")     # per portrait, once
    result = th.generate(avatar, "speech.wav", pose_scale=0.5, expression="happy")
    th.save(result, "out.mp4")
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .audio.features import WindowConfig, feature_dim, iter_whisper_features, whisper_features
from .audio.io import load_audio
from .audio.streaming import StreamingFeatures
from .audio.whisper_models import load_whisper_encoder
from .diffusion.checkpoint import DEFAULT_MODEL, load_motion_model
from .diffusion.sampler import MotionWindower, SamplerConfig
from .errors import InvalidControlError
from .export.options import OnnxOptions
from .limits import Limits
from .motion.controls import Controls, apply_controls
from .motion.motion import Motion
from .motion.timebase import fit_length, resample_motion
from .render.base import Avatar, Renderer
from .timing import FPS, SAMPLE_RATE, SUPPORTED_FPS, num_frames
from .video.writer import VideoWriter

log = logging.getLogger(__name__)

BACKENDS = ("torch", "onnx")
OUTPUT_SIZES = ("full", "crop")
AVATAR_CACHE_SIZE = 8  # registered portraits kept per pipeline (keyed by image content)


@dataclass
class PipelineConfig:
    """Which models the pipeline loads and how it samples (one source of truth for defaults)."""

    motion_model: str = DEFAULT_MODEL  # registry name, .safetensors path or hub id
    renderer: str = "warp"  # "warp" (analytic, no weights) or "liveportrait" (neural; GPU path)
    renderer_weights: str | None = None  # liveportrait: weights folder or hub id (None: the talkinghead cache)
    renderer_config: object | None = None  # the renderer's config dataclass (e.g. WarpRendererConfig); None: defaults
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    render_batch: int = 8  # frames rendered per batch (bounded memory on long audio)
    limits: Limits = field(default_factory=Limits.from_env)
    onnx: OnnxOptions = field(default_factory=OnnxOptions)  # used with backend="onnx"


@dataclass
class Result:
    """A generated talking head: motion, audio and a lazily rendered frame stream.

    ``frames()`` renders on demand (a long video is never held in memory); ``timings`` holds
    seconds per stage measured so far.
    """

    avatar: Avatar
    motion: Motion  # (T, 37) at ``fps``
    audio: np.ndarray  # (n,) float32 at 16 kHz
    fps: int
    paste: bool
    renderer: Renderer
    batch_size: int
    timings: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return len(self.motion.values)

    @property
    def duration_s(self) -> float:
        return len(self.audio) / SAMPLE_RATE

    def frames(self) -> Iterator[np.ndarray]:
        """Yield (H, W, 3) uint8 frames; render time accumulates in ``timings["render_s"]``."""
        self.timings.setdefault("render_s", 0.0)
        it = self.renderer.frames(self.avatar, self.motion, batch_size=self.batch_size, paste=self.paste)
        while True:
            start = time.perf_counter()
            try:
                frame = next(it)
            except StopIteration:
                return
            self.timings["render_s"] += time.perf_counter() - start
            yield frame

    def to_array(self) -> np.ndarray:
        """All frames as one (T, H, W, 3) array (short clips only)."""
        return np.stack(list(self.frames()))


class TalkingHead:
    """Loads the audio encoder, motion model and renderer once; registers portraits; generates.

    Args:
        config: :class:`PipelineConfig` (defaults: shipped motion model, warp renderer).
        device: torch device for every model ("cpu", "cuda", ...); default CPU.
        backend: "torch" or "onnx" (onnxruntime; see :mod:`talkinghead.export`).
        progress: show tqdm progress bars (off by default in library use).
    """

    def __init__(self, config: PipelineConfig | None = None, device: str | None = None,
                 backend: str = "torch", progress: bool = False):
        if backend not in BACKENDS:
            raise InvalidControlError(f"backend must be one of {BACKENDS}, got {backend!r}")
        self.config = config or PipelineConfig()
        self.device = torch.device(device or "cpu")
        self.backend = backend
        self.progress = progress
        # The renderer first: a missing renderer or its weights fails before the big loads.
        self.renderer = _make_renderer(self.config.renderer, self.device, self.config.renderer_weights,
                                       self.config.renderer_config)
        self.motion_model, meta = load_motion_model(self.config.motion_model, self.device)
        audio_meta = meta["audio"]
        self.window = WindowConfig(**audio_meta["window"])
        self.encoder = load_whisper_encoder(audio_meta["encoder"], self.device)
        self.denoiser = self.motion_model  # what the sampler calls: the MotionDiT or its ONNX twin
        self._onnx = None
        if backend == "onnx":  # the same stages, computed by onnxruntime (talkinghead.export)
            from .export.runtime import OnnxBackend

            self._onnx = OnnxBackend(self.config.motion_model, self.motion_model, audio_meta["encoder"],
                                     self.encoder, self.window, self.renderer, self.config.onnx)
            self.denoiser, self.renderer = self._onnx.denoiser, self._onnx.renderer
        self._avatars: OrderedDict[str, Avatar] = OrderedDict()
        self._avatars_lock = threading.Lock()

    # -- registration ----------------------------------------------------------------------
    def register(self, portrait) -> Avatar:
        """Detect, crop and prepare a portrait (path, PIL image, RGB array or Avatar); cached by content."""
        if isinstance(portrait, Avatar):
            return portrait
        from .face import load_image

        image = load_image(_as_image_source(portrait), max_pixels=self.config.limits.max_image_pixels)
        key = hashlib.sha1(image.tobytes() + str(image.shape).encode()).hexdigest()
        with self._avatars_lock:  # sessions and app requests register from several threads
            if key in self._avatars:
                self._avatars.move_to_end(key)
                return self._avatars[key]
        avatar = self.renderer.register(image)
        with self._avatars_lock:
            self._avatars[key] = avatar
            while len(self._avatars) > AVATAR_CACHE_SIZE:
                self._avatars.popitem(last=False)
        return avatar

    # -- stages ----------------------------------------------------------------------------
    def features(self, audio: np.ndarray) -> torch.Tensor:
        """16 kHz audio (n,) -> Whisper features (ceil(n / 640), F) through the one windowing function."""
        if self._onnx is not None:
            return self._onnx.features(audio)
        return whisper_features(audio, self.encoder, self.window)

    def motion_from_features(self, features: torch.Tensor, seed: int = 0, steps: int | None = None,
                             guidance: float | None = None) -> np.ndarray:
        """Features (T, F) -> raw generated motion (T, 37) at 25 fps, before controls."""
        return self.motion_windower(seed, steps, guidance).generate(features).cpu().numpy()

    def motion_from_audio(self, audio: np.ndarray, seed: int = 0, steps: int | None = None,
                          guidance: float | None = None, timings: dict | None = None) -> np.ndarray:
        """16 kHz audio (n,) -> raw motion (ceil(n / 640), 37) at 25 fps, before controls: exactly
        ``motion_from_features(features(audio))``, but each encoder batch of features goes to the
        sampler as soon as whole windows are ready, so a long clip never holds all its features
        (an hour of them is 280 MB). Seconds per stage accumulate in ``timings``."""
        timings = {} if timings is None else timings
        if self._onnx is not None:  # the ONNX encoder runs one call per clip
            feats = self._timed(timings, "features_s", self.features, audio)
            return self._timed(timings, "motion_s", self.motion_from_features, feats, seed, steps, guidance)
        windower = self.motion_windower(seed, steps, guidance)
        window = windower.config.window  # whole windows per call: the same windows as one call
        batches = iter_whisper_features(audio, self.encoder, self.window)
        motion, pending = [], torch.zeros(0, feature_dim(self.encoder))
        while (feats := self._timed(timings, "features_s", next, batches, None)) is not None:
            pending = torch.cat([pending, feats])
            usable = len(pending) - len(pending) % window
            if usable:
                motion.append(self._timed(timings, "motion_s", windower.generate, pending[:usable]))
                pending = pending[usable:]
        if len(pending) or not motion:
            motion.append(self._timed(timings, "motion_s", windower.generate, pending))
        return torch.cat(motion).cpu().numpy()

    def motion_windower(self, seed: int = 0, steps: int | None = None, guidance: float | None = None,
                        window: int | None = None, prefix: int | None = None) -> MotionWindower:
        """The motion stage's scheduler: the offline path feeds it all frames at once, the streaming
        path (:mod:`talkinghead.stream`) one short window at a time; ``window``/``prefix`` override
        the configured sampler's."""
        sampler = _sampler_config(self.config.sampler, steps, guidance, window, prefix)
        return MotionWindower(self.denoiser, sampler, seed)

    def feature_stream(self) -> StreamingFeatures:
        """Incremental :meth:`features` for 16 kHz chunks (the same windows, the same frames)."""
        if self._onnx is not None:
            return self._onnx.feature_stream()
        return StreamingFeatures(self.encoder, self.window)

    # -- generation ------------------------------------------------------------------------
    def generate(self, avatar_or_portrait, audio=None, sr: int | None = None, *, text: str | None = None,
                 voice: str = "en-us", motion: Motion | None = None, seed: int = 0, steps: int | None = None,
                 guidance: float | None = None, fps: int = FPS, output_size: str = "full",
                 **controls) -> Result:
        """Generate a talking head (frames are rendered lazily by :meth:`Result.frames`).

        Exactly one of ``audio`` (path, or array with ``sr``), ``text`` (spoken with espeak-ng)
        or ``motion`` (drive from a given :class:`Motion`; ``audio`` may accompany it) is the
        source of motion. Controls: see :mod:`talkinghead.motion.controls`.
        """
        parsed = check_options(seed, steps, guidance, fps, output_size, **controls)
        timings: dict[str, float] = {}
        avatar = self._timed(timings, "register_s", self.register, avatar_or_portrait)
        samples = self._timed(timings, "audio_s", self._audio_input, audio, sr, text, voice, motion)
        if motion is None:
            raw = self.motion_from_audio(samples, seed, steps, guidance, timings)
            values = apply_controls(raw, parsed, FPS, seed=seed)
            generated = Motion(values, FPS)
            if fps != FPS:
                generated = fit_length(resample_motion(generated, fps), num_frames(len(samples), fps))
        else:
            generated = _driven_motion(motion, samples, fps, parsed, seed)
            if samples is None:
                samples = np.zeros(round(len(generated.values) * SAMPLE_RATE / fps), np.float32)
        return Result(avatar, generated, samples, fps, output_size == "full", self.renderer,
                      self.config.render_batch, timings)

    def save(self, result: Result, path: str | os.PathLike, motion_out: str | os.PathLike | None = None) -> Path:
        """Write the video (H.264 + AAC, atomic) and optionally the motion (.npz / .csv / .json)."""
        if motion_out is not None:
            check_motion_path(motion_out)  # before rendering: a bad name must not cost (or leave) a video
        bar = tqdm(total=result.num_frames, desc="render", unit="frame", disable=not self.progress)
        with VideoWriter(path, result.fps, audio=result.audio) as writer:
            for frame in result.frames():
                writer.write(frame)
                bar.update(1)
        bar.close()
        if motion_out is not None:
            save_motion(result.motion, motion_out)
        return Path(path)

    def _audio_input(self, audio, sr, text, voice, motion) -> np.ndarray | None:
        given = [name for name, v in (("audio", audio), ("text", text)) if v is not None]
        if len(given) > 1:
            raise InvalidControlError("give either audio or text, not both")
        if not given and motion is None:
            raise InvalidControlError("nothing to say: pass audio (a path, or an array with sr), text, or motion")
        if text is not None:
            samples = speak(text, voice)
        elif audio is not None:
            samples = load_audio(audio, sr, max_seconds=self.config.limits.max_audio_seconds)
        else:
            return None
        self.config.limits.check_audio_seconds(len(samples) / SAMPLE_RATE)
        return samples

    @staticmethod
    def _timed(timings: dict, key: str, fn, *args):
        start = time.perf_counter()
        out = fn(*args)
        timings[key] = timings.get(key, 0.0) + time.perf_counter() - start
        return out


def check_options(seed: int = 0, steps: int | None = None, guidance: float | None = None, fps: int = FPS,
                  output_size: str = "full", **controls) -> Controls:
    """Validate :meth:`TalkingHead.generate`'s options without loading or running anything (so a
    front-end can refuse a bad request at once); returns the parsed :class:`Controls`.
    Raises :class:`~talkinghead.errors.InvalidControlError` naming the option and its range."""
    _check_choice("fps", fps, SUPPORTED_FPS)
    _check_choice("output_size", output_size, OUTPUT_SIZES)
    _check_int("seed", seed, 0, 2**63 - 1)
    _sampler_config(SamplerConfig(), steps, guidance)
    return Controls.from_kwargs(**controls)


def generate(portrait, audio=None, output: str | os.PathLike = "out.mp4", *, sr: int | None = None,
             text: str | None = None, motion_out: str | os.PathLike | None = None, device: str | None = None,
             backend: str = "torch", renderer: str = "warp", renderer_weights: str | os.PathLike | None = None,
             progress: bool = False, **kwargs) -> Path:
    """One call: portrait + audio (or ``text=``) -> an mp4 at ``output``; returns its path.

    ``renderer``: "warp" (default) or "liveportrait" with ``renderer_weights`` (folder or hub id).
    """
    from .video.writer import check_output_path

    check_output_path(output)  # before any work: a bad output path fails at once
    if motion_out is not None:
        check_motion_path(motion_out)
    pipeline = _shared_pipeline(device, backend, renderer, renderer_weights)
    pipeline.progress = progress
    result = pipeline.generate(portrait, audio, sr, text=text, **kwargs)
    return pipeline.save(result, output, motion_out=motion_out)


_PIPELINES: dict[tuple, TalkingHead] = {}


def _shared_pipeline(device: str | None, backend: str, renderer: str = "warp",
                     renderer_weights: str | os.PathLike | None = None) -> TalkingHead:
    """One pipeline per (device, backend, renderer, weights) per process, so repeated ``generate``
    calls load models once."""
    weights = None if renderer_weights is None else str(renderer_weights)
    key = (device, backend, renderer, weights)
    if key not in _PIPELINES:
        config = PipelineConfig(renderer=renderer, renderer_weights=weights)
        _PIPELINES[key] = TalkingHead(config, device=device, backend=backend)
    return _PIPELINES[key]


def speak(text: str, voice: str = "en-us") -> np.ndarray:
    """Text -> 16 kHz speech with espeak-ng (a clear DependencyError where it is not installed)."""
    from .data import espeak

    if not isinstance(text, str) or not text.strip():
        raise InvalidControlError("text must be a non-empty string")
    speech = espeak.synthesize(text, voice)
    return load_audio(speech.audio, speech.sample_rate)


MOTION_SUFFIXES = (".npz", ".csv", ".json")


def check_motion_path(path: str | os.PathLike) -> None:
    """InvalidControlError unless ``path`` ends in a motion format :func:`save_motion` writes."""
    if Path(path).suffix.lower() not in MOTION_SUFFIXES:
        raise InvalidControlError(f"motion output must end in .npz, .csv or .json, got {path}")


def save_motion(motion: Motion, path: str | os.PathLike) -> Path:
    """Save motion by extension: .npz (lossless), .csv or .json (ARKit names)."""
    check_motion_path(path)
    suffix = Path(path).suffix.lower()
    if suffix == ".npz":
        motion.save(path)
    elif suffix == ".csv":
        motion.to_csv(path)
    else:  # .json
        motion.to_json(path)
    return Path(path)


def _driven_motion(motion: Motion, samples, fps: int, controls: Controls, seed: int) -> Motion:
    if not isinstance(motion, Motion):
        raise InvalidControlError(f"motion must be a talkinghead Motion, got {type(motion).__name__}")
    values = apply_controls(motion.values, controls, motion.fps, seed=seed)
    driven = Motion(values, motion.fps)
    if motion.fps != fps:
        driven = resample_motion(driven, fps)
    if samples is not None:  # match the audio's length exactly
        driven = fit_length(driven, num_frames(len(samples), fps))
    return driven


def _make_renderer(name: str, device: torch.device, weights: str | None = None, config=None) -> Renderer:
    from .render.registry import load_renderer

    return load_renderer(name, weights, device, config)


def _as_image_source(portrait):
    """PIL images become arrays; paths and arrays pass through."""
    if hasattr(portrait, "convert") and hasattr(portrait, "size"):  # PIL.Image.Image
        return np.asarray(portrait.convert("RGB"))
    return portrait


def _sampler_config(base: SamplerConfig, steps, guidance, window=None, prefix=None) -> SamplerConfig:
    from dataclasses import replace

    if window is not None:
        _check_int("window", window, 1, 10_000)
        base = replace(base, window=int(window))
    if prefix is not None:
        _check_int("prefix", prefix, 0, 10_000)
        base = replace(base, prefix=int(prefix))
    if steps is not None:
        _check_int("steps", steps, 1, 100)
        base = replace(base, steps=int(steps))
    if guidance is not None:
        if isinstance(guidance, bool) or not isinstance(guidance, (int, float)) or not 0 <= guidance <= 10:
            raise InvalidControlError(f"guidance must be a number in [0, 10], got {guidance!r}")
        base = replace(base, guidance=float(guidance))
    return base


def _check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise InvalidControlError(f"{name} must be one of {choices}, got {value!r}")


def _check_int(name: str, value, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
        raise InvalidControlError(f"{name} must be an integer in [{lo}, {hi}], got {value!r}")
