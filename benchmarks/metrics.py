"""Scoring predictions the way the ISC 2021 scorer (facebookresearch/isc2021) does.

All predictions of all queries are pooled and sorted by score, highest first; among equal
scores the wrong ones come first (ties are broken pessimistically, so a method gains
nothing from coarse scores). Micro-average precision is the area under that
precision-recall curve with recall counted over *all* ground-truth pairs, found or not.
A ground-truth pair's rank is the number of that query's predictions scoring at least as
high as the right one, minus one (again pessimistic on ties).

On top of the ISC numbers, :func:`at_threshold` gives what a user of a fixed threshold sees:
pair precision and recall, and the share of distractor queries (copies of nothing in the
catalog) that raise at least one alarm.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InputError

__all__ = [
    "Metrics",
    "PRCurve",
    "Prediction",
    "ThresholdStats",
    "at_threshold",
    "evaluate",
    "pr_curve",
    "tp_ranks",
]

#: Rank of a ground-truth pair that is not among the predictions.
NOT_FOUND = 1 << 35


@dataclass(frozen=True)
class Prediction:
    query_id: str
    reference_id: str
    score: float


@dataclass(frozen=True)
class PRCurve:
    precisions: np.ndarray
    recalls: np.ndarray
    thresholds: np.ndarray

    @property
    def average_precision(self) -> float:
        gains = np.diff(self.recalls, prepend=0.0)
        return float((gains * self.precisions).sum())

    def recall_at_precision(self, precision: float) -> tuple[float | None, float | None]:
        """Highest recall with precision at least ``precision``, and its score threshold."""
        ok = self.precisions >= precision
        if not ok.any():
            return None, None
        best = int(np.argmax(np.where(ok, self.recalls, -1.0)))
        return float(self.recalls[best]), float(self.thresholds[best])


@dataclass(frozen=True)
class ThresholdStats:
    threshold: float
    precision: float | None
    recall: float
    distractor_fpr: float | None


@dataclass(frozen=True)
class Metrics:
    micro_ap: float
    recall_at_p90: float | None
    threshold_at_p90: float | None
    recall_at_1: float
    recall_at_10: float
    positives: int
    distractor_queries: int


def _check(predictions: Sequence[Prediction], truth: Mapping[str, str | None]) -> None:
    pairs = {(p.query_id, p.reference_id) for p in predictions}
    if len(pairs) != len(predictions):
        raise InputError("predictions contain the same (query, reference) pair twice")
    unknown = {p.query_id for p in predictions} - truth.keys()
    if unknown:
        raise InputError(f"predictions for queries without ground truth: {sorted(unknown)[:5]}")


def pr_curve(predictions: Sequence[Prediction], truth: Mapping[str, str | None]) -> PRCurve:
    """Precision and recall after each pooled prediction, in decreasing score order."""
    _check(predictions, truth)
    positives = sum(ref is not None for ref in truth.values())
    scores = np.array([p.score for p in predictions], dtype=np.float64)
    correct = np.array([truth[p.query_id] == p.reference_id for p in predictions], dtype=bool)
    # Primary key score, secondary "is wrong"; reversed: high scores first, wrong before right.
    order = np.lexsort((~correct, scores))[::-1]
    hits = np.cumsum(correct[order])
    precisions = hits / np.arange(1, len(order) + 1)
    recalls = hits / max(positives, 1)
    return PRCurve(precisions, recalls, scores[order])


def tp_ranks(predictions: Sequence[Prediction], truth: Mapping[str, str | None]) -> dict[str, int]:
    """Rank of the right reference for every query that has one (:data:`NOT_FOUND` if absent)."""
    by_query: dict[str, list[Prediction]] = defaultdict(list)
    for p in predictions:
        by_query[p.query_id].append(p)
    ranks = {}
    for qid, ref in truth.items():
        if ref is None:
            continue
        mine = by_query.get(qid, [])
        right = [p.score for p in mine if p.reference_id == ref]
        ranks[qid] = sum(p.score >= right[0] for p in mine) - 1 if right else NOT_FOUND
    return ranks


def evaluate(predictions: Sequence[Prediction], truth: Mapping[str, str | None]) -> Metrics:
    curve = pr_curve(predictions, truth)
    recall_p90, threshold_p90 = curve.recall_at_precision(0.9)
    ranks = np.array(list(tp_ranks(predictions, truth).values()), dtype=np.int64)
    return Metrics(
        micro_ap=curve.average_precision,
        recall_at_p90=recall_p90,
        threshold_at_p90=threshold_p90,
        recall_at_1=float((ranks == 0).mean()) if ranks.size else 0.0,
        recall_at_10=float((ranks < 10).mean()) if ranks.size else 0.0,
        positives=int(ranks.size),
        distractor_queries=sum(ref is None for ref in truth.values()),
    )


def at_threshold(
    predictions: Sequence[Prediction], truth: Mapping[str, str | None], threshold: float
) -> ThresholdStats:
    """What a user deciding "match" at ``score >= threshold`` gets, pair by pair."""
    kept = [p for p in predictions if p.score >= threshold]
    right = sum(truth.get(p.query_id) == p.reference_id for p in kept)
    positives = sum(ref is not None for ref in truth.values())
    distractors = {q for q, ref in truth.items() if ref is None}
    alarmed = {p.query_id for p in kept if p.query_id in distractors}
    return ThresholdStats(
        threshold=threshold,
        precision=right / len(kept) if kept else None,
        recall=right / positives if positives else 0.0,
        distractor_fpr=len(alarmed) / len(distractors) if distractors else None,
    )
