"""``talkinghead demo``: the embedded portrait + speech clip -> mp4, no arguments needed."""

from __future__ import annotations

import argparse

from .controls import add_control_flags, controls_from_args


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("demo", help="run on the embedded portrait and speech (no downloads)")
    p.add_argument("-o", "--output", default="demo.mp4", help="output mp4 (default demo.mp4)")
    p.add_argument("--device", default=None, help="torch device (cpu, cuda)")
    p.add_argument("--backend", default="torch", choices=("torch", "onnx"))
    add_control_flags(p)
    return p


def run(args) -> int:
    from .. import pipeline
    from ..demo import demo_portrait, demo_speech

    th = pipeline.TalkingHead(device=args.device, backend=args.backend, progress=True)
    result = th.generate(demo_portrait(), str(demo_speech()), **controls_from_args(args))
    path = th.save(result, args.output)
    t = result.timings
    compute = sum(t.values())
    print(f"wrote {path}: {result.num_frames} frames, {result.duration_s:.1f} s of audio, "
          f"{compute:.1f} s compute (real-time factor {compute / result.duration_s:.2f})")
    return 0
