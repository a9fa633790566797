"""The foreground of an image: an object put on a new surround, cut out again.

A product photographed on white, cut out and pasted on stripes, noise or a gradient (a
background swap) keeps its pixels, but a global descriptor of the new canvas drifts far from
the original's: on real photos SSCD's cosine fell to 0.15-0.30. Cut out and put back on
white, the same object scores 0.4-0.8 against its original, and 0.15 at most against any
reference for the photo benchmark's fit distractor queries (data/README.md).

How, with the boundary prior (the surround is what touches the image's border), on a copy
whose longer side is :data:`SIDE` px, in a few milliseconds:

- a colour is surround when its share among the border pixels is at least :data:`RATIO` of its
  share inside (a colour of the object is rare on the border even where the object touches
  it); colours are binned :data:`LEVELS` per channel, each bin counted with its neighbours;
- a smooth surround (a gradient) is also what a Coons patch through the four borders predicts
  at each pixel, within :data:`TOLERANCE`;
- the rest, closed, with small holes filled (a white collar on a white-ish surround) and
  fragments much smaller than the largest dropped, is the foreground.

Where the surround is :func:`textured` (stripes, noise, a scene: it changes colour every few
pixels along the border), colour bins cannot tell a grey hyena's fur from grey noise, nor an
emu's legs from the blended edges of stripes, and the cut-out keeps ragged bits of the
surround that pull its descriptor away. There the mask is :func:`refine`-d: one GrabCut pass
at :data:`REFINE_SIDE` px, seeded by it (a few tens of milliseconds, only on such queries).

Choices measured on the fit split's background swaps (data/README.md): a ratio of 0.5 over
0.15-1.0, no blur (it erased legs and flutes), 128 px for the prior (256 px cut out better,
but cut-outs of two photos of one boot, on white, came closer still and raised the anchor
more than the swaps gained). The refinement leaves a plain surround's mask as it was, so
those boots (the top of the false-alarm chances) are untouched and the anchor stays.

Most images have some salient region, so most queries get this view (58 % of the fit split);
an image with no separable surround (a flat canvas, a star field) gets none
(:func:`object_mask` returns None). Where the surround encloses the object (:func:`enclosed`),
the same mask tells the keypoint verifier which inliers sit on the query's object
(:func:`lookalike.score.verify.on_object`).
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from .box import Box, crop

__all__ = ["cut_out", "enclosed", "foreground_mask", "object_mask", "refine", "textured"]

SIDE = 128
LEVELS = 16
RATIO = 0.5
TOLERANCE = 24.0
#: The border strip that stands for the surround, as a share of the longer side.
BORDER = 0.04
#: Holes up to this share of the image are the object's own (filled); larger ones are surround.
HOLE = 0.02
#: Fragments smaller than this share of the largest one are noise.
FRAGMENT = 0.1
#: A foreground outside these shares of the image is no cut-out.
MIN_SHARE, MAX_SHARE = 0.03, 0.85
#: A surround that changes colour along the border at least this often is textured, and its
#: object's mask is :func:`refine`-d at :data:`REFINE_SIDE` px.
TEXTURED = 0.1
REFINE_SIDE = 256
#: A refinement that keeps less than this share of the boundary prior's object has lost part
#: of it (GrabCut took a grey cat's head for the grey noise around it); the prior's mask stays.
KEEP = 0.75
#: The cut-out keeps this margin around the object, as a share of each side.
MARGIN = 0.03


def _coons(pixels: np.ndarray, b: int) -> np.ndarray:
    """The smooth surface through the four border strips' mean colours."""
    f = pixels.astype(np.float32)
    h, w = f.shape[:2]
    left, right = f[:, :b].mean(axis=1), f[:, -b:].mean(axis=1)
    top, bottom = f[:b].mean(axis=0), f[-b:].mean(axis=0)
    u = np.linspace(0, 1, w, dtype=np.float32)[None, :, None]
    v = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    c00, c01 = f[:b, :b].mean(axis=(0, 1)), f[:b, -b:].mean(axis=(0, 1))
    c10, c11 = f[-b:, :b].mean(axis=(0, 1)), f[-b:, -b:].mean(axis=(0, 1))
    edges = (1 - u) * left[:, None] + u * right[:, None] + (1 - v) * top[None] + v * bottom[None]
    corners = (1 - u) * (1 - v) * c00 + u * (1 - v) * c01 + (1 - u) * v * c10 + u * v * c11
    return np.asarray(edges - corners)


