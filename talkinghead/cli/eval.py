"""``talkinghead eval``: measure lip sync, stability and identity on real videos or held-out synthetic clips."""

from __future__ import annotations

import argparse

from ..errors import ModelNotFoundError, TalkingHeadError

NEEDS_MODEL = ("talkinghead eval generates with the motion model and none was found ({error}). "
               "Pass a trained checkpoint with --model PATH.safetensors (make one with `talkinghead train`).")


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "eval", help="evaluate generation on real videos (--videos) or synthetic clips (--synthetic)",
        description="--videos DIR: each video's first frame is the portrait and its own audio the speech; the "
                    "generated video is compared with the real one (MediaPipe lip opening r at lag 0 and best lag, "
                    "M-LMD, jitter, PSNR outside the head, face SSIM, speed). --synthetic DIR: motion generated "
                    "from held-out synthetic clips' features is compared with their ground-truth channels. "
                    "Writes report.json, report.md and plots/*.png to --out.")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--videos", metavar="DIR", help="folder of real talking videos (mp4/mov/mkv/webm/avi)")
    what.add_argument("--synthetic", metavar="DIR", help="data folder from `talkinghead data synth`")
    p.add_argument("--out", default="report", help="report folder (default %(default)s)")
    p.add_argument("--model", default=None, help="motion model: name, .safetensors path or hub id")
    p.add_argument("--split", default="heldout", help="split of --synthetic to evaluate (default %(default)s)")
    p.add_argument("--max-clips", type=int, default=None, help="evaluate at most this many synthetic clips")
    p.add_argument("--max-seconds", type=float, default=None, help="evaluate at most this much of each video")
    p.add_argument("--max-lag", type=int, default=4, help="best-lag search range in frames (default %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default %(default)s)")
    p.add_argument("--window", type=int, default=None,
                   help="motion frames per sampler window (default: the offline window; 2 = the streaming schedule)")
    p.add_argument("--device", default=None, help="torch device (cpu, cuda)")
    return p


def run(args) -> int:
    from ..eval.report import markdown

    th = _pipeline(args)
    if args.videos:
        from ..eval.videos import evaluate_videos

        report = evaluate_videos(args.videos, _video_generator(th, args.seed), args.out,
                                 max_lag=args.max_lag, max_seconds=args.max_seconds)
    else:
        from ..eval.synthetic import evaluate_synthetic

        _check_features(th, args.synthetic)
        report = evaluate_synthetic(args.synthetic, lambda feats: _motion(th, feats, args.seed), args.out,
                                    split=args.split, max_clips=args.max_clips, max_lag=args.max_lag)
    print(markdown(report))
    print(f"wrote {args.out}/report.json, report.md and plots/")
    return 0


def _pipeline(args):
    from ..pipeline import PipelineConfig, TalkingHead

    config = PipelineConfig()
    if args.model:
        config.motion_model = args.model
    if args.window is not None:
        import dataclasses

        if args.window < 1:
            raise TalkingHeadError(f"--window must be a positive number of frames, got {args.window}")
        config.sampler = dataclasses.replace(config.sampler, window=args.window)
    try:
        return TalkingHead(config, device=args.device)
    except ModelNotFoundError as e:
        raise ModelNotFoundError(NEEDS_MODEL.format(error=e)) from e


def _video_generator(th, seed: int):
    """generate_fn for :func:`evaluate_videos`: the public pipeline, frames rendered lazily."""
    from ..timing import SAMPLE_RATE

    def generate(portrait, audio):
        result = th.generate(portrait, audio, sr=SAMPLE_RATE, seed=seed)
        return result.frames(), {"timings": result.timings}

    return generate


def _motion(th, features, seed: int):
    import torch

    return th.motion_from_features(torch.from_numpy(features), seed=seed)


def _check_features(th, data_dir) -> None:
    """The data folder's features must come from the front-end the model was trained with."""
    import dataclasses

    from ..data.shards import read_manifest

    info = read_manifest(data_dir).get("features", {})
    window = info.get("window")
    if window is not None and window != dataclasses.asdict(th.window):
        raise TalkingHeadError(f"{data_dir} features use window {window}, the model expects "
                               f"{dataclasses.asdict(th.window)}; rebuild the data or pick the matching model")
    dim = info.get("dim")
    expected = 2 * th.encoder.config.d_model
    if dim is not None and dim != expected:
        raise TalkingHeadError(f"{data_dir} features have {dim} values per frame, the model's encoder gives "
                               f"{expected} ({info.get('encoder')} vs the model's); rebuild the data")
