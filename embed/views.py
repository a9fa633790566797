"""Query views: where in an image a copied photo may sit.

A copy is often a sub-region of the query: a photo pasted on a listing template, a collage,
a screenshot of a listing, a product cut out and put on a new background. A global
descriptor of the whole canvas drifts away from the original's; a descriptor of the right
region does not. Measured on real photos (data/README.md), one extra view does it: the
centre 60 % of the image. With background normalisation and keypoint verification in the
scorer, more crops (three centre scales, the four corners) and a content box cut out of a flat
surround added nothing, at up to 11 times the cost.

A background swap is the exception: the product is whole, but on stripes, noise or a
gradient, and neither the full image nor a crop is near the original on white. Where the
image has a surround that can be told from its object (:mod:`.foreground`), the object cut
out and put back on white is one more view; a photo without one gets none.

Boxes (:mod:`.box`) are fractions of the image's width and height, so they mean the same at
any resolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from .box import Box
from .foreground import cut_out

__all__ = ["CENTRE_CROPS", "FULL", "Box", "View", "query_views"]

FULL: Box = (0.0, 0.0, 1.0, 1.0)
#: Centre crops, by the share of each side they keep.
CENTRE_CROPS = (0.6,)


@dataclass(frozen=True)
class View:
    """A named region of an image and its pixels."""

    name: str
    box: Box
    image: Image.Image


def query_views(image: Image.Image, mask: np.ndarray | None = None) -> list[View]:
    """The views a query is described in beyond the full image; the cut-out view only with
    ``mask``, the image's object (:func:`.foreground.object_mask`)."""
    w, h = image.size
    views = []
    for keep in CENTRE_CROPS:
        left, top = (w - round(keep * w)) // 2, (h - round(keep * h)) // 2
        right, bottom = left + round(keep * w), top + round(keep * h)
        box = (round(left / w, 4), round(top / h, 4), round(right / w, 4), round(bottom / h, 4))
        views.append(View(f"centre-{keep}", box, image.crop((left, top, right, bottom))))
    if mask is not None:
        pixels, box = cut_out(image, mask)
        views.append(View("foreground", box, pixels))
    return views
