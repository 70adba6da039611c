"""``talkinghead export``: the pipeline's ONNX graphs + manifest.json into a folder (see docs/onnx.md)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("export", help="export the Whisper encoder, motion denoiser (and a portrait's rig and "
                                      "renderer) to ONNX")
    p.add_argument("--out", required=True, help="output folder (created; files in it are replaced)")
    p.add_argument("--model", default=None, help="motion model: registry name, .safetensors path or hub id "
                                                 "(default: the shipped model)")
    p.add_argument("--portrait", default=None,
                   help="also export this portrait's per-avatar graphs (rig, render, render_coarse) "
                        "into OUT/avatar-<hash>")
    p.add_argument("--liveportrait", default=None, metavar="WEIGHTS",
                   help="also export the LivePortrait renderer networks of these weights (folder or hub id) "
                        "into OUT/liveportrait (see docs/liveportrait.md)")
    return p


def run(args) -> int:
    from ..diffusion.checkpoint import DEFAULT_MODEL
    from ..export.exporter import avatar_digest, export_avatar_graphs, export_model

    out = Path(args.out)
    manifest = export_model(out, args.model or DEFAULT_MODEL)
    _print(out, manifest)
    if args.portrait:
        from ..render.warp_renderer import WarpRenderer

        avatar = WarpRenderer().register(args.portrait)
        folder = out / f"avatar-{avatar_digest(avatar)[:16]}"
        _print(folder, export_avatar_graphs(folder, avatar))
    if args.liveportrait:
        from ..export.exporter import export_liveportrait

        _print(out / "liveportrait", export_liveportrait(out / "liveportrait", args.liveportrait))
    return 0


def _print(folder: Path, manifest: dict) -> None:
    for name, entry in manifest["graphs"].items():
        inputs = ", ".join(f"{i['name']}{i['shape']}" for i in entry["inputs"])
        outputs = ", ".join(f"{o['name']}{o['shape']}" for o in entry["outputs"])
        print(f"{folder / entry['file']}  {entry['bytes'] / 1e6:.1f} MB  ({inputs}) -> ({outputs})")
    print(f"wrote {folder / 'manifest.json'} (opset {manifest['opset']})")
