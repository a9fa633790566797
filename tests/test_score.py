"""The calibrated scale: monotone, anchored where the registry says, hash-aware."""

from __future__ import annotations

import itertools

import numpy as np
from lookalike.embed.descriptor import Descriptor, LocalFeatures
from lookalike.score.calibration import calibration_for
from lookalike.score.decision import IDENTICAL_THRESHOLD, MATCH_THRESHOLD, confidence
from lookalike.score.scorer import Scorer
from lookalike.score.verify import Verification

NO_KEYPOINTS = LocalFeatures.empty()


def _scorer() -> Scorer:
    return Scorer(calibration_for("sscd"))


def test_anchors_map_to_the_thresholds() -> None:
    scorer, cal = _scorer(), calibration_for("sscd")
    far = cal.hash_identical + 20
    assert scorer.similarity(cal.cos_match, far) == MATCH_THRESHOLD
    assert scorer.similarity(cal.cos_identical, far) == IDENTICAL_THRESHOLD
    assert scorer.similarity(1.0, far) == 1.0
    assert scorer.similarity(-0.3, far) == 0.0


def test_monotone_in_cosine_and_in_hash_distance() -> None:
    scorer = _scorer()
    cosines = np.linspace(-1, 1, 401)
    for distance in (0, 3, 10, 32):
        scores = [scorer.similarity(float(c), distance) for c in cosines]
        assert all(b >= a for a, b in itertools.pairwise(scores))
    for c in (0.2, 0.5, 0.7, 0.9):
        by_distance = [scorer.similarity(c, d) for d in range(65)]
        assert all(b <= a for a, b in itertools.pairwise(by_distance))


def test_hash_and_keypoints_count_only_above_the_floor() -> None:
    scorer, cal = _scorer(), calibration_for("sscd")
    far = cal.hash_identical + 20
    assert scorer.similarity(cal.cos_floor + 0.01, 0) >= IDENTICAL_THRESHOLD
    assert scorer.similarity(cal.cos_floor - 0.01, 0) < MATCH_THRESHOLD
    verified = Verification(inliers=cal.inliers_strong, coverage=0.5)
    assert scorer.similarity(cal.cos_floor + 0.01, far, verified) == 0.95
    assert scorer.similarity(cal.cos_floor - 0.01, far, verified) < MATCH_THRESHOLD
    at_match = Verification(inliers=cal.inliers_match, coverage=0.5)
    assert scorer.similarity(cal.cos_floor, far, at_match) == MATCH_THRESHOLD
    weak = Verification(inliers=cal.inliers_match - 1, coverage=0.5)
    sliver = Verification(inliers=cal.inliers_strong, coverage=cal.min_coverage / 2)
    assert scorer.similarity(cal.cos_floor, far, weak) < MATCH_THRESHOLD
    assert scorer.similarity(cal.cos_floor, far, sliver) < MATCH_THRESHOLD


def test_mirror_hash_is_used() -> None:
    scorer = _scorer()
    vec = np.zeros(4, dtype=np.float32)
    vec[0] = 1
    bits = np.unpackbits(np.arange(8, dtype=np.uint8) * 37)
    h, h_mirror = np.packbits(bits), np.packbits(1 - bits)
    a = Descriptor(vec, h, h_mirror, NO_KEYPOINTS)
    mirrored = Descriptor(vec, h_mirror, h, NO_KEYPOINTS)
    assert scorer.score(a, mirrored).hash_distance == 0


def test_confidence_and_decision() -> None:
    scorer = _scorer()
    assert confidence(0.99) == "high" and confidence(0.1) == "high"
    assert confidence(0.88) == "medium" and confidence(0.86) == "low"
    assert confidence(0.84) == "low"
    assert confidence(0.86, threshold=0.9) == "medium"
    pair = scorer.score(
        Descriptor(
            np.ones(2, np.float32) / 2**0.5, np.zeros(8, np.uint8), np.zeros(8, np.uint8), NO_KEYPOINTS
        ),
        Descriptor(
            np.ones(2, np.float32) / 2**0.5, np.zeros(8, np.uint8), np.zeros(8, np.uint8), NO_KEYPOINTS
        ),
    )
    result = scorer.decide(pair, 12.4)
    assert result.match and result.similarity_score == 1.0 and result.processing_time_ms == 12
