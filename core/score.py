"""Pairwise scoring: two descriptors -> one calibrated similarity in [0, 1] -> a decision.

The same scorer answers ``match`` and re-ranks every search, so a score means the same
thing everywhere. Its scale keeps the thresholds trust & safety teams already use:

    >= 0.97  near-identical (re-encode, resize, mirror)
    >= 0.85  near-duplicate (crop, watermark, template paste, background swap)
    <  0.85  different images

Three channels of evidence, each mapped onto that scale, the strongest winning:

- the neural cosine, piecewise-linearly through the embedder's calibration anchors
  (``cos_match`` -> 0.85, ``cos_identical`` -> 0.97);
- the mirror-aware pHash: at or below ``hash_identical`` bits the pair is near-identical;
- geometric verification of local features (``lookalike.embed.local``): ``inliers_match``
  consistent keypoints covering ``min_coverage`` of one image make a near-duplicate, up to
  0.95 at ``inliers_strong`` (keypoints say "copied", not "how much was kept").

Hash and keypoint evidence count only above ``cos_floor``, where the neural channel at
least finds the pair plausible. Verification is the costly step, so it runs only when it
could raise the score.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from .embed.encode import Descriptor
from .embed.hashes import hamming
from .embed.local import Verification, verify
from .embed.registry import Calibration

__all__ = [
    "IDENTICAL_THRESHOLD",
    "MATCH_THRESHOLD",
    "Confidence",
    "MatchResult",
    "PairScore",
    "Scorer",
]

MATCH_THRESHOLD = 0.85
IDENTICAL_THRESHOLD = 0.97
LOCAL_CEILING = 0.95
Confidence = Literal["high", "medium", "low"]


@dataclass(frozen=True)
class PairScore:
    similarity: float
    cosine: float
    hash_distance: int
    #: Geometrically consistent keypoints; 0 when verification was not needed.
    inliers: int = 0


@dataclass(frozen=True)
class MatchResult:
    """The envelope of ``POST /image/match`` and ``lookalike match``."""

    match: bool
    confidence: Confidence
    similarity_score: float
    processing_time_ms: int

    def to_dict(self) -> dict[str, object]:
        return {
            "match": self.match,
            "confidence": self.confidence,
            "similarity_score": self.similarity_score,
            "processing_time_ms": self.processing_time_ms,
            "media_type": "image",
            "matched_segments": [],
        }


class Scorer:
    def __init__(self, calibration: Calibration, threshold: float = MATCH_THRESHOLD) -> None:
        self.calibration = calibration
        self.threshold = threshold

    def similarity(
        self, cosine: float, hash_distance: int, verification: Verification | None = None
    ) -> float:
        cal = self.calibration
        score = float(
            np.interp(
                cosine,
                [0.0, cal.cos_match, cal.cos_identical, 1.0],
                [0.0, MATCH_THRESHOLD, IDENTICAL_THRESHOLD, 1.0],
            )
        )
        if cosine < cal.cos_floor:
            return round(score, 4)
        if hash_distance <= cal.hash_identical:
            hash_score = IDENTICAL_THRESHOLD + (1 - IDENTICAL_THRESHOLD) * (
                1 - hash_distance / (cal.hash_identical + 1)
            )
            score = max(score, hash_score)
        if (
            verification is not None
            and verification.inliers >= cal.inliers_match
            and verification.coverage >= cal.min_coverage
        ):
            local_score = float(
                np.interp(
                    verification.inliers,
                    [cal.inliers_match, cal.inliers_strong],
                    [MATCH_THRESHOLD, LOCAL_CEILING],
                )
            )
            score = max(score, local_score)
        return round(score, 4)

    def score(self, a: Descriptor, b: Descriptor) -> PairScore:
        """Score ``a`` (the query: its mirror is tried too) against ``b``."""
        cosine = float(np.dot(a.vector, b.vector))
        distance = min(hamming(a.phash, b.phash), hamming(a.phash_mirror, b.phash))
        base = self.similarity(cosine, distance)
        if cosine < self.calibration.cos_floor or base >= LOCAL_CEILING:
            return PairScore(base, round(cosine, 4), distance)
        found = self._verify(a, b)
        return PairScore(self.similarity(cosine, distance, found), round(cosine, 4), distance, found.inliers)

    def _verify(self, a: Descriptor, b: Descriptor) -> Verification:
        found = verify(a.local, b.local)
        if a.local_mirror is not None and found.inliers < self.calibration.inliers_strong:
            mirrored = verify(a.local_mirror, b.local)
            if mirrored.inliers > found.inliers:
                return mirrored
        return found

    def confidence(self, similarity: float) -> Confidence:
        """How far the score sits from the threshold, on the side it is on."""
        margin = abs(similarity - self.threshold)
        if margin >= 0.08:
            return "high"
        return "medium" if margin >= 0.03 else "low"

    def decide(self, score: PairScore, elapsed_ms: float) -> MatchResult:
        return MatchResult(
            match=score.similarity >= self.threshold,
            confidence=self.confidence(score.similarity),
            similarity_score=score.similarity,
            processing_time_ms=round(elapsed_ms),
        )
