"""Bytes -> a decoded RGB image, safely.

Every image lookalike looks at comes through :func:`decode_image`. It refuses what it cannot
handle with a named :mod:`lookalike.errors` exception *before* spending memory on it: input
bytes are capped, the pixel count is read from the header and capped before any pixel is
decoded, and only the formats a marketplace actually serves are opened.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from ..errors import (
    EmptyImageError,
    ImageTooLargeError,
    NotAnImageError,
    TruncatedImageError,
    UnsupportedFormatError,
)
from .formats import IMAGE_SUFFIXES, SUPPORTED_FORMATS

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MAX_SIDE",
    "DRAFT_SIDE",
    "IMAGE_SUFFIXES",
    "SUPPORTED_FORMATS",
    "DecodedImage",
    "decode_image",
    "read_image_bytes",
]

DEFAULT_MAX_BYTES = 15 * 1024 * 1024
DEFAULT_MAX_PIXELS = 40_000_000
# The model looks at 224 px, stored keypoints at 320 px and a query's keypoints at 640 px;
# each consumer shrinks the image itself, cheaply (box reduction first). Larger images are
# decoded at a reduced scale (JPEG draft, DCT scaling) and thumbnailed to this side. Measured
# on ~1 MP photos: a LANCZOS thumbnail to 1024 px cost 3.2 model passes and a bilinear one to
# 640 px 0.6, more than decoding the JPEG itself (data/README.md).
DEFAULT_MAX_SIDE = 1280
#: JPEGs are decoded by DCT scaling to the smallest scale that keeps this longer side.
DRAFT_SIDE = 600

_WHITE = (255, 255, 255)


@dataclass(frozen=True)
class DecodedImage:
    """An upright RGB image plus what was learnt about the bytes it came from."""

    image: Image.Image
    format: str
    width: int
    height: int
    sha256: str
    n_bytes: int


def read_image_bytes(path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """Read a file, refusing one larger than ``max_bytes`` without reading it whole."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > max_bytes:
            raise ImageTooLargeError(f"{p}: {size} bytes is over the {max_bytes}-byte limit")
        with p.open("rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise NotAnImageError(f"{p}: cannot read file: {exc.strerror or exc}") from exc
    if len(data) > max_bytes:
        raise ImageTooLargeError(f"{p}: over the {max_bytes}-byte limit")
    return data


def decode_image(
    source: bytes | str | Path,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_side: int = DEFAULT_MAX_SIDE,
    draft_side: int = DRAFT_SIDE,
) -> DecodedImage:
    """Decode ``source`` (raw bytes or a file path) into an upright RGB image.

    A JPEG is decoded by DCT scaling to the smallest scale whose longer side is still at
    least ``draft_side`` (a stored reference needs less than a query: see the callers).

    EXIF orientation is applied, transparency is composited on white, palette, CMYK,
    16-bit and greyscale images become 8-bit RGB, and animations give their first frame.
    ``width``/``height`` are the upright size of the original; the returned pixels are
    downscaled so the longer side is at most ``max_side``.
    """
    data = source if isinstance(source, bytes) else read_image_bytes(source, max_bytes)
    label = "image" if isinstance(source, bytes) else str(source)
    if not data:
        raise EmptyImageError(f"{label}: empty input (0 bytes)")
    if len(data) > max_bytes:
        raise ImageTooLargeError(f"{label}: {len(data)} bytes is over the {max_bytes}-byte limit")
    fmt = "image"
    try:
        # The pixel cap is ``max_pixels`` (checked from the header below). Pillow's own bomb
        # warning is left alone: filtering warnings is process-wide and not thread-safe, and
        # its DecompressionBombError (over twice its limit) still applies in open().
        im = Image.open(BytesIO(data))
        fmt = im.format or "unknown"
        if fmt not in SUPPORTED_FORMATS:
            raise UnsupportedFormatError(
                f"{label}: {fmt} images are not supported (use {', '.join(sorted(SUPPORTED_FORMATS))})"
            )
        width, height = im.size
        if width * height > max_pixels:
            raise ImageTooLargeError(
                f"{label}: {width}x{height} = {width * height} pixels is over the {max_pixels}-pixel limit"
            )
        if width == 0 or height == 0:
            raise NotAnImageError(f"{label}: image has no pixels ({width}x{height})")
        if fmt in ("JPEG", "MPO"):
            scale = min(draft_side, max_side) / max(width, height)
            if scale < 1:
                im.draft("RGB", (math.ceil(width * scale), math.ceil(height * scale)))
        im.seek(0)
        im.load()
        upright = ImageOps.exif_transpose(im)
        # Whether the upright image is the header's size turned by 90°, decided by the
        # pixels rather than by the EXIF tag: Pillow's TIFF reader already applies the
        # Orientation tag to ``size`` at open and drops it on load.
        if upright.size != im.size:
            width, height = height, width
        rgb = _to_rgb(upright)
    except (UnsupportedFormatError, ImageTooLargeError, NotAnImageError):
        raise
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(f"{label}: rejected as a decompression bomb: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise NotAnImageError(f"{label}: not an image (no known image signature)") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise TruncatedImageError(f"{label}: {fmt} data is truncated or corrupt: {exc}") from exc
    if max(rgb.size) > max_side:
        rgb.thumbnail((max_side, max_side), Image.Resampling.BILINEAR, reducing_gap=1.0)
    return DecodedImage(
        image=rgb,
        format=fmt,
        width=width,
        height=height,
        sha256=hashlib.sha256(data).hexdigest(),
        n_bytes=len(data),
    )


def _to_rgb(im: Image.Image) -> Image.Image:
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(im, dtype=np.float32)
        # 16-bit sources fill 0..65535; a 32-bit integer or float image may use any range.
        top = 65535.0 if mode.startswith("I;16") or arr.max() > 255 else 255.0
        im = Image.fromarray(np.clip(arr * (255.0 / top), 0, 255).astype(np.uint8), "L")
        mode = "L"
    if mode == "P":
        im = im.convert("RGBA") if "transparency" in im.info else im.convert("RGB")
    elif mode in ("LA", "PA", "La", "RGBa"):
        im = im.convert("RGBA")
    elif mode in ("L", "RGB") and "transparency" in im.info:
        # A colour key (PNG tRNS on a greyscale or truecolour image): that colour is transparent.
        im = im.convert("RGBA")
    if im.mode == "RGBA":
        canvas = Image.new("RGB", im.size, _WHITE)
        canvas.paste(im, mask=im.getchannel("A"))
        return canvas
    # ``im`` is exif_transpose's new image, never the decoder's: no copy is needed.
    return im.convert("RGB") if im.mode != "RGB" else im


# A truncated file must be an error, never a silently grey-padded image.
ImageFile.LOAD_TRUNCATED_IMAGES = False
