"""``talkinghead stream``: stream a portrait + audio file to a virtual camera and/or an mp4."""

from __future__ import annotations

import argparse
import json
import threading
import time

from .controls import add_control_flags, add_renderer_flags, controls_from_args, renderer_config_from_args

DEFAULT_CHUNK_MS = 20  # what a live source delivers per packet


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("stream", help="stream portrait + audio live to a virtual camera and/or an mp4")
    p.add_argument("--portrait", required=True, help="portrait image (jpg/png/webp/...)")
    p.add_argument("--audio", required=True, help="speech audio, pushed in live-sized chunks")
    p.add_argument("--virtual-camera", action="store_true",
                   help="send frames to a virtual camera (pyvirtualcam; needs an OS device such as v4l2loopback)")
    p.add_argument("--camera-device", default=None, help="virtual camera device (e.g. /dev/video2)")
    p.add_argument("--out", default=None, help="also write the stream to this mp4, for checking")
    p.add_argument("--realtime", action="store_true",
                   help="push the audio at real-time pace (always on with --virtual-camera)")
    p.add_argument("--chunk-ms", type=float, default=DEFAULT_CHUNK_MS, help="audio chunk length (default 20)")
    p.add_argument("--window", type=int, default=None,
                   help="motion frames per window (default: talkinghead.stream.DEFAULT_WINDOW = 2, 80 ms; "
                        "8 gives the model more context at 240 ms more latency)")
    p.add_argument("--model", default=None, help="motion model: name, .safetensors path or hub id")
    p.add_argument("--device", default=None, help="torch device (cpu, cuda)")
    add_renderer_flags(p)
    add_control_flags(p)
    return p


def run(args) -> int:
    from ..audio.io import load_audio
    from ..errors import InvalidControlError
    from ..face import load_image
    from ..limits import Limits
    from ..stream import DEFAULT_WINDOW, StreamSession
    from ..stream.sinks import FileSink, VirtualCameraSink
    from ..timing import FPS, SAMPLE_RATE

    if not args.virtual_camera and not args.out:
        raise InvalidControlError("choose an output: --virtual-camera and/or --out FILE.mp4")
    if not 1 <= args.chunk_ms <= 1000:
        raise InvalidControlError(f"--chunk-ms must be in [1, 1000], got {args.chunk_ms}")
    options = controls_from_args(args)
    if options.pop("fps") != FPS:
        raise InvalidControlError(f"streaming runs at {FPS} fps (the motion model's rate)")
    limits = Limits.from_env()
    sinks = []
    if args.virtual_camera:  # opened first: a missing device fails before any model is loaded
        size = _frame_size(load_image(args.portrait, max_pixels=limits.max_image_pixels), options["output_size"])
        sinks.append(VirtualCameraSink(size[1], size[0], FPS, args.camera_device))
        print(f"virtual camera: {sinks[-1].device}")
    audio = load_audio(args.audio, max_seconds=limits.max_audio_seconds)  # the input limit, before any model loads
    if args.out:
        sinks.append(FileSink(args.out, audio))
    try:
        pipeline = _pipeline(args)
        session = StreamSession(pipeline, args.portrait, window=args.window or DEFAULT_WINDOW, **options)
        feeder = threading.Thread(target=_feed, daemon=True,
                                  args=(session, audio, int(args.chunk_ms * SAMPLE_RATE / 1000),
                                        args.realtime or args.virtual_camera))
        start = time.perf_counter()
        with session:
            feeder.start()
            for frame in session:
                for sink in sinks:
                    sink.write(frame)
            feeder.join()
            stats = session.stats()
        elapsed = time.perf_counter() - start
    except BaseException:
        for sink in sinks:
            getattr(sink, "abort", sink.close)()
        raise
    for sink in sinks:
        sink.close()
    stats["fps"] = round(stats["frames"] / max(elapsed, 1e-9), 1)
    if args.out:
        print(f"wrote {args.out} ({stats['frames']} frames)")
    print(json.dumps(stats))
    return 0


def _pipeline(args):
    from ..pipeline import PipelineConfig, TalkingHead

    config = PipelineConfig()
    if args.model:
        config.motion_model = args.model
    config.renderer, config.renderer_weights = args.renderer, args.renderer_weights
    config.renderer_config = renderer_config_from_args(args)
    return TalkingHead(config, device=args.device)


def _feed(session, audio, chunk: int, realtime: bool) -> None:
    """Push the audio chunk by chunk (at real-time pace when asked), then finish the stream."""
    from ..errors import TalkingHeadError
    from ..timing import SAMPLE_RATE

    start = time.monotonic()
    try:
        for i in range(0, len(audio), chunk):
            if realtime:
                time.sleep(max(0.0, start + i / SAMPLE_RATE - time.monotonic()))
            session.push(audio[i:i + chunk], SAMPLE_RATE)
        session.finish()
    except TalkingHeadError:  # the session was closed under us (an error in the consumer): stop
        return


def _frame_size(photo, output_size: str) -> tuple[int, int]:
    """(height, width) of the frames a session will produce for this photo."""
    if output_size == "crop":
        from ..render.warp_renderer import renderer_face_config

        side = renderer_face_config().crop_size
        return side, side
    return photo.shape[0], photo.shape[1]
