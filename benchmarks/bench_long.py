"""Long offline runs keep memory bounded: peak RSS of generating a long file vs a 10 s file.

Each run is a fresh child process (``python -m benchmarks.bench_long --child AUDIO OUT``) that loads
the shipped pipeline, registers scikit-image's astronaut, generates from a WAV file of tiled demo
speech (16 kHz mono) and writes the mp4; it reports its own peak resident memory (VmHWM), so the
numbers of the two runs do not mix.

peak_rss_mb_10s: peak RSS of the child for 10 s of audio.
peak_rss_mb_long: the same for ``long_audio_s`` of audio (60 s with --quick, 3600 s = 1 hour in full mode).
long_audio_s: length of the long run's audio.
long_rss_growth_mb: peak_rss_mb_long - peak_rss_mb_10s. Frames are rendered in batches and streamed to
    the encoder, so what grows with the length is only the audio itself (64 kB/s at 16 kHz float32),
    the motion (3.7 kB/s) and the decoded input file's samples (same size as the audio).
long_rtf: compute seconds per audio second of the long run (load excluded).
long_frames: frames in the long run's mp4 (checked: ceil(audio_s * 25)).
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SHORT_S = 10.0
QUICK_LONG_S = 60.0
FULL_LONG_S = 3600.0
WRITE_BLOCK_S = 60.0  # the speech file is written a minute at a time (the parent never holds an hour)


def _write_speech(path: Path, seconds: float) -> Path:
    """``seconds`` of the demo speech tiled, as a 16-bit 16 kHz mono WAV."""
    import soundfile as sf

    from talkinghead.audio.io import load_audio
    from talkinghead.demo import demo_speech

    clip = load_audio(str(demo_speech()))
    total = int(seconds * 16_000)
    block = np.tile(clip, math.ceil(WRITE_BLOCK_S * 16_000 / len(clip)) + 1)
    with sf.SoundFile(str(path), "w", samplerate=16_000, channels=1, subtype="PCM_16") as f:
        written, offset = 0, 0
        while written < total:
            n = min(total - written, int(WRITE_BLOCK_S * 16_000))
            start = offset % len(clip)
            f.write(block[start:start + n])
            written, offset = written + n, offset + n
    return path


def _peak_rss_mb() -> float:
    """This process's peak resident memory. ``VmHWM`` is reset by exec; ``ru_maxrss`` is not on Linux
    (a child started by a big parent would report the parent's size), so it is only the fallback."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child_run(audio: Path, out: Path) -> dict:
    """Load, register, generate, save; report peak RSS and times (runs in the child process)."""
    import av

    from talkinghead.demo import demo_portrait
    from talkinghead.pipeline import TalkingHead

    start = time.perf_counter()
    th = TalkingHead()
    avatar = th.register(demo_portrait())
    loaded_rss = _peak_rss_mb()
    begin = time.perf_counter()
    result = th.generate(avatar, str(audio))
    th.save(result, out)
    elapsed = time.perf_counter() - begin
    with av.open(str(out)) as container:
        frames = container.streams.video[0].frames
    return {"peak_rss_mb": round(_peak_rss_mb(), 1),
            "rss_after_load_mb": round(loaded_rss, 1), "audio_s": round(result.duration_s, 2),
            "frames": frames, "expected_frames": result.num_frames, "compute_s": round(elapsed, 1),
            "load_s": round(begin - start, 1)}


def _measure(seconds: float, tmp: Path) -> dict:
    audio = _write_speech(tmp / f"speech_{int(seconds)}s.wav", seconds)
    out = tmp / f"out_{int(seconds)}s.mp4"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.bench_long", "--child", str(audio), str(out)],
                          cwd=REPO, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"bench_long child failed ({seconds} s of audio):\n{proc.stderr[-3000:]}")
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    if report["frames"] != report["expected_frames"]:
        raise RuntimeError(f"the {seconds} s mp4 has {report['frames']} frames, expected {report['expected_frames']}")
    audio.unlink()
    out.unlink()
    return report


def run(quick: bool, long_s: float | None = None) -> dict:
    long_s = long_s or (QUICK_LONG_S if quick else FULL_LONG_S)
    with tempfile.TemporaryDirectory() as tmp:
        short = _measure(SHORT_S, Path(tmp))
        long = _measure(long_s, Path(tmp))
    return {"peak_rss_mb_10s": short["peak_rss_mb"], "peak_rss_mb_long": long["peak_rss_mb"],
            "long_audio_s": long["audio_s"],
            "long_rss_growth_mb": round(long["peak_rss_mb"] - short["peak_rss_mb"], 1),
            "long_rtf": round(long["compute_s"] / long["audio_s"], 3), "long_frames": long["frames"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", nargs=2, metavar=("AUDIO", "OUT"), help="(internal) one measured run")
    parser.add_argument("--quick", action="store_true", help="60 s instead of 1 hour")
    parser.add_argument("--long-s", type=float, default=None, help="length of the long run (overrides the mode)")
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child_run(Path(args.child[0]), Path(args.child[1]))))
    else:
        print(json.dumps(run(args.quick, args.long_s), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
