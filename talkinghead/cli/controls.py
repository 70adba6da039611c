"""Command-line flags for the generation controls, shared by ``generate``, ``demo`` and ``stream``."""

from __future__ import annotations

import argparse

from ..motion.controls import EXPRESSION_PRESETS


def add_control_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("controls (see talkinghead.motion.controls for ranges)")
    g.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    g.add_argument("--steps", type=int, default=None, help="denoising steps per window (1-100, default 8)")
    g.add_argument("--guidance", type=float, default=None, help="audio guidance scale (0-10, default 2)")
    g.add_argument("--fps", type=int, default=25, choices=(25, 30), help="output frame rate")
    g.add_argument("--still", action="store_true", help="no head motion")
    g.add_argument("--pose-scale", type=float, default=1.0, help="head-motion amplitude 0-2 (default 1)")
    g.add_argument("--pose-offset", type=float, nargs=3, default=(0.0, 0.0, 0.0), metavar=("YAW", "PITCH", "ROLL"),
                   help="degrees added to the head pose (±30)")
    g.add_argument("--expression", default="neutral", choices=sorted(EXPRESSION_PRESETS), help="expression preset")
    g.add_argument("--expression-intensity", type=float, default=None,
                   help="0-1 (default 0.6 when --expression is given, else 0)")
    g.add_argument("--mouth-scale", type=float, default=1.0, help="mouth amplitude 0-2 (default 1)")
    g.add_argument("--gaze", type=float, nargs=2, default=None, metavar=("X", "Y"), help="gaze target in [-1, 1]")
    g.add_argument("--blink-rate", type=float, default=15.0, help="blinks per minute 0-60 (default 15)")
    g.add_argument("--output-size", default="full", choices=("full", "crop"), help="full photo or the head crop")


def controls_from_args(args) -> dict:
    intensity = args.expression_intensity
    if intensity is None:
        intensity = 0.0 if args.expression == "neutral" else 0.6
    return dict(seed=args.seed, steps=args.steps, guidance=args.guidance, fps=args.fps, still=args.still,
                pose_scale=args.pose_scale, pose_offset=tuple(args.pose_offset), expression=args.expression,
                expression_intensity=intensity, mouth_scale=args.mouth_scale,
                gaze=None if args.gaze is None else tuple(args.gaze), blink_rate=args.blink_rate,
                output_size=args.output_size)


RENDERER_CHOICES = ("warp", "liveportrait")  # = talkinghead.render.registry.RENDERERS (no torch import at --help)


def add_renderer_flags(p: argparse.ArgumentParser) -> None:
    """``--renderer`` / ``--renderer-weights``, shared by generate, animate, stream and serve."""
    p.add_argument("--renderer", default="warp", choices=RENDERER_CHOICES,
                   help="warp (default, no weights) or liveportrait (neural, needs the official weights; GPU)")
    p.add_argument("--renderer-weights", default=None, metavar="PATH",
                   help="liveportrait weights: folder or hub id (default: the talkinghead cache)")
    p.add_argument("--camera-distance", type=float, default=None, metavar="IOD",
                   help="warp renderer: how far the portrait's camera was, in eye distances (default 8, about "
                        "50 cm); head turns are drawn in its perspective. 'inf' draws them orthographically")


def renderer_config_from_args(args):
    """The renderer config the flags ask for, or None for the renderer's defaults."""
    if args.camera_distance is None:
        return None
    from ..errors import InvalidControlError
    from ..render.warp_renderer import WarpRendererConfig

    if args.renderer != "warp":
        raise InvalidControlError("--camera-distance is a setting of the warp renderer; drop it with "
                                  f"--renderer {args.renderer}")
    return WarpRendererConfig(camera_distance=args.camera_distance)
