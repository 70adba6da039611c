"""ONNX backend vs torch, per stage and end to end, measured in the same run.

torch_* / onnx_* pairs (medians after a warm-up; torch threads as configured, onnxruntime
intra-op threads = physical cores):

whisper_ms_per_audio_s  offline Whisper features (the model's window shape, 32 windows per call),
                        ms per second of audio (10 s of speech-like audio).
dit_window_ms           one ``denoise_window`` with the default sampler (80 frames + 10 prefix,
                        8 steps, both guidance branches in one batch).
render_ms               per frame, ``renderer.render`` of a 16-frame talking batch on the astronaut
                        at 1024x1024 with paste-back (motion -> rig -> 512 px crop -> photo):
                        torch = the default CPU renderer (numpy rig, torch coarse warp + OpenCV),
                        onnx = rig graph + ``render_coarse`` graph + OpenCV.
rtf_offline             ``generate`` + ``save`` (features, motion, render, H.264 + AAC) of 10 s of
                        audio / 10 s, portrait registered beforehand; onnx with the default
                        :class:`OnnxOptions` (render engine ``onnx_render_engine``).

Also: ``onnx_export_s`` (model graphs, first time), ``onnx_avatar_export_s`` (rig + render_coarse
of one portrait, first time), ``onnx_render_engine`` (what ``render="auto"`` picks here),
``onnx_providers``, ``onnx_threads``, ``onnx_model`` (the motion model timed: the shipped one, or
a randomly initialised model of the shipped size when none is installed - cost does not depend
on the weights).
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks._timing import median_ms
from benchmarks.bench_audio import speech_like
from benchmarks.bench_render import FRAMES, PHOTO_SIDE, talking_motion

SAMPLE_RATE = 16_000


def _motion_model(folder: Path) -> tuple[str, str]:
    """(name or path to load, description): the shipped model, else a random one of the shipped size."""
    from talkinghead.audio.features import WindowConfig
    from talkinghead.diffusion.checkpoint import DEFAULT_MODEL, resolve_checkpoint, save_motion_model
    from talkinghead.diffusion.dit import MotionDiT, dit_config
    from talkinghead.errors import ModelNotFoundError

    try:
        resolve_checkpoint(DEFAULT_MODEL)
        return DEFAULT_MODEL, DEFAULT_MODEL
    except ModelNotFoundError:
        torch.manual_seed(0)
        model = MotionDiT(dit_config(DEFAULT_MODEL, audio_dim=768))
        audio = {"encoder": "tiny.en", "window": dataclasses.asdict(WindowConfig()), "dim": 768}
        path = save_motion_model(model, folder / "random.safetensors", audio=audio)
        return str(path), f"random {DEFAULT_MODEL} (no shipped checkpoint)"


def _dit_window_ms(model, features: torch.Tensor, repeats: int) -> float:
    from talkinghead.diffusion.sampler import SamplerConfig, denoise_window

    cfg = SamplerConfig()
    audio = features[None, : cfg.prefix + cfg.window]  # (1, P + T, F)
    gen = torch.Generator().manual_seed(0)
    prefix = torch.randn(1, cfg.prefix, model.config.motion_dim, generator=gen)
    noise = torch.randn(1, audio.shape[1] - cfg.prefix, model.config.motion_dim, generator=gen)
    return median_ms(lambda: denoise_window(model, audio, prefix, noise, cfg.steps, cfg.guidance, cfg.scheduler),
                     repeats=repeats)


def _render_ms(renderer, avatar, motion: np.ndarray, repeats: int) -> float:
    return median_ms(lambda: renderer.render(avatar, motion), repeats=repeats) / len(motion)


def _rtf(th, avatar, audio: np.ndarray, out: Path, repeats: int) -> float:
    def run():
        th.save(th.generate(avatar, audio, SAMPLE_RATE, seed=0), out)
    return median_ms(run, repeats=repeats, warmup=1) / 1e3 / (len(audio) / SAMPLE_RATE)


def run(quick: bool) -> dict:
    import cv2
    import skimage.data

    from talkinghead.export import OnnxOptions
    from talkinghead.export.runtime import OnnxWarpRenderer, physical_cores
    from talkinghead.pipeline import PipelineConfig, TalkingHead

    repeats = 2 if quick else 5
    seconds = 4.0 if quick else 10.0
    audio = speech_like(seconds)
    photo = cv2.resize(skimage.data.astronaut(), (PHOTO_SIDE, PHOTO_SIDE), interpolation=cv2.INTER_CUBIC)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model, description = _motion_model(tmp)
        th_torch = TalkingHead(PipelineConfig(motion_model=model))
        start = time.perf_counter()
        th_onnx = TalkingHead(PipelineConfig(motion_model=model, onnx=OnnxOptions(cache_dir=str(tmp / "cache"))),
                              backend="onnx")
        export_s = time.perf_counter() - start
        backend = th_onnx._onnx
        result = {"onnx_model": description, "onnx_providers": backend.providers,
                  "onnx_threads": th_onnx.config.onnx.threads or physical_cores(),
                  "onnx_render_engine": backend.render_engine, "onnx_export_s": round(export_s, 1)}

        for name, th in (("torch", th_torch), ("onnx", th_onnx)):
            ms = median_ms(lambda: th.features(audio), repeats=repeats) / seconds  # noqa: B023
            result[f"{name}_whisper_ms_per_audio_s"] = round(ms, 1)
        feats = th_torch.features(audio)
        for name, model_ in (("torch", th_torch.motion_model), ("onnx", th_onnx.denoiser)):
            result[f"{name}_dit_window_ms"] = round(_dit_window_ms(model_, feats, repeats * 3), 2)

        avatar = th_torch.register(photo)
        motion = talking_motion(avatar, FRAMES)
        onnx_renderer = OnnxWarpRenderer(th_torch.renderer, th_onnx.config.onnx, backend.root, backend.gpu)
        start = time.perf_counter()
        onnx_renderer.sessions(avatar)
        result["onnx_avatar_export_s"] = round(time.perf_counter() - start, 1)
        result["torch_render_ms"] = round(_render_ms(th_torch.renderer, avatar, motion, repeats), 2)
        result["onnx_render_ms"] = round(_render_ms(onnx_renderer, avatar, motion, repeats), 2)

        for name, th in (("torch", th_torch), ("onnx", th_onnx)):
            result[f"rtf_offline_{name}"] = round(_rtf(th, avatar, audio, tmp / f"{name}.mp4", 1 if quick else 3), 3)
    return result
