"""``talkinghead train``: train the motion DiT on a data folder (resumable)."""

from __future__ import annotations

import argparse

from ..config import load_config
from ..errors import TalkingHeadError


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("train", help="train the motion DiT on a data folder",
                       description="Train the motion DiT. Re-running with the same --out resumes.")
    p.add_argument("--data", required=True, help="data folder (talkinghead data synth / from-videos)")
    p.add_argument("--out", required=True, help="run folder: state.pt, metrics.csv, final .safetensors")
    p.add_argument("--config", default=None, help="YAML recipe (configs/dit-small.yaml); defaults otherwise")
    p.add_argument("--steps", type=int, default=None, help="override the recipe's step count")
    p.add_argument("--device", default=None, help="torch device (cpu, cuda)")
    p.add_argument("--export-only", action="store_true",
                   help="don't train: write the EMA weights of the run's last saved state (stop a run early)")
    return p


def run(args) -> int:
    from ..train.trainer import TrainConfig, Trainer

    config = load_config(TrainConfig, args.config)
    if args.steps is not None:
        config.steps = args.steps
    try:
        trainer = Trainer(args.data, args.out, config, device=args.device)
    except ValueError as e:
        raise TalkingHeadError(str(e)) from e
    if args.export_only:
        if trainer.step == 0:
            raise TalkingHeadError(f"{args.out} has no saved training state to export")
        path = trainer.export(trainer.out / f"motion-dit-{config.size}.safetensors")
    else:
        path = trainer.fit(progress=True)
    print(f"wrote {path}")
    return 0
