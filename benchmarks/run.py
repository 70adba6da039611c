"""Print one JSON object with every speed figure talkinghead defines.

    python benchmarks/run.py            # full run, for notes (minutes)
    python benchmarks/run.py --quick    # CI smoke run (seconds)

Each stage lives in ``benchmarks/bench_<stage>.py`` with ``run(quick: bool) -> dict``
returning its keys (medians after a warm-up). Stages not built yet are absent.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

STAGES = (
    "bench_face",
    "bench_audio",
    "bench_motion",
    "bench_render",
    "bench_liveportrait",
    "bench_data",
    "bench_pipeline",
    "bench_onnx",
    "bench_stream",
    "bench_long",
    "bench_bad_inputs",
)


def machine_info() -> dict:
    import torch

    return {"cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(),
            "machine": platform.machine()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="few repeats, for CI")
    parser.add_argument("--only", nargs="*", default=None, help="stage modules to run (default: all)")
    args = parser.parse_args(argv)
    result = {"machine": machine_info(), "quick": args.quick}
    for name in STAGES:
        if args.only and name not in args.only:
            continue
        start = time.perf_counter()
        module = importlib.import_module(f"benchmarks.{name}")
        result.update(module.run(quick=args.quick))
        print(f"[{name}] {time.perf_counter() - start:.1f}s", file=sys.stderr)
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
