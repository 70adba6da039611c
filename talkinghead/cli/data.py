"""``talkinghead data``: build training-data folders (shards + manifest).

Sub-commands, one ``add_<name>(actions)`` function each, listed in :data:`ACTIONS`:

* ``from-videos DIR --out DIR``: real talking videos -> tracked, fitted motion + audio features.
* ``synth --hours H --out DIR [--seed S]``: synthetic speech + phoneme-driven motion (resumable).

Adding a sub-command is one function: write ``add_<name>(actions)`` that creates its parser and
sets ``_action`` to its run function, and append it to :data:`ACTIONS`.
"""

from __future__ import annotations

import argparse


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("data", help="make training data (from real videos, ...)",
                       description="Build a training-data folder: shards of aligned audio features and motion, "
                                   "a manifest and a report.")
    actions = p.add_subparsers(dest="data_command", metavar="ACTION")
    for add in ACTIONS:
        add(actions)
    p.set_defaults(_action=None, _data_parser=p)
    return p


def run(args) -> int:
    if args._action is None:
        args._data_parser.print_help()
        return 2
    return int(args._action(args) or 0)


# ======================================================================= from-videos
def add_from_videos(actions) -> argparse.ArgumentParser:
    # Defaults live in VideoIngestConfig; nothing heavy (torch, MediaPipe) is imported to build the parser.
    p = actions.add_parser(
        "from-videos", help="real talking videos -> training clips",
        description="Decode every video below DIR (mp4, mov, mkv, webm, avi) at 25 fps, track the face, fit "
                    "pose and expression channels per frame, compute audio features from the video's own audio "
                    "track, and write shards + manifest.json + report.json (what was skipped and why) to --out. "
                    "Videos in subfolders of DIR are split by subfolder (one speaker per folder). Options left "
                    "out take the defaults of talkinghead.data.videos.VideoIngestConfig.")
    p.add_argument("videos", metavar="DIR", help="folder of videos (searched recursively)")
    p.add_argument("--out", required=True, help="output data folder")
    p.add_argument("--encoder", default=None, help="Whisper encoder for the features (default: the front-end's, tiny.en)")
    p.add_argument("--heldout", type=float, default=None,
                   help="fraction of videos (or speaker folders) held out, chosen by hash (default 0.1)")
    p.add_argument("--min-clip-seconds", type=float, default=None,
                   help="shortest run of usable frames kept as a clip (default 1 s)")
    p.add_argument("--min-face-px", type=float, default=None, help="frames whose face is smaller are skipped "
                                                                   "(default: the face pipeline's minimum, 64)")
    p.add_argument("--allow-multiple-faces", action="store_true",
                   help="keep frames showing more than one face (the tracked person is used)")
    p.set_defaults(_action=run_from_videos)
    return p


def run_from_videos(args) -> int:
    import dataclasses
    import json

    from ..data.videos import REPORT, VideoIngestConfig, ingest_videos
    from ..timing import FPS

    given = {"encoder": args.encoder, "heldout": args.heldout, "min_face_px": args.min_face_px,
             "allow_multiple_faces": args.allow_multiple_faces or None,
             "min_clip_frames": None if args.min_clip_seconds is None else max(2, round(args.min_clip_seconds * FPS))}
    config = dataclasses.replace(VideoIngestConfig(), **{k: v for k, v in given.items() if v is not None})
    manifest = ingest_videos(args.videos, args.out, config, progress=True)
    report = json.loads((manifest.parent / REPORT).read_text())
    t = report["totals"]
    print(f"wrote {manifest}: {t['clips']} clips, {t['frames_used']}/{t['frames']} frames used from "
          f"{t['videos_used']}/{t['videos']} videos ({t['frames_per_second']:.1f} frames/s)")
    for video in report["videos"]:
        if video.get("skipped"):
            print(f"  skipped {video['video']}: {video['skipped']}")
    return 0


# ======================================================================= synth
def add_synth(actions) -> argparse.ArgumentParser:
    from ..audio.whisper_models import DEFAULT_WHISPER

    p = actions.add_parser(
        "synth", help="synthetic speech with known phoneme timing -> training clips",
        description="Speak generated sentences with espeak-ng / flite / festival voices, turn the phoneme timing "
                    "into mouth motion (coarticulated visemes) and the prosody into head motion, augment the "
                    "audio, compute Whisper features and write shards + manifest.json to --out. Held-out voices "
                    "go to the 'heldout' split. Deterministic for --seed; re-running resumes.")
    p.add_argument("--hours", type=float, required=True, help="hours of training audio to make")
    p.add_argument("--out", required=True, help="output data folder (resumed if it exists)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--encoder", default=DEFAULT_WHISPER, help="Whisper encoder for the features (default %(default)s)")
    p.set_defaults(_action=run_synth)
    return p


def run_synth(args) -> int:
    from ..data.build import build_synthetic_dataset
    from ..errors import InvalidControlError

    if not args.hours > 0:
        raise InvalidControlError(f"--hours must be positive, got {args.hours}")
    manifest = build_synthetic_dataset(args.out, args.hours, seed=args.seed, encoder_name=args.encoder)
    print(f"wrote {manifest}")
    return 0


ACTIONS = (add_from_videos, add_synth)