def _smear(counts: np.ndarray) -> np.ndarray:
    """Each colour bin counted with its neighbours along every channel (a 3x3x3 box sum)."""
    for axis in range(3):
        moved = np.moveaxis(counts, axis, 0)
        out = moved.copy()
        out[1:] += moved[:-1]
        out[:-1] += moved[1:]
        counts = np.moveaxis(out, 0, axis)
    return counts


def _surround(pixels: np.ndarray) -> np.ndarray:
    """Which pixels look like the border: by colour, or on the border's smooth surface."""
    h, w = pixels.shape[:2]
    b = max(2, round(BORDER * max(h, w)))
    binned = pixels.astype(np.int32) * LEVELS // 256
    code = (binned[..., 0] * LEVELS + binned[..., 1]) * LEVELS + binned[..., 2]
    border = np.zeros((h, w), dtype=bool)
    border[:b], border[-b:], border[:, :b], border[:, -b:] = True, True, True, True
    shares = []
    for where in (border, ~border):
        counts = np.bincount(code[where], minlength=LEVELS**3).reshape(LEVELS, LEVELS, LEVELS)
        shares.append(_smear(counts.astype(np.float32)) / max(1, int(where.sum())))
    on_border, inside = shares
    by_colour = ((on_border > 0) & (on_border >= RATIO * inside)).ravel()[code]
    smooth = np.linalg.norm(pixels.astype(np.float32) - _coons(pixels, b), axis=2) < TOLERANCE
    return np.asarray(by_colour | smooth)


def _small(image: Image.Image, side: int) -> np.ndarray:
    """``image``'s pixels with the longer side at ``side`` px."""
    w, h = image.size
    scale = side / max(w, h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(image.convert("RGB").resize(size, Image.Resampling.BOX))


def _foreground(pixels: np.ndarray) -> np.ndarray:
    found = (~_surround(pixels)).astype(np.uint8)
    fg = np.asarray(cv2.morphologyEx(found, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8)), dtype=np.uint8)
    # Holes: the parts of the surround that do not reach the border.
    n, labels, stats, _ = cv2.connectedComponentsWithStats(1 - fg, connectivity=4)
    hh, ww = fg.shape
    x, y, bw, bh, area = (stats[:, i] for i in range(5))
    inner = (x > 0) & (y > 0) & (x + bw < ww) & (y + bh < hh) & (area <= HOLE * hh * ww)
    inner[0] = False
    fg[inner[labels]] = 1
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    if n <= 1:
        return np.zeros_like(fg, dtype=bool)
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.concatenate([[False], areas >= FRAGMENT * areas.max()])
    return np.asarray(keep[labels])


def foreground_mask(image: Image.Image) -> np.ndarray:
    """The foreground of ``image`` at :data:`SIDE` px (its longer side), as booleans."""
    return _foreground(_small(image, SIDE))


def textured(pixels: np.ndarray, mask: np.ndarray) -> float:
    """How often the surround changes colour along the image's border (``pixels`` and
    ``mask`` at :data:`SIDE` px): the share of neighbouring border pixels, off the object and
    along the edge, more than :data:`TOLERANCE` apart in a channel. Stripes and noise change
    every few pixels; a flat backdrop, a template's frame or the wedge a rotation leaves run
    along the edge and hardly change (a 3x3 median first drops one-pixel lines)."""
    h, w = mask.shape
    b = max(2, round(BORDER * max(h, w)))
    smooth = cv2.medianBlur(np.ascontiguousarray(pixels), 3).astype(np.int16)
    off = ~cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    steps = []
    for strip, free, axis in (
        (smooth[:b], off[:b], 1),
        (smooth[-b:], off[-b:], 1),
        (smooth[:, :b], off[:, :b], 0),
        (smooth[:, -b:], off[:, -b:], 0),
    ):
        jump = np.abs(np.diff(strip, axis=axis)).max(axis=2) > TOLERANCE
        both = free[:, 1:] & free[:, :-1] if axis == 1 else free[1:] & free[:-1]
        steps.append(jump[both])
    changes = np.concatenate(steps)
    return float(changes.mean()) if len(changes) else 0.0


