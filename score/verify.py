"""Geometric verification of local features: keypoints of two images that agree under one
rotation + scale + shift (RANSAC). A copy pasted small on a template, or cropped hard, keeps
dozens of them with its original; a different photo of the same kind a handful.

Agreement alone is not evidence. ORB puts many keypoints (pyramid levels, orientations) on
the few strong corners of a flat shape, and a degenerate transform (scale near 0) maps many
query points onto one such spot: a tablet photo "matched" a black t-shirt silhouette with 211
inliers that way. So :class:`Verification` also reports how many distinct places the inliers
sit at on each image and the transform's scale; the scorer trusts only inliers spread over
both images under a sane scale (data/README.md).

Spread is not enough either when the two images share a textured surround: two different
products pasted on one grass photo gave 50 inliers spread over the grass, one on the object.
Where the query is an object its surround encloses (:func:`lookalike.embed.foreground.enclosed`),
:func:`on_object` keeps only the inliers that sit on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from ..embed.descriptor import LocalFeatures
from ..embed.foreground import SIDE
from ..embed.local import orb_tools

__all__ = ["NONE", "Verification", "on_object", "verify"]

# Lowe's ratio test: a match counts only if clearly better than the second best.
RATIO = 0.8
RANSAC_PIXELS = 5.0
#: Inliers in the same cell of this many pixels count as one place.
CELL = 8

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Verification:
    """``inliers``: matches consistent with one similarity transform; ``coverage``: the larger
    of the two images' shares covered by the inliers' convex hull (a copy covers most of at
    least one side; a shared logo covers a sliver of both); ``distinct``: the fewer, over the
    two images, of the grid cells the inliers occupy; ``scale``: the transform's scale
    (query -> reference); ``query_box``/``reference_box``: the inliers' bounding boxes, as
    fractions of each image; ``points``: the inliers themselves (:class:`Inliers`)."""

    inliers: int
    coverage: float = 0.0
    distinct: int = 0
    scale: float = 0.0
    query_box: Box | None = None
    reference_box: Box | None = None
    points: Inliers | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Inliers:
    """Where the inliers sit: ``query`` and ``reference`` (pixels ``[n, 2]``, row by row the
    same match) on images of ``query_shape`` and ``reference_shape`` (height, width)."""

    query: np.ndarray
    reference: np.ndarray
    query_shape: tuple[int, int]
    reference_shape: tuple[int, int]


NONE = Verification(0)


def _hull_share(points: np.ndarray, shape: tuple[int, int]) -> float:
    area = float(cv2.contourArea(cv2.convexHull(points.astype(np.float32))))
    return area / max(1, shape[0] * shape[1])


def _cells(points: np.ndarray) -> int:
    return len({(int(x) // CELL, int(y) // CELL) for x, y in points})


def _box(points: np.ndarray, shape: tuple[int, int]) -> Box:
    h, w = shape
    (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
    return (
        round(max(0.0, float(x0) / w), 4),
        round(max(0.0, float(y0) / h), 4),
        round(min(1.0, float(x1) / w), 4),
        round(min(1.0, float(y1) / h), 4),
    )


def verify(query: LocalFeatures, reference: LocalFeatures) -> Verification:
    """Geometric verification of ``query``'s keypoints against ``reference``'s."""
    if len(query.desc) < 8 or len(reference.desc) < 8:
        return NONE
    _, matcher = orb_tools()
    pairs = matcher.knnMatch(query.desc, reference.desc, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < RATIO * p[1].distance]
    if len(good) < 6:
        return NONE
    pq = query.xy[[m.queryIdx for m in good]]
    pr = reference.xy[[m.trainIdx for m in good]]
    cv2.setRNGSeed(0)  # RANSAC samples at random: the same pair must always score the same
    model, mask = cv2.estimateAffinePartial2D(
        pq, pr, method=cv2.RANSAC, ransacReprojThreshold=RANSAC_PIXELS, maxIters=2000, confidence=0.99
    )
    if model is None or mask is None:
        return NONE
    keep = mask.ravel().astype(bool)
    scale = round(float(np.hypot(model[0, 0], model[1, 0])), 4)
    return _measured(Inliers(pq[keep], pr[keep], query.shape, reference.shape), scale)


def _measured(points: Inliers, scale: float) -> Verification:
    iq, ir = points.query, points.reference
    if len(iq) < 3:
        return Verification(len(iq))
    return Verification(
        inliers=len(iq),
        coverage=round(max(_hull_share(iq, points.query_shape), _hull_share(ir, points.reference_shape)), 4),
        distinct=min(_cells(iq), _cells(ir)),
        scale=scale,
        query_box=_box(iq, points.query_shape),
        reference_box=_box(ir, points.reference_shape),
        points=points,
    )


def on_object(found: Verification, mask: np.ndarray) -> Verification:
    """``found`` counting only the inliers on the query's object: ``mask`` (booleans, at any
    size with the query's proportions) grown by one pixel of a mask at
    :data:`~lookalike.embed.foreground.SIDE` px (5 px at 640), so that the corners of the
    object's own outline stay. The coverage stays that of all the inliers: it rules out a
    transform collapsed onto one spot, as the object's inliers spread over distinct cells do,
    and a small object's inliers cover little of the image."""
    if found.points is None:
        return found
    points = found.points
    reach = max(1, round(max(mask.shape) / SIDE))
    grown = cv2.dilate(mask.astype(np.uint8), np.ones((2 * reach + 1,) * 2, np.uint8)).astype(bool)
    (h, w), (mh, mw) = points.query_shape, grown.shape
    x = np.clip((points.query[:, 0] * mw / w).astype(int), 0, mw - 1)
    y = np.clip((points.query[:, 1] * mh / h).astype(int), 0, mh - 1)
    keep = grown[y, x]
    kept = _measured(replace(points, query=points.query[keep], reference=points.reference[keep]), found.scale)
    return replace(kept, coverage=found.coverage)
