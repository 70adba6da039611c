"""``talkinghead animate``: drive a portrait with a given motion file (no audio model needed)."""

from __future__ import annotations

import argparse

from .controls import add_renderer_flags, renderer_config_from_args


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("animate", help="portrait + motion file (.npz/.csv) -> mp4 (no audio model needed)")
    p.add_argument("--portrait", required=True, help="portrait image")
    p.add_argument("--motion", required=True, help="motion file: .npz (talkinghead) or ARKit .csv/.json")
    p.add_argument("--audio", default=None, help="optional audio to mux (the video follows the motion's length)")
    p.add_argument("-o", "--output", default="animated.mp4", help="output mp4")
    p.add_argument("--output-size", default="full", choices=("full", "crop"))
    p.add_argument("--device", default=None, help="torch device (cpu, cuda)")
    add_renderer_flags(p)
    return p


def run(args) -> int:
    from tqdm import tqdm

    from ..audio.io import load_audio
    from ..motion.motion import Motion
    from ..render.registry import load_renderer
    from ..video.writer import VideoWriter

    suffix = args.motion.lower().rsplit(".", 1)[-1]
    loaders = {"npz": Motion.load, "csv": Motion.from_csv, "json": Motion.from_json}
    if suffix not in loaders:
        from ..errors import InvalidControlError

        raise InvalidControlError(f"--motion must be .npz, .csv or .json, got {args.motion}")
    motion = loaders[suffix](args.motion)
    renderer = load_renderer(args.renderer, args.renderer_weights, args.device, renderer_config_from_args(args))
    avatar = renderer.register(args.portrait)
    audio = None if args.audio is None else load_audio(args.audio)
    fps = int(round(motion.fps))
    with VideoWriter(args.output, fps, audio=audio) as writer:
        for frame in tqdm(renderer.frames(avatar, motion, paste=args.output_size == "full"),
                          total=len(motion.values), unit="frame", desc="render"):
            writer.write(frame)
    print(f"wrote {args.output} ({len(motion.values)} frames at {fps} fps)")
    return 0
