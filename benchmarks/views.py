"""Prototype (benchmark only, not shipped): a second query view for pasted copies.

A copy pasted onto a new listing (pad bars, a frame, a flat canvas with a banner) shares only
part of its pixels with the original, and a global descriptor of the whole canvas drifts far
from the original's. :func:`content_box` peels flat borders and keeps the largest block of
content rows and columns between flat bands, which isolates the pasted photo; a natural
photo without flat borders comes back whole, so it costs no second view.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

__all__ = ["content_box"]

#: Channel difference from the background colour that counts as content.
TOLERANCE = 24
#: A row or column is content when this share of its pixels is.
CONTENT_SHARE = 0.04
#: Views smaller than this share of either side are noise (a logo, a price tag).
MIN_SIDE = 0.25


def _largest_run(flags: np.ndarray) -> tuple[int, int]:
    """[start, end) of the longest run of True in ``flags`` (the whole range if none)."""
    best, start = (0, 0), None
    for i, flag in enumerate([*flags.tolist(), False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            if i - start > best[1] - best[0]:
                best = (start, i)
            start = None
    return best if best[1] > best[0] else (0, len(flags))


def _surround_colour(border: np.ndarray) -> np.ndarray:
    """The commonest colour along the border (in bins of 8 levels): the canvas, even where
    the content touches most of one edge."""
    _, inverse, counts = np.unique(border // 8, axis=0, return_inverse=True, return_counts=True)
    return np.asarray(border[inverse.ravel() == int(np.argmax(counts))].mean(axis=0))


def content_box(image: Image.Image, rounds: int = 3) -> tuple[int, int, int, int] | None:
    """The box (left, top, right, bottom) of the main pasted content, or None when the image
    has no flat surround to remove."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
    h, w = pixels.shape[:2]
    left, top, right, bottom = 0, 0, w, h
    for _ in range(rounds):
        part = pixels[top:bottom, left:right]
        ph, pw = part.shape[:2]
        if ph < 8 or pw < 8:
            break
        background = _surround_colour(np.concatenate([part[0], part[-1], part[:, 0], part[:, -1]]))
        content = np.abs(part - background).max(axis=2) > TOLERANCE
        r0, r1 = _largest_run(content.mean(axis=1) > CONTENT_SHARE)
        c0, c1 = _largest_run(content[r0:r1].mean(axis=0) > CONTENT_SHARE)
        if (r0, r1, c0, c1) == (0, ph, 0, pw):
            break
        left, top, right, bottom = left + c0, top + r0, left + c1, top + r1
    if (right - left) < MIN_SIDE * w or (bottom - top) < MIN_SIDE * h:
        return None
    if (right - left) * (bottom - top) > 0.9 * w * h:
        return None
    return left, top, right, bottom
