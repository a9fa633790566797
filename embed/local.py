"""Local features: ORB keypoints of an image, for geometric verification
(:mod:`lookalike.score.verify`).

The global descriptor ranks well but cannot tell a photo pasted small on a listing template,
or cropped hard, from a look-alike of the same category: keypoints that agree under one
transform can.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from .descriptor import LocalFeatures

__all__ = ["QUERY", "REFERENCE", "Profile", "extract_local", "orb_tools"]


@dataclass(frozen=True)
class Profile:
    """How keypoints are found: on a grey image whose longer side is ``side`` px, at most
    ``keypoints`` of them."""

    side: int
    keypoints: int


# Measured on real photos (data/README.md): a stored reference keeps 100 ORB keypoints found
# at 320 px (36 bytes each: 3.6 KB), which at equal (zero) false alarms kept more copies than
# the strongest 100 of a 640 px set or a 4 KB thumbnail re-described at query time. The query
# is described richly (640 px, 1,000 keypoints, and its mirror), and only when its score
# could still change.
REFERENCE = Profile(side=320, keypoints=100)
QUERY = Profile(side=640, keypoints=1000)

_local = threading.local()  # OpenCV's detectors and matchers are not safe to share across threads


def orb_tools(keypoints: int = QUERY.keypoints) -> tuple[cv2.ORB, cv2.BFMatcher]:
    """This thread's ORB detector for ``keypoints`` features, and a Hamming matcher."""
    if not hasattr(_local, "matcher"):
        _local.orbs = {}
        _local.matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
    if keypoints not in _local.orbs:
        _local.orbs[keypoints] = cv2.ORB.create(nfeatures=keypoints, fastThreshold=10)
    return _local.orbs[keypoints], _local.matcher


def extract_local(image: Image.Image, profile: Profile = QUERY) -> LocalFeatures:
    grey = np.asarray(image.convert("L"))
    h, w = grey.shape
    scale = profile.side / max(h, w)
    if scale < 1:
        grey = cv2.resize(
            grey, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
        )
    orb, _ = orb_tools(profile.keypoints)
    keypoints, desc = orb.detectAndCompute(grey, None)
    if desc is None:
        return LocalFeatures.empty((int(grey.shape[0]), int(grey.shape[1])))
    xy = np.array([k.pt for k in keypoints], dtype=np.float32).reshape(-1, 2)
    return LocalFeatures(xy=xy, desc=desc, shape=(int(grey.shape[0]), int(grey.shape[1])))
