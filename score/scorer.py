"""Pairwise scoring: two descriptors -> one calibrated similarity in [0, 1] -> a decision.

The same scorer answers ``match`` and re-ranks every search, so a score means the same
thing everywhere, on the scale of :mod:`lookalike.score.decision`. Three channels of
evidence, each mapped onto that scale, the strongest winning:

- the neural cosine, piecewise-linearly through the embedder's calibration anchors
  (``cos_match`` -> 0.85, ``cos_identical`` -> 0.97);
- the mirror-aware pHash: at or below ``hash_identical`` bits the pair is near-identical;
- geometric verification of local features (:mod:`lookalike.score.verify`): ``inliers_match``
  consistent keypoints covering ``min_coverage`` of one image make a near-duplicate, up to
  0.95 at ``inliers_strong`` (keypoints say "copied", not "how much was kept").

Hash and keypoint evidence count only above ``cos_floor``, where the neural channel at
least finds the pair plausible. Verification is the costly step, so it runs only when it
could raise the score.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..embed.descriptor import Descriptor
from ..embed.hashes import hamming
from .calibration import Calibration
from .decision import IDENTICAL_THRESHOLD, MATCH_THRESHOLD, MatchResult, confidence
from .verify import Verification, verify

__all__ = ["LOCAL_CEILING", "PairScore", "Scorer"]

#: Keypoints say "copied", not "how much was kept": they never make a pair near-identical.
LOCAL_CEILING = 0.95


@dataclass(frozen=True)
class PairScore:
    similarity: float
    cosine: float
    hash_distance: int
    #: Geometrically consistent keypoints; 0 when verification was not needed.
    inliers: int = 0


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

    def decide(self, score: PairScore, elapsed_ms: float) -> MatchResult:
        return MatchResult(
            match=score.similarity >= self.threshold,
            confidence=confidence(score.similarity, self.threshold),
            similarity_score=score.similarity,
            processing_time_ms=round(elapsed_ms),
        )
