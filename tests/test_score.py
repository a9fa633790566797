"""The calibrated scale: monotone, anchored where the calibration says, near-identical only
by the whole images' cosine, keypoint evidence trusted only when it is spread out under a
sane transform, and background normalisation that lowers queries close to everything."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
from lookalike.embed.descriptor import Descriptor, LocalFeatures
from lookalike.embed.encode import Query
from lookalike.score.background import Background
from lookalike.score.calibration import Calibration, calibration_for
from lookalike.score.decision import IDENTICAL_THRESHOLD, MATCH_THRESHOLD, confidence
from lookalike.score.scorer import LOCAL_CEILING, SCORE_CEILING, Scorer
from lookalike.score.verify import Verification

NO_KEYPOINTS = LocalFeatures.empty()
CAL = calibration_for("sscd")


def _scorer(background: Background | None = None) -> Scorer:
    return Scorer(CAL, background=background)


def _spread(inliers: int) -> Verification:
    """Keypoint evidence that passes every rule but the count."""
    return Verification(inliers, coverage=0.5, distinct=40, scale=1.0)


def test_anchors_map_to_the_thresholds() -> None:
    scorer = _scorer()
    assert scorer.similarity(CAL.score_match, 0.5, 0.5) == MATCH_THRESHOLD
    assert scorer.similarity(CAL.score_match + CAL.score_span, 0.9, 0.5) == SCORE_CEILING
    assert scorer.similarity(1.0, 1.0, 0.5) == SCORE_CEILING  # a view alone is never near-identical
    assert scorer.similarity(0.5, 0.9, CAL.cos_identical) == IDENTICAL_THRESHOLD
    assert scorer.similarity(1.0, 1.0, 1.0) == 1.0
    assert scorer.similarity(-0.3, -0.3, -0.3) == 0.0


def test_monotone_in_every_channel() -> None:
    scorer = _scorer()
    grid = np.linspace(-1, 1, 201)
    for full in (0.1, 0.5, 0.9):
        scores = [scorer.similarity(float(s), 0.5, full) for s in grid]
        assert all(b >= a for a, b in itertools.pairwise(scores))
    by_full = [scorer.similarity(0.3, 0.5, float(c)) for c in grid]
    assert all(b >= a for a, b in itertools.pairwise(by_full))
    by_inliers = [scorer.similarity(0.0, 0.5, 0.0, _spread(n)) for n in range(0, 80)]
    assert all(b >= a for a, b in itertools.pairwise(by_inliers))


def test_keypoints_count_only_above_the_floor() -> None:
    scorer = _scorer()
    above, below = CAL.cos_floor + 0.01, CAL.cos_floor - 0.01
    assert scorer.similarity(0.0, above, 0.0, _spread(CAL.inliers_strong)) == LOCAL_CEILING
    assert scorer.similarity(0.0, below, 0.0, _spread(CAL.inliers_strong)) < MATCH_THRESHOLD
    assert scorer.similarity(0.0, above, 0.0, _spread(CAL.inliers_match)) == MATCH_THRESHOLD
    assert scorer.similarity(0.0, above, 0.0, _spread(CAL.inliers_match - 1)) < MATCH_THRESHOLD


def test_keypoints_that_flat_shapes_fake_are_not_trusted() -> None:
    scorer, good = _scorer(), _spread(200)
    assert scorer.trusted(good)
    # The failure that made these rules: 211 inliers collapsed onto one corner of a shape.
    assert not scorer.trusted(replace(good, distinct=1, scale=0.0))
    assert not scorer.trusted(replace(good, distinct=CAL.min_distinct - 1))
    assert not scorer.trusted(replace(good, scale=CAL.min_scale / 2))
    assert not scorer.trusted(replace(good, scale=CAL.max_scale * 2))
    assert not scorer.trusted(replace(good, coverage=CAL.min_coverage / 2))
    assert scorer.similarity(0.0, 0.9, 0.0, replace(good, distinct=1)) < MATCH_THRESHOLD


def _unit(*values: float) -> np.ndarray:
    v = np.array(values, dtype=np.float32)
    return v / np.linalg.norm(v)


def _descriptor(vector: np.ndarray, phash: np.ndarray | None = None) -> Descriptor:
    h = np.zeros(8, np.uint8) if phash is None else phash
    return Descriptor(vector, h, h, NO_KEYPOINTS)


def test_the_hash_distance_is_reported_mirror_aware_but_decides_nothing() -> None:
    bits = np.unpackbits(np.arange(8, dtype=np.uint8) * 37)
    h, h_mirror = np.packbits(bits), np.packbits(1 - bits)
    query = Query(Descriptor(_unit(1, 0, 0, 0), h, h_mirror, NO_KEYPOINTS))
    # Different photos of one product can sit a few bits apart: a hash match is no evidence.
    scored = _scorer().score(query, Descriptor(_unit(0, 1, 0, 0), h_mirror, h, NO_KEYPOINTS))
    assert scored.hash_distance == 0 and scored.similarity < MATCH_THRESHOLD


def test_background_offsets_lower_a_query_close_to_everything() -> None:
    background = Background(np.stack([_unit(1, 0.2, 0, 0), _unit(1, -0.2, 0, 0), _unit(0, 0, 1, 0)]), k=2)
    plain, normalised = _scorer(), _scorer(background)
    reference = _descriptor(_unit(1, 0, 0.3, 0))
    generic = Query(_descriptor(_unit(1, 0, 0.25, 0)))  # near the background's first two rows
    specific = Query(_descriptor(_unit(0.2, 0, 0.2, 1)))
    assert normalised.offsets(generic)[0] > 0.9 > normalised.offsets(specific)[0]
    assert normalised.score(generic, reference).normalised < plain.score(generic, reference).normalised - 0.5
    assert normalised.score(generic, reference).cosine == plain.score(generic, reference).cosine
    assert np.all(plain.offsets(specific) == 0.0)


def test_the_best_view_wins_and_says_where() -> None:
    vectors = np.stack([_unit(0, 1, 0, 0), _unit(1, 0.1, 0, 0)])
    query = Query(_descriptor(vectors[0]))
    query.names, query.boxes, query.vectors = (
        ["full", "centre-0.6"],
        [(0, 0, 1, 1), (0.2, 0.2, 0.8, 0.8)],
        vectors,
    )
    scored = _scorer().score(query, _descriptor(_unit(1, 0, 0, 0), np.full(8, 255, np.uint8)))
    assert scored.view == "centre-0.6" and scored.query_box == (0.2, 0.2, 0.8, 0.8)
    assert MATCH_THRESHOLD < scored.similarity <= SCORE_CEILING  # a copy, not the same image


def test_confidence_and_decision() -> None:
    assert confidence(0.99) == "high" and confidence(0.1) == "high"
    assert confidence(0.88) == "medium" and confidence(0.86) == "low"
    assert confidence(0.84) == "low"
    assert confidence(0.86, threshold=0.9) == "medium"
    scorer = _scorer()
    pair = scorer.score(Query(_descriptor(_unit(1, 1))), _descriptor(_unit(1, 1)))
    result = scorer.decide(pair.similarity, 12.4)
    assert result.match and result.similarity_score == 1.0 and result.processing_time_ms == 12
    assert result.explain is None
    explained = scorer.decide(pair.similarity, 12.4, explain=pair.explanation()).explain
    assert explained is not None and explained.view == "full" and explained.target_box == (0, 0, 1, 1)


def test_calibration_round_trips_through_a_manifest_dict() -> None:
    data = {**CAL.to_dict(), "expected_fpr_at_085": 0.004}  # report fields are ignored
    assert Calibration.from_dict(data) == CAL
