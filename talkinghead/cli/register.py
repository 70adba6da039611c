"""``talkinghead register``: find, align and mask the face of a portrait; save a picture of the result."""

from __future__ import annotations

import argparse
import dataclasses
import warnings


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "register", help="register a portrait: face landmarks, head pose, aligned crop, head mask",
        description="Find the face of a portrait (default: scikit-image's astronaut), estimate its head pose, "
                    "cut the aligned head crop and write a PNG showing the crop with its 478 landmarks "
                    "next to the feathered head mask.")
    p.add_argument("--portrait", default=None, help="portrait image (JPEG/PNG/WebP...); default: skimage astronaut")
    p.add_argument("-o", "--output", default="registration.png", help="picture to write (default: %(default)s)")
    p.add_argument("--crop-size", type=int, default=None, help="side of the aligned crop in pixels (default 512)")
    p.add_argument("--config", default=None, help="YAML file with a 'face' section of FaceConfig options")
    return p


def run(args) -> int:
    from ..config import load_config
    from ..face import FaceConfig, register_face
    from ..face.image_io import save_image
    from ..face.visualize import registration_preview

    config = load_config(FaceConfig, args.config, section="face")
    if args.crop_size is not None:
        config = dataclasses.replace(config, crop_size=args.crop_size)
    source = args.portrait
    if source is None:
        source = _default_portrait()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reg = register_face(source, config)
    for w in caught:
        print(f"warning: {w.message}")
    path = save_image(args.output, registration_preview(reg))
    p = reg.pose
    h, w = reg.photo.shape[:2]
    print(f"portrait {w}x{h}: {reg.num_faces} face(s); pose yaw {p.yaw:+.1f} pitch {p.pitch:+.1f} "
          f"roll {p.roll:+.1f} deg, eye distance {p.scale:.0f} px")
    print(f"wrote {path} (aligned {reg.crop_size}px crop with landmarks | feathered head mask)")
    return 0


def _default_portrait():
    """scikit-image's bundled public-domain astronaut portrait (NASA), (512, 512, 3) uint8."""
    from ..errors import DependencyError

    try:
        import skimage.data
    except ImportError as e:
        raise DependencyError("the default portrait comes from scikit-image: `pip install scikit-image`, "
                              "or pass --portrait PHOTO") from e
    return skimage.data.astronaut()
