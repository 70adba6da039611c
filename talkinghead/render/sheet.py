"""The rig contact sheet: every motion channel rendered on one portrait, for judging the rig by eye.

Each expression channel at 0 / 0.5 / 1 (the others at the portrait's own fitted values), gaze at
-1 / +1 per axis and yaw / pitch / roll at -15 / +15 degrees (relative to the portrait's pose),
plus the untouched portrait first. Tiles show the head crop (face region), labelled.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..errors import TalkingHeadError
from ..motion.channels import CHANNEL_INDEX, EXPRESSION_NAMES, GAZE_NAMES
from .base import Avatar, Renderer

EXPRESSION_VALUES = (0.0, 0.5, 1.0)
GAZE_VALUES = (-1.0, 1.0)
POSE_DEGREES = (-15.0, 15.0)
POSE_CHANNELS = ("yaw", "pitch", "roll")
FACE_CROP = (0.18, 0.14, 0.82, 0.82)  # (x0, y0, x1, y1) fraction of the head crop shown per tile
LABEL_PX = 22  # label strip height
BACKGROUND = (24, 24, 24)


def sheet_entries(avatar: Avatar) -> tuple[list[str], np.ndarray]:
    """Labels and (N, 37) motions of the sheet's tiles, in reading order."""
    rest = avatar.rest_motion.values[0]
    labels, rows = ["portrait"], [rest.copy()]

    def add(label: str, **channels: float) -> None:
        values = rest.copy()
        for name, value in channels.items():
            values[CHANNEL_INDEX[name]] = value
        labels.append(label)
        rows.append(values)

    for name in EXPRESSION_NAMES:
        for value in EXPRESSION_VALUES:
            add(f"{name} {value:g}", **{name: value})
    for name in GAZE_NAMES:
        for value in GAZE_VALUES:
            add(f"{name} {value:+g}", **{name: value})
    for name in POSE_CHANNELS:
        for degrees in POSE_DEGREES:
            add(f"{name} {degrees:+g} deg", **{name: degrees})
    return labels, np.stack(rows)


def _tile(crop: np.ndarray, label: str, width: int) -> np.ndarray:
    size = crop.shape[0]
    x0, y0, x1, y1 = (int(round(f * size)) for f in FACE_CROP)
    face = crop[y0:y1, x0:x1]
    height = int(round(width * face.shape[0] / face.shape[1]))
    face = cv2.resize(face, (width, height), interpolation=cv2.INTER_AREA)
    strip = np.full((LABEL_PX, width, 3), BACKGROUND, np.uint8)
    scale = min(0.5, 0.9 * width / max(1, 11 * len(label)))
    cv2.putText(strip, label, (4, LABEL_PX - 7), cv2.FONT_HERSHEY_SIMPLEX, scale, (235, 235, 235), 1, cv2.LINE_AA)
    return np.concatenate([strip, face], axis=0)


def rig_sheet(renderer: Renderer, avatar: Avatar, tile: int = 192, columns: int = 6) -> np.ndarray:
    """The contact sheet as an (H, W, 3) uint8 RGB image."""
    if tile < 64 or columns < 1:
        raise TalkingHeadError(f"rig sheet needs tile >= 64 px and columns >= 1 (got {tile}, {columns})")
    labels, motions = sheet_entries(avatar)
    crops = renderer.render(avatar, motions, paste=False)
    tiles = [_tile(crop, label, tile) for crop, label in zip(crops, labels)]
    blank = np.full_like(tiles[0], BACKGROUND)
    tiles += [blank] * (-len(tiles) % columns)
    rows = [np.concatenate(tiles[i:i + columns], axis=1) for i in range(0, len(tiles), columns)]
    return np.concatenate(rows, axis=0)

