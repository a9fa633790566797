"""Boxes: where in an image a region sits, as (left, top, right, bottom) fractions of the
image's width and height, so that a box means the same at any resolution (a query view's,
a cut-out's, a picture-in-picture inset's)."""

from __future__ import annotations

from PIL import Image

__all__ = ["Box", "crop"]

Box = tuple[float, float, float, float]


def crop(image: Image.Image, box: Box) -> Image.Image:
    """``image`` cut to ``box``, rounded to whole pixels."""
    w, h = image.size
    return image.crop((round(box[0] * w), round(box[1] * h), round(box[2] * w), round(box[3] * h)))
