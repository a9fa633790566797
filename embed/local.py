"""Local features: ORB keypoints, and their geometric verification between two images.

The global descriptor ranks well but cannot tell a photo pasted small on a listing template,
or cropped hard, from a look-alike of the same category: both land at middling cosines.
Keypoints that agree under one similarity transform (RANSAC) can: a copy shares dozens to
hundreds of them with its original, different photos a handful. The inlier count is the
evidence the scorer uses for partial copies.
"""

from __future__ import annotations

import struct
import threading
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

__all__ = ["LocalFeatures", "Verification", "extract_local", "verify"]

# Keypoints are found on a grey image whose longer side is this long. Measured on real photos
# (tests/conftest.py edits): at 512 px / 500 keypoints a watermarked or template-pasted copy
# kept as few as 8 inliers, at 640 px / 1000 keypoints at least 19, unrelated photos <= 16.
# A stored reference costs 36 bytes a keypoint (about 36 KB an image).
WORK_SIDE = 640
MAX_KEYPOINTS = 1000
# Lowe's ratio test: a match counts only if clearly better than the second best.
RATIO = 0.8
RANSAC_PIXELS = 5.0

_HEADER = struct.Struct("<HHH")  # keypoint count, height, width
_local = threading.local()  # OpenCV's detectors and matchers are not safe to share across threads


@dataclass(frozen=True)
class LocalFeatures:
    """Keypoint positions (``xy``, float32 ``[n, 2]`` in pixels of the ``shape`` image) and
    their 256-bit ORB descriptors (``desc``, uint8 ``[n, 32]``)."""

    xy: np.ndarray
    desc: np.ndarray
    shape: tuple[int, int]

    @classmethod
    def empty(cls, shape: tuple[int, int] = (1, 1)) -> LocalFeatures:
        """No keypoints (a blank image, or vectors that come without pixels)."""
        return cls(np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8), shape)

    def to_bytes(self) -> bytes:
        n = len(self.desc)
        return (
            _HEADER.pack(n, *self.shape)
            + self.xy.astype(np.float16).tobytes()
            + np.ascontiguousarray(self.desc, dtype=np.uint8).tobytes()
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> LocalFeatures:
        n, h, w = _HEADER.unpack_from(data)
        start = _HEADER.size
        xy = np.frombuffer(data, dtype=np.float16, count=2 * n, offset=start).reshape(n, 2)
        desc = np.frombuffer(data, dtype=np.uint8, count=32 * n, offset=start + 4 * n).reshape(n, 32)
        return cls(xy=xy.astype(np.float32), desc=desc, shape=(h, w))


@dataclass(frozen=True)
class Verification:
    """``inliers``: matches consistent with one similarity transform; ``coverage``: the larger
    of the two images' shares covered by the inliers' convex hull (a copy covers most of at
    least one side; a shared logo or banner covers a sliver of both)."""

    inliers: int
    coverage: float


def _tools() -> tuple[cv2.ORB, cv2.BFMatcher]:
    if not hasattr(_local, "orb"):
        _local.orb = cv2.ORB.create(nfeatures=MAX_KEYPOINTS, fastThreshold=10)
        _local.matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
    return _local.orb, _local.matcher


def extract_local(image: Image.Image) -> LocalFeatures:
    grey = np.asarray(image.convert("L"))
    h, w = grey.shape
    scale = WORK_SIDE / max(h, w)
    if scale < 1:
        grey = cv2.resize(
            grey, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
        )
    orb, _ = _tools()
    keypoints, desc = orb.detectAndCompute(grey, None)
    if desc is None:
        return LocalFeatures.empty((int(grey.shape[0]), int(grey.shape[1])))
    xy = np.array([k.pt for k in keypoints], dtype=np.float32).reshape(-1, 2)
    return LocalFeatures(xy=xy, desc=desc, shape=(int(grey.shape[0]), int(grey.shape[1])))


def _hull_share(points: np.ndarray, shape: tuple[int, int]) -> float:
    area = float(cv2.contourArea(cv2.convexHull(points.astype(np.float32))))
    return area / max(1, shape[0] * shape[1])


def verify(a: LocalFeatures, b: LocalFeatures) -> Verification:
    """Geometric verification of ``a`` against ``b``."""
    if len(a.desc) < 8 or len(b.desc) < 8:
        return Verification(0, 0.0)
    _, matcher = _tools()
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
