"""The inset of a clip shown picture-in-picture: where in its frames a copied video plays.

A copy pasted into a listing template or over other footage fills a rectangle of each
frame. The centre view (:mod:`.views`) catches it only where it sits near the middle and
fills most of it; on the video benchmark's fit copies (an inset of 55 % of each side,
off-centre, over a pan across a photo, with a banner below) the frames' median cosine to
their source was 0.32 whole, 0.58 in the centre view and 0.81 in the inset found here.

What gives the inset away over time is its border: four straight edges that stay where
they are while the pictures on both sides change. So, on the clip's sampled frames (grey):

- an edge *persists* at a pixel where the brightness step to its neighbour is at least
  :data:`STEP` in at least :data:`PERSIST` of the frames (a moving scene's edges pass
  through and do not);
- the candidate sides are the columns and rows with the most persistent-edge pixels (at
  least :data:`MIN_SIDE` of the frame's height or width), the :data:`CANDIDATES` strongest
  of each: counted, not as one run, since a side crossing a stretch where both pictures
  are equally bright breaks there (a test clip's right side did, in some encodings);
- the inset is the rectangle of four candidates whose sides are edge along at least
  :data:`MIN_COVER` of their length (the most covered; of those, the largest), at most
  :data:`MAX_AREA` of the frame.

A static shot has persistent edges everywhere, and a room's door or a shelf can make a
rectangle: the inset is only ever one more view, next to the whole frame and the centre
(:meth:`lookalike.video_descriptor.VideoDescriptor.with_views`), so a wrong box costs an
embedding pass and cannot hide a match. Chosen on the fit pool (data/README.md, "Inset").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from .box import Box

__all__ = ["inset_box"]

#: Grey levels (0-255) between neighbouring pixels that make an edge.
STEP = 12
#: Share of the frames an edge must be in to persist.
PERSIST = 0.3
#: A side spans at least this share of the frame's width or height.
MIN_SIDE = 0.25
#: Share of a side's length that must be persistent edge.
MIN_COVER = 0.6
#: An inset covers at most this share of the frame (beyond it, the whole frame is the view).
MAX_AREA = 0.85
#: Candidate columns (and rows) tried as sides.
CANDIDATES = 8
#: Frames looked at, evenly spread over the clip (bounds the time and memory on long clips).
MAX_FRAMES = 64


def inset_box(frames: Sequence[Image.Image]) -> Box | None:
    """The inset's box in fractions of the frame, or None: fewer than two frames, or no
    rectangle of persistent edges."""
    if len(frames) < 2:
        return None
    picks = np.unique(np.linspace(0, len(frames) - 1, min(len(frames), MAX_FRAMES)).round().astype(int))
    grey = np.stack([np.asarray(frames[i].convert("L"), np.int16) for i in picks])
    _, h, w = grey.shape
    # quantile 1 - PERSIST of the step: at least PERSIST of the frames have that step or more
    across = np.quantile(np.abs(np.diff(grey, axis=2)), 1 - PERSIST, axis=0) >= STEP  # [h, w-1]
    down = np.quantile(np.abs(np.diff(grey, axis=1)), 1 - PERSIST, axis=0) >= STEP  # [h-1, w]
    # a side drawn at a fractional position after scaling lands on either of two pixels
    across = across | np.roll(across, 1, axis=1) | np.roll(across, -1, axis=1)
    down = down | np.roll(down, 1, axis=0) | np.roll(down, -1, axis=0)
    columns = _strongest(across.sum(axis=0), MIN_SIDE * h)
    rows = _strongest(down.sum(axis=1), MIN_SIDE * w)
    # running sums along each candidate side, for its cover in O(1)
    col_sum = np.vstack([np.zeros((1, across.shape[1])), np.cumsum(across, axis=0)])
    row_sum = np.hstack([np.zeros((down.shape[0], 1)), np.cumsum(down, axis=1)])
    best: tuple[float, int] | None = None
    box: Box | None = None
    for i, left in enumerate(columns):
        for right in columns[i + 1 :]:
            if right - left < MIN_SIDE * w:
                continue
            for j, top in enumerate(rows):
                for bottom in rows[j + 1 :]:
                    area = (right - left) * (bottom - top)
                    if bottom - top < MIN_SIDE * h or area > MAX_AREA * w * h:
                        continue
                    tall, wide = bottom - top + 1, right - left + 1
                    covers = (
                        (col_sum[bottom + 1, left] - col_sum[top, left]) / tall,
                        (col_sum[bottom + 1, right] - col_sum[top, right]) / tall,
                        (row_sum[top, right + 1] - row_sum[top, left]) / wide,
                        (row_sum[bottom, right + 1] - row_sum[bottom, left]) / wide,
                    )
                    if min(covers) < MIN_COVER:
                        continue
                    key = (round(float(sum(covers)), 2), area)
                    if best is None or key > best:
                        # an edge between pixels k and k+1: the inset starts at k+1
                        best, box = key, ((left + 1) / w, (top + 1) / h, (right + 1) / w, (bottom + 1) / h)
    return box


def _strongest(edge_pixels: np.ndarray, at_least: float) -> list[int]:
    """The :data:`CANDIDATES` lines with the most persistent-edge pixels (``at_least``), no
    two within 3 pixels of each other, in order of position."""
    picked: list[int] = []
    for line in np.argsort(-edge_pixels, kind="stable"):
        if edge_pixels[line] < at_least or len(picked) == CANDIDATES:
            break
        if all(abs(int(line) - other) > 3 for other in picked):
            picked.append(int(line))
    return sorted(picked)
