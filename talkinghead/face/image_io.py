"""Reading a portrait into an RGB uint8 array, whatever format the user hands us."""

from __future__ import annotations

import io
import os
import struct
import warnings
from pathlib import Path

import numpy as np

from ..errors import InputLimitError, InvalidImageError
from ..limits import Limits

# Larger photos are refused before decoding (a 50 MP image is 150 MB as RGB uint8); the pipeline
# passes its configured limit (TALKINGHEAD_MAX_IMAGE_PIXELS).
MAX_IMAGE_PIXELS = Limits.max_image_pixels
_UINT16_TO_UINT8 = 257.0  # 65535 / 255


def load_image(source: str | os.PathLike | np.ndarray, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Read a portrait as RGB uint8, (H, W, 3) C-contiguous.

    ``source`` is a path to any format Pillow reads (JPEG, PNG, WebP, TIFF, BMP, GIF, ...) or an
    array: (H, W) gray, (H, W, 1|3|4) gray/RGB/RGBA, dtype uint8, uint16 (0..65535) or float
    (0..1). The EXIF orientation tag is applied; alpha is composited on white; CMYK, palette,
    16-bit and float images are converted.

    Raises :class:`InvalidImageError` for a missing, empty, truncated or non-image file or an
    unusable array, and :class:`InputLimitError` above ``max_pixels`` pixels.
    """
    if isinstance(source, np.ndarray):
        image = _array_to_rgb(source)
    else:
        image = _read_file(Path(source), max_pixels)
    if image.shape[0] * image.shape[1] > max_pixels:
        raise InputLimitError(f"image is {image.shape[1]}x{image.shape[0]} pixels, more than the limit of "
                              f"{max_pixels}; resize it first")
    return np.ascontiguousarray(image)


def load_image_bytes(data: bytes, max_pixels: int = MAX_IMAGE_PIXELS, formats: tuple[str, ...] | None = None,
                     what: str = "the upload") -> np.ndarray:
    """:func:`load_image` for an encoded image in memory (an upload): RGB uint8 (H, W, 3).

    ``formats`` restricts the Pillow decoders that may run (e.g. ``("JPEG", "PNG", "WEBP")`` for
    uploads from the network); ``what`` names the data in error messages. Same errors as
    :func:`load_image`."""
    if not data:
        raise InvalidImageError(f"{what} is empty; send a JPEG/PNG/WebP portrait photo")
    return np.ascontiguousarray(_decode(io.BytesIO(data), what, max_pixels, formats))


def _read_file(path: Path, max_pixels: int) -> np.ndarray:
    if not path.is_file():
        raise InvalidImageError(f"image file {path} does not exist (or is not a file); check the path")
    if path.stat().st_size == 0:
        raise InvalidImageError(f"image file {path} is empty; use a JPEG/PNG/WebP portrait photo")
    return _decode(path, f"image file {path}", max_pixels, None)


# What Pillow's decoders raise on corrupt or hostile data (found by fuzzing PNG/JPEG/GIF/TIFF/BMP/WebP):
# truncated streams, bad chunk lengths, malformed EXIF (an IFDRational where an int belongs), ...
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, TypeError, EOFError, IndexError, KeyError, struct.error,
                  ZeroDivisionError)


def _decode(source, what: str, max_pixels: int, formats) -> np.ndarray:
    """Pillow-decode a path or file object -> (H, W, 3) uint8, the size checked from the header first."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source, formats=formats) as im:
                if im.width * im.height > max_pixels:
                    raise InputLimitError(f"{what} is {im.width}x{im.height} pixels, more than the limit "
                                          f"of {max_pixels}; resize it first")
                im.load()  # decodes fully: truncated files fail here
                im = ImageOps.exif_transpose(im)
                im.load()
    except InputLimitError:  # a ValueError: must not be reported as a corrupt file below
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
        raise InputLimitError(f"{what} is too large to decode safely ({e}); resize it first") from e
    except UnidentifiedImageError as e:
        raise InvalidImageError(f"{what} is not an image Pillow can read; use a JPEG/PNG/WebP photo") from e
    except _DECODE_ERRORS as e:  # truncated / corrupt data inside a known format
        raise InvalidImageError(f"{what} is corrupt or truncated ({e}); re-export or re-download it") from e
    return _pil_to_rgb(im)


def _pil_to_rgb(im) -> np.ndarray:
    """Any Pillow mode -> (H, W, 3) uint8 RGB."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        return _array_to_rgb(np.asarray(im).astype(np.uint16 if im.mode.startswith("I;16") else np.int64))
    if im.mode == "F":
        return _array_to_rgb(np.asarray(im, dtype=np.float32))
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        return _array_to_rgb(np.asarray(im.convert("RGBA")))
    return np.asarray(im.convert("RGB"))


def _to_uint8(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)):
            raise InvalidImageError("image array contains NaN or infinite values")
        return np.clip(np.rint(array * 255.0), 0, 255).astype(np.uint8)
    if array.dtype == np.uint16:
        return np.rint(array / _UINT16_TO_UINT8).astype(np.uint8)
    if np.issubdtype(array.dtype, np.integer):  # e.g. Pillow's 32-bit "I" mode: 8- or 16-bit data
        peak = 255 if array.max(initial=0) <= 255 else 65535
        scale = 1.0 if peak == 255 else _UINT16_TO_UINT8
        return np.clip(np.rint(array / scale), 0, 255).astype(np.uint8)
    raise InvalidImageError(f"image array has unsupported dtype {array.dtype}; use uint8, uint16 or float in [0, 1]")


def _array_to_rgb(array: np.ndarray) -> np.ndarray:
    """(H, W) / (H, W, 1|2|3|4) array of a supported dtype -> (H, W, 3) uint8."""
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4) or array.shape[0] == 0 or array.shape[1] == 0:
        raise InvalidImageError(f"image array has shape {array.shape}; expected (H, W), (H, W, 3) or (H, W, 4)")
    image = _to_uint8(array)
    if image.shape[2] in (2, 4):  # gray+alpha or RGBA: composite on white
        alpha = image[:, :, -1:].astype(np.float32) / 255.0
        color = image[:, :, :-1].astype(np.float32)
        image = np.rint(color * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    return image


def save_image(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Write an RGB uint8 (H, W, 3) image; the format follows the suffix (.png, .jpg, .webp, ...).
    Written to a temporary sibling first and renamed, so no half-written file is ever left."""
    import cv2

    from ..paths import atomic_path

    path = Path(path)
    suffix = path.suffix.lower() or ".png"
    ok, data = cv2.imencode(suffix, cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR))
    if not ok:
        raise InvalidImageError(f"cannot encode an image as {suffix!r}; use .png, .jpg or .webp")
    if path.parent and not path.parent.exists():
        raise InvalidImageError(f"output folder {path.parent} does not exist; create it first")
    tmp = atomic_path(path)
    try:
        tmp.write_bytes(data.tobytes())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
