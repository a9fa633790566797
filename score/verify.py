"""Geometric verification of local features: keypoints of two images that agree under one
rotation + scale + shift (RANSAC). A copy pasted small on a template, or cropped hard, keeps
dozens to hundreds of them with its original; a different photo of the same kind a handful.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..embed.descriptor import LocalFeatures
from ..embed.local import orb_tools

__all__ = ["Verification", "verify"]

# Lowe's ratio test: a match counts only if clearly better than the second best.
RATIO = 0.8
RANSAC_PIXELS = 5.0


@dataclass(frozen=True)
class Verification:
    """``inliers``: matches consistent with one similarity transform; ``coverage``: the larger
    of the two images' shares covered by the inliers' convex hull (a copy covers most of at
    least one side; a shared logo or banner covers a sliver of both)."""

    inliers: int
    coverage: float


def _hull_share(points: np.ndarray, shape: tuple[int, int]) -> float:
    area = float(cv2.contourArea(cv2.convexHull(points.astype(np.float32))))
    return area / max(1, shape[0] * shape[1])


def verify(a: LocalFeatures, b: LocalFeatures) -> Verification:
    """Geometric verification of ``a`` against ``b``."""
    if len(a.desc) < 8 or len(b.desc) < 8:
        return Verification(0, 0.0)
    _, matcher = orb_tools()
    pairs = matcher.knnMatch(a.desc, b.desc, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < RATIO * p[1].distance]
    if len(good) < 6:
        return Verification(0, 0.0)
    pa = a.xy[[m.queryIdx for m in good]]
    pb = b.xy[[m.trainIdx for m in good]]
    cv2.setRNGSeed(0)  # RANSAC samples at random: the same pair must always score the same
    model, mask = cv2.estimateAffinePartial2D(
        pa, pb, method=cv2.RANSAC, ransacReprojThreshold=RANSAC_PIXELS, maxIters=2000, confidence=0.99
    )
    if model is None or mask is None:
        return Verification(0, 0.0)
    keep = mask.ravel().astype(bool)
    inliers = int(keep.sum())
    if inliers < 3:
        return Verification(inliers, 0.0)
    coverage = max(_hull_share(pa[keep], a.shape), _hull_share(pb[keep], b.shape))
    return Verification(inliers, round(coverage, 4))
