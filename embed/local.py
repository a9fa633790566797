"""Local features: ORB keypoints of an image, for geometric verification
(:mod:`lookalike.score.verify`).

The global descriptor ranks well but cannot tell a photo pasted small on a listing template,
or cropped hard, from a look-alike of the same category: keypoints that agree under one
transform can.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np
from PIL import Image

from .descriptor import LocalFeatures

__all__ = ["MAX_KEYPOINTS", "WORK_SIDE", "extract_local", "orb_tools"]

# Keypoints are found on a grey image whose longer side is this long. Measured on real photos
# (tests/conftest.py edits): at 512 px / 500 keypoints a watermarked or template-pasted copy
# kept as few as 8 inliers, at 640 px / 1000 keypoints at least 19, unrelated photos <= 16.
# A stored reference costs 36 bytes a keypoint (about 36 KB an image).
WORK_SIDE = 640
MAX_KEYPOINTS = 1000

_local = threading.local()  # OpenCV's detectors and matchers are not safe to share across threads


def orb_tools() -> tuple[cv2.ORB, cv2.BFMatcher]:
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
    orb, _ = orb_tools()
    keypoints, desc = orb.detectAndCompute(grey, None)
    if desc is None:
        return LocalFeatures.empty((int(grey.shape[0]), int(grey.shape[1])))
    xy = np.array([k.pt for k in keypoints], dtype=np.float32).reshape(-1, 2)
    return LocalFeatures(xy=xy, desc=desc, shape=(int(grey.shape[0]), int(grey.shape[1])))
