"""The ISC 2021 metrics against cases computed by hand."""

from __future__ import annotations

import pytest
from lookalike.benchmarks.metrics import NOT_FOUND, Prediction, at_threshold, evaluate, pr_curve, tp_ranks
from lookalike.errors import InputError

P = Prediction


def test_perfect_ranking_gives_uap_one() -> None:
    truth = {"q1": "a", "q2": "b", "q3": "c"}
    preds = [P("q1", "a", 0.9), P("q2", "b", 0.8), P("q3", "c", 0.7), P("q1", "b", 0.3), P("q2", "c", 0.2)]
    m = evaluate(preds, truth)
    assert m.micro_ap == pytest.approx(1.0)
    assert m.recall_at_1 == 1.0 and m.recall_at_10 == 1.0
    assert m.recall_at_p90 == pytest.approx(1.0)
    assert m.threshold_at_p90 == pytest.approx(0.7)


def test_reversed_ranking_gives_the_hand_computed_uap() -> None:
    # Pooled order: wrong, wrong, right, right -> precisions 0, 0, 1/3, 2/4 at recalls 0, 0, .5, 1.
    truth = {"q1": "a", "q2": "b"}
    preds = [P("q1", "b", 0.9), P("q2", "a", 0.8), P("q1", "a", 0.2), P("q2", "b", 0.1)]
    m = evaluate(preds, truth)
    assert m.micro_ap == pytest.approx(0.5 * (1 / 3) + 0.5 * (2 / 4))
    assert m.recall_at_1 == 0.0
    assert m.recall_at_10 == 1.0
    assert m.recall_at_p90 is None


def test_ties_are_broken_pessimistically() -> None:
    truth = {"q1": "a"}
    preds = [P("q1", "a", 0.5), P("q1", "b", 0.5)]
    curve = pr_curve(preds, truth)
    assert list(curve.precisions) == [0.0, 0.5]
    assert curve.average_precision == pytest.approx(0.5)
    # Two predictions score >= the right one's 0.5: it counts as rank 1, not rank 0.
    assert tp_ranks(preds, truth) == {"q1": 1}
    assert evaluate(preds, truth).recall_at_1 == 0.0


def test_unfound_pairs_still_count_in_recall() -> None:
    truth = {"q1": "a", "q2": "b"}
    preds = [P("q1", "a", 0.9), P("q2", "c", 0.8)]
    assert evaluate(preds, truth).micro_ap == pytest.approx(0.5)
    assert tp_ranks(preds, truth)["q2"] == NOT_FOUND


def test_distractor_queries_are_negatives_and_drive_the_false_positive_rate() -> None:
    # d1 and d2 copy nothing in the catalog; d1's top hit outscores the real copy.
    truth = {"q1": "a", "d1": None, "d2": None}
    preds = [P("d1", "a", 0.9), P("q1", "a", 0.8), P("d2", "b", 0.4), P("q1", "b", 0.3)]
    m = evaluate(preds, truth)
    assert m.micro_ap == pytest.approx(0.5)  # the copy is found second: precision 1/2 at recall 1
    assert m.positives == 1 and m.distractor_queries == 2
    assert m.recall_at_1 == 1.0  # ranks are per query: d1's hit does not demote q1's

    strict = at_threshold(preds, truth, 0.85)
    assert strict.precision == 0.0 and strict.recall == 0.0 and strict.distractor_fpr == 0.5
    loose = at_threshold(preds, truth, 0.35)
    assert loose.precision == pytest.approx(1 / 3) and loose.recall == 1.0 and loose.distractor_fpr == 1.0
    none = at_threshold(preds, truth, 0.95)
    assert none.precision is None and none.recall == 0.0 and none.distractor_fpr == 0.0


def test_recall_at_precision_90_is_the_best_operating_point() -> None:
    # 10 right answers, then a wrong one, then the 11th right one at the lowest score.
    truth = {f"q{i}": f"r{i}" for i in range(11)}
    preds = [P(f"q{i}", f"r{i}", 1.0 - i / 100) for i in range(10)]
    preds += [P("q0", "r5", 0.5), P("q10", "r10", 0.4)]
    m = evaluate(preds, truth)
    # After 12 predictions precision is 11/12 >= 0.9, so all 11 pairs are recalled at P90.
    assert m.recall_at_p90 == pytest.approx(1.0)
    assert m.threshold_at_p90 == pytest.approx(0.4)


def test_duplicate_or_unknown_predictions_are_refused() -> None:
    with pytest.raises(InputError, match="twice"):
        evaluate([P("q1", "a", 0.9), P("q1", "a", 0.8)], {"q1": "a"})
    with pytest.raises(InputError, match="without ground truth"):
        evaluate([P("zz", "a", 0.9)], {"q1": "a"})
