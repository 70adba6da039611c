"""Eval reports: the JSON with every number, a markdown table and PNG plots (matplotlib, Agg).

    out_dir/report.json      # {"kind", "settings", "clips": [...], "means": {...}, "skipped": [...]}
    out_dir/report.md        # one row per clip + the means, then what was skipped and why
    out_dir/plots/<clip>.png # real vs generated mouth opening over time (videos) or channels (synthetic)

JSON has no infinity: an infinite value (a PSNR of untouched pixels) is written as the string
``"inf"``; missing numbers are ``null``.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import os
import re
from pathlib import Path

import numpy as np

from ..paths import atomic_path

log = logging.getLogger(__name__)

# Columns of the markdown table per report kind: (key, header, format).
TABLE_COLUMNS = {
    "videos": (("mouth_r", "mouth r", ".3f"), ("mouth_r_best", "best r", ".3f"), ("best_lag", "lag", "d"),
               ("m_lmd", "M-LMD", ".4f"), ("jitter", "jitter gen", ".5f"), ("jitter_real", "jitter real", ".5f"),
               ("psnr_outside_head", "PSNR out (dB)", ".1f"), ("face_ssim", "face SSIM", ".3f"),
               ("generate_s", "gen s", ".2f"), ("rtf", "RTF", ".2f")),
    "synthetic": (("mouth_r", "mouth r", ".3f"), ("mouth_r_best", "best r", ".3f"), ("best_lag", "lag", "d"),
                  ("jawOpen_r", "jawOpen r", ".3f"), ("mouth_channels_r", "mouth ch. r", ".3f"),
                  ("bilabial_closure", "p/b/m closed", ".2f"), ("bilabial_closure_truth", "p/b/m truth", ".2f"),
                  ("generate_s", "gen s", ".2f")),
}
NOT_AVERAGED = ("frames", "frames_generated", "width", "height", "average_fps", "bilabials")
PLOT_DPI = 100


def summarize(clips: list[dict], kind: str, settings: dict | None = None) -> dict:
    """The report dict: clips, the mean of every numeric per-clip key over evaluated clips, skips."""
    evaluated = [c for c in clips if not c.get("skipped")]
    return {"kind": kind, "settings": settings or {}, "clips": clips, "means": _means(evaluated),
            "evaluated": len(evaluated),
            "skipped": [{"clip": c.get("clip", c.get("video")), "reason": c["skipped"]} for c in clips
                        if c.get("skipped")]}


def _means(clips: list[dict]) -> dict:
    keys = sorted({k for c in clips for k, v in c.items() if _is_number(v) and k not in NOT_AVERAGED})
    means = {}
    for key in keys:
        values = [c[key] for c in clips if _is_number(c.get(key))]
        means[key] = float(np.mean(values)) if values else None
        means[f"{key}_count"] = len(values)
    return means


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not (
        isinstance(value, float) and math.isnan(value))


def write_report(report: dict, out_dir: str | os.PathLike) -> Path:
    """Write report.json, report.md and plots/*.png into ``out_dir``; returns the JSON path."""
    out = Path(out_dir)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    if importlib.util.find_spec("matplotlib") is None:
        report["plots_skipped"] = "matplotlib is not installed: pip install 'talkinghead[eval]' for the plots"
        log.warning(report["plots_skipped"])
    else:
        for clip in report["clips"]:
            if clip.get("curves"):
                clip["plot"] = str(Path("plots") / f"{_slug(clip.get('clip', clip.get('video', 'clip')))}.png")
                plot_clip(clip, report["kind"], out / clip["plot"])
    _write_text(out / "report.md", markdown(report))
    _write_text(out / "report.json", json.dumps(_json_safe(report), indent=1))
    return out / "report.json"


def markdown(report: dict) -> str:
    """A markdown table of the report (one row per evaluated clip, then the means and the skips)."""
    columns = TABLE_COLUMNS[report["kind"]]
    lines = [f"# talkinghead eval ({report['kind']})", "",
             f"{report['evaluated']} clips evaluated, {len(report['skipped'])} skipped. "
             "r: Pearson correlation of mouth opening (generated vs reference); lag in frames (+ = generated late).", "",
             "| clip | " + " | ".join(h for _, h, _ in columns) + " |",
             "|---" * (len(columns) + 1) + "|"]
    for clip in report["clips"]:
        if not clip.get("skipped"):
            lines.append(f"| {clip.get('clip', '')} | " + " | ".join(_cell(clip.get(k), f) for k, _, f in columns) + " |")
    means = report["means"]
    lines.append("| **mean** | " + " | ".join(_cell(means.get(k), f if f != "d" else ".1f") for k, _, f in columns) + " |")
    notes = [(c.get("clip", ""), n) for c in report["clips"] for n in c.get("notes", []) + c.get("background_notes", [])]
    if notes:
        lines += ["", "## Notes", ""] + [f"- {clip}: {note}" for clip, note in notes]
    if report["skipped"]:
        lines += ["", "## Skipped", ""] + [f"- {s['clip']}: {s['reason']}" for s in report["skipped"]]
    return "\n".join(lines) + "\n"


def _cell(value, fmt: str) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and math.isinf(value):
        return "∞"
    return format(value, fmt)


def plot_clip(clip: dict, kind: str, path: Path) -> None:
    """Real vs generated mouth opening over time (+ the audio envelope) for one clip."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = clip["curves"]
    reference_key = "mouth_real" if kind == "videos" else "mouth_truth"
    reference = _array(curves[reference_key])
    generated = _array(curves["mouth_generated"])
    t = np.arange(len(reference)) / 25.0
    fig, axes = plt.subplots(2, 1, figsize=(10, 4.5), sharex=True, height_ratios=(3, 1))
    axes[0].plot(t, reference, color="black", lw=1.5, label="real" if kind == "videos" else "ground truth")
    axes[0].plot(t[: len(generated)], generated, color="tab:red", lw=1.2, label="generated")
    axes[0].set_ylabel("inner-lip opening / IOD")
    axes[0].legend(loc="upper right", fontsize=8)
    title = f"{clip.get('clip', '')}  r={_cell(clip.get('mouth_r'), '.2f')}  best r={_cell(clip.get('mouth_r_best'), '.2f')}"
    axes[0].set_title(title + f" at lag {clip.get('best_lag', '–')}", fontsize=9)
    if curves.get("audio_envelope") is not None:
        envelope = _array(curves["audio_envelope"])
        axes[1].plot(t[: len(envelope)], envelope, color="tab:blue", lw=1)
        axes[1].set_ylabel("audio RMS", fontsize=8)
    elif curves.get("jaw_truth") is not None:
        axes[1].plot(t, _array(curves["jaw_truth"]), color="black", lw=1)
        axes[1].plot(t, _array(curves["jaw_generated"]), color="tab:red", lw=1)
        axes[1].set_ylabel("jawOpen", fontsize=8)
    axes[1].set_xlabel("time (s)")
    fig.tight_layout()
    tmp = atomic_path(path)
    fig.savefig(tmp, dpi=PLOT_DPI, format="png")
    plt.close(fig)
    os.replace(tmp, path)


def _array(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "clip"


def _json_safe(value):
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        value = value.item()
    if isinstance(value, float):
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        if math.isnan(value):
            return None
    return value


def _write_text(path: Path, text: str) -> None:
    tmp = atomic_path(path)
    tmp.write_text(text)
    os.replace(tmp, path)
