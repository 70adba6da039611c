"""``talkinghead rig-sheet``: render every motion channel on a portrait into one labelled PNG."""

from __future__ import annotations

import argparse


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "rig-sheet", help="contact sheet of every motion channel rendered on a portrait",
        description="Register a portrait with the warp renderer and render each expression channel at "
                    "0 / 0.5 / 1, gaze at -1 / +1 and yaw / pitch / roll at -15 / +15 degrees into one "
                    "labelled PNG, to judge the rig and the renderer by eye.")
    p.add_argument("--portrait", required=True, help="portrait image (JPEG/PNG/WebP...)")
    p.add_argument("-o", "--output", default="rig_sheet.png", help="PNG to write (default: %(default)s)")
    p.add_argument("--tile", type=int, default=192, help="tile width in pixels (default: %(default)s)")
    p.add_argument("--columns", type=int, default=6, help="tiles per row (default: %(default)s)")
    p.add_argument("--device", default="cpu", help="torch device (default: %(default)s)")
    return p


def run(args) -> int:
    from ..face.image_io import save_image
    from ..render import WarpRenderer
    from ..render.sheet import rig_sheet

    renderer = WarpRenderer(device=args.device)
    avatar = renderer.register(args.portrait)
    sheet = rig_sheet(renderer, avatar, tile=args.tile, columns=args.columns)
    path = save_image(args.output, sheet)
    print(f"wrote {path} ({sheet.shape[1]}x{sheet.shape[0]})")
    return 0
