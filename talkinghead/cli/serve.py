"""``talkinghead serve``: the WebRTC server and its web page (see talkinghead.stream.server)."""

from __future__ import annotations

import argparse

from .controls import add_renderer_flags, renderer_config_from_args


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("serve", help="WebRTC server + web page: speak, and the avatar answers live")
    p.add_argument("--host", default=None, help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=None, help="port (default 8080)")
    p.add_argument("--max-peers", type=int, default=2, help="concurrent sessions (default 2)")
    p.add_argument("--window", type=int, default=None,
                   help="motion frames per window (default: talkinghead.stream.DEFAULT_WINDOW = 2, 80 ms; "
                        "8 gives the model more context at 240 ms more latency)")
    p.add_argument("--max-side", type=int, default=720, help="largest side of the video sent (default 720)")
    p.add_argument("--model", default=None, help="motion model: name, .safetensors path or hub id")
    p.add_argument("--device", default=None, help="torch device (cpu, cuda)")
    add_renderer_flags(p)
    return p


def run(args) -> int:
    from ..errors import InvalidControlError
    from ..pipeline import PipelineConfig, TalkingHead
    from ..stream import DEFAULT_WINDOW
    from ..stream.server import DEFAULT_HOST, DEFAULT_PORT, ServerConfig, serve

    host = args.host or DEFAULT_HOST
    port = DEFAULT_PORT if args.port is None else args.port
    if not 0 < port < 65536:
        raise InvalidControlError(f"--port must be in 1..65535, got {port}")
    if args.max_peers < 1 or args.max_side < 64:
        raise InvalidControlError("--max-peers must be at least 1 and --max-side at least 64")
    config = PipelineConfig()
    if args.model:
        config.motion_model = args.model
    config.renderer, config.renderer_weights = args.renderer, args.renderer_weights
    config.renderer_config = renderer_config_from_args(args)
    pipeline = TalkingHead(config, device=args.device)
    serve(pipeline, host, port,
          ServerConfig(max_peers=args.max_peers, window=args.window or DEFAULT_WINDOW, max_side=args.max_side))
    return 0