def refine(image: Image.Image, mask: np.ndarray) -> np.ndarray:
    """``mask`` (at :data:`SIDE` px) redrawn by one GrabCut pass at :data:`REFINE_SIDE` px,
    seeded by it: the object's own colours and edges against the surround's, where the
    boundary prior's colour bins cannot tell them apart (a grey hyena's fur on grey noise,
    the blended edges of stripes). The surround on the border stays surround, so an object
    the surround encloses stays enclosed."""
    pixels = _small(image, REFINE_SIDE)
    h, w = pixels.shape[:2]
    seed = cv2.resize(mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
    labels = np.where(seed, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    b = max(2, round(2 * max(h, w) / SIDE))  # two pixels of the mask
    edge = np.zeros((h, w), dtype=bool)
    edge[:b], edge[-b:], edge[:, :b], edge[:, -b:] = True, True, True, True
    labels[edge & ~seed] = cv2.GC_BGD
    surround, object_ = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    # GrabCut seeds its colour models by k-means from OpenCV's global generator: seeded here, a
    # query's mask does not depend on what was cut out before it on this thread.
    cv2.setRNGSeed(0)
    # One pass: three cut one more of the fit split's 46 swaps out well enough (41), at twice the time.
    cv2.grabCut(pixels[..., ::-1].copy(), labels, (0, 0, w, h), surround, object_, 1, cv2.GC_INIT_WITH_MASK)
    return np.asarray((labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD))


def object_mask(image: Image.Image) -> np.ndarray | None:
    """:func:`foreground_mask` when it is an object (:data:`MIN_SHARE` to :data:`MAX_SHARE` of
    the image), :func:`refine`-d at :data:`REFINE_SIDE` px when the surround is
    :func:`textured`; None when ``image`` has no separable surround."""
    pixels = _small(image, SIDE)
    mask = _foreground(pixels)
    if not MIN_SHARE <= float(mask.mean()) <= MAX_SHARE:
        return None
    if textured(pixels, mask) >= TEXTURED:
        refined = refine(image, mask)
        seed = cv2.resize(mask.astype(np.uint8), refined.shape[::-1], interpolation=cv2.INTER_NEAREST)
        kept = float((refined & seed.astype(bool)).sum()) / max(1, int(seed.sum()))
        if kept >= KEEP and MIN_SHARE <= float(refined.mean()) <= MAX_SHARE:
            return refined
    return mask


def enclosed(mask: np.ndarray) -> bool:
    """Whether the surround encloses the object (no part of ``mask`` on the image's edge): a
    product set on a backdrop. In a whole scene or a crop the "object" the boundary prior finds
    may be any patch (a white jacket, a patch of sky) and it runs off the edge."""
    return not (mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())


def cut_out(image: Image.Image, mask: np.ndarray) -> tuple[Image.Image, Box]:
    """``image``'s object (``mask``: its :func:`object_mask`) on white, cropped to it with a
    small margin, and where it sits (a normalised box)."""
    alpha = Image.fromarray(mask.astype(np.uint8) * 255).resize(image.size, Image.Resampling.BILINEAR)
    out = Image.new("RGB", image.size, (255, 255, 255))
    out.paste(image.convert("RGB"), (0, 0), alpha)
    ys, xs = np.nonzero(mask)
    h, w = mask.shape
    box = (
        round(max(0.0, float(xs.min()) / w - MARGIN), 4),
        round(max(0.0, float(ys.min()) / h - MARGIN), 4),
        round(min(1.0, float(xs.max() + 1) / w + MARGIN), 4),
        round(min(1.0, float(ys.max() + 1) / h + MARGIN), 4),
    )
    return crop(out, box), box
