"""Geometric verification of local features: keypoints of two images that agree under one
rotation + scale + shift (RANSAC). A copy pasted small on a template, or cropped hard, keeps
dozens of them with its original; a different photo of the same kind a handful.

Agreement alone is not evidence. ORB puts many keypoints (pyramid levels, orientations) on
the few strong corners of a flat shape, and a degenerate transform (scale near 0) maps many
query points onto one such spot: a tablet photo "matched" a black t-shirt silhouette with 211
inliers that way. So :class:`Verification` also reports how many distinct places the inliers
sit at on each image and the transform's scale; the scorer trusts only inliers spread over
both images under a sane scale (data/README.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..embed.descriptor import LocalFeatures
from ..embed.local import orb_tools

__all__ = ["NONE", "Verification", "verify"]

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
    fractions of each image."""

    inliers: int
    coverage: float = 0.0
    distinct: int = 0
    scale: float = 0.0
    query_box: Box | None = None
    reference_box: Box | None = None


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
    inliers = int(keep.sum())
    if inliers < 3:
        return Verification(inliers)
    iq, ir = pq[keep], pr[keep]
    return Verification(
        inliers=inliers,
        coverage=round(max(_hull_share(iq, query.shape), _hull_share(ir, reference.shape)), 4),
        distinct=min(_cells(iq), _cells(ir)),
        scale=round(float(np.hypot(model[0, 0], model[1, 0])), 4),
        query_box=_box(iq, query.shape),
        reference_box=_box(ir, reference.shape),
    )
