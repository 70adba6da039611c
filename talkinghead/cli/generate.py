"""``talkinghead generate``: portrait + speech (or text) -> mp4."""

from __future__ import annotations

import argparse

from .controls import add_control_flags, add_renderer_flags, controls_from_args, renderer_config_from_args


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("generate", help="portrait + speech audio (or text) -> talking-head mp4")
    p.add_argument("--portrait", required=True, help="portrait image (jpg/png/webp/...)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--audio", help="speech audio (wav/flac/mp3/m4a/ogg or a video's audio track)")
    src.add_argument("--text", help="text to speak with espeak-ng instead of audio")
    src.add_argument("--motion", help="drive from a motion file (.npz/.csv) instead of audio")
    p.add_argument("--voice", default="en-us", help="espeak-ng voice for --text (default en-us)")
    p.add_argument("-o", "--output", default="out.mp4", help="output mp4 (default out.mp4)")
    p.add_argument("--motion-out", default=None, help="also save the motion (.npz, or ARKit .csv/.json)")
    p.add_argument("--model", default=None, help="motion model: name, .safetensors path or hub id")
    p.add_argument("--device", default=None, help="torch device (cpu, cuda)")
    p.add_argument("--backend", default="torch", choices=("torch", "onnx"))
    add_renderer_flags(p)
    add_control_flags(p)
    return p


def run(args) -> int:
    import warnings

    from .. import pipeline
    from ..audio.io import load_audio
    from ..face import load_image
    from ..motion.motion import Motion
    from ..timing import SAMPLE_RATE
    from ..video.writer import check_output_path

    config = pipeline.PipelineConfig()
    if args.model:
        config.motion_model = args.model
    config.renderer, config.renderer_weights = args.renderer, args.renderer_weights
    config.renderer_config = renderer_config_from_args(args)
    # flags, output paths and inputs first: a mistake is reported in a second, before the models load
    controls = controls_from_args(args)
    pipeline.check_options(**controls)
    check_output_path(args.output)
    if args.motion_out:
        pipeline.check_motion_path(args.motion_out)
    portrait = load_image(args.portrait, max_pixels=config.limits.max_image_pixels)
    audio = None if args.audio is None else load_audio(args.audio, max_seconds=config.limits.max_audio_seconds)
    motion = None
    if args.motion:
        motion = Motion.from_csv(args.motion) if args.motion.lower().endswith(".csv") else Motion.load(args.motion)
    th = pipeline.TalkingHead(config, device=args.device, backend=args.backend, progress=True)
    with warnings.catch_warnings():  # load_audio above already warned about silent audio, once
        warnings.filterwarnings("ignore", message="audio array: audio is silent")
        result = th.generate(portrait, audio, None if audio is None else SAMPLE_RATE, text=args.text,
                             voice=args.voice, motion=motion, **controls)
    path = th.save(result, args.output, motion_out=args.motion_out)
    print(f"wrote {path} ({result.num_frames} frames, {result.duration_s:.1f} s)")
    return 0
