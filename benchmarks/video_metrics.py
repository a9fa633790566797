"""VSC 2022-style metrics, written from the challenge's definitions.

- **video-level µAP** (descriptor track): every (query, reference, score) prediction of
  all queries pooled, sorted by score; precision summed at each correct pair, divided by
  the number of true pairs.
- **segment-level µAP** (matching track, "v2"): predictions (query, reference, query
  interval, reference interval, score) sorted by score; after each, recall and precision
  are measured as lengths on each axis (the union of the predicted intervals of a pair,
  intersected with the ground-truth intervals that some prediction overlaps in both axes),
  combined as the geometric mean of the two axes, and precision x delta recall summed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from math import sqrt

__all__ = ["SegmentPred", "boundary_accuracy", "segment_micro_ap", "video_micro_ap"]

Interval = tuple[float, float]


@dataclass(frozen=True)
class SegmentPred:
    query: str
    ref: str
    q: Interval
    r: Interval
    score: float


def video_micro_ap(preds: Sequence[tuple[str, str, float]], truth: set[tuple[str, str]]) -> float:
    if not truth:
        return 0.0
    seen: dict[tuple[str, str], float] = {}
    for q, r, s in preds:
        seen[(q, r)] = max(s, seen.get((q, r), -1.0))
    correct = 0
    ap = 0.0
    for rank, (pair, _) in enumerate(sorted(seen.items(), key=lambda kv: -kv[1]), 1):
        if pair in truth:
            correct += 1
            ap += correct / rank
    return ap / len(truth)


def _union(intervals: Sequence[Interval]) -> list[Interval]:
    out: list[list[float]] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def _length(intervals: Sequence[Interval]) -> float:
    return sum(b - a for a, b in _union(intervals))


def _intersect(a: Sequence[Interval], b: Sequence[Interval]) -> float:
    total = 0.0
    for x0, x1 in _union(a):
        for y0, y1 in _union(b):
            total += max(0.0, min(x1, y1) - max(x0, y0))
    return total


def _overlaps(p: SegmentPred, g: SegmentPred) -> bool:
    return min(p.q[1], g.q[1]) > max(p.q[0], g.q[0]) and min(p.r[1], g.r[1]) > max(p.r[0], g.r[0])


@dataclass
class _Pair:
    gts: list[SegmentPred] = field(default_factory=list)
    preds: list[SegmentPred] = field(default_factory=list)
    inter: tuple[float, float] = (0.0, 0.0)
    total: tuple[float, float] = (0.0, 0.0)


def segment_micro_ap(preds: Sequence[SegmentPred], gts: Sequence[SegmentPred]) -> float:
    pairs: dict[tuple[str, str], _Pair] = defaultdict(_Pair)
    for g in gts:
        pairs[(g.query, g.ref)].gts.append(g)
    gt_q = sum(_length([g.q for g in p.gts]) for p in pairs.values())
    gt_r = sum(_length([g.r for g in p.gts]) for p in pairs.values())
    if not gt_q or not gt_r:
        return 0.0
    inter_q = inter_r = tot_q = tot_r = 0.0
    recall = ap = 0.0
    for pred in sorted(preds, key=lambda p: -p.score):
        pair = pairs[(pred.query, pred.ref)]
        pair.preds.append(pred)
        considered = [g for g in pair.gts if any(_overlaps(p, g) for p in pair.preds)]
        iq = _intersect([p.q for p in pair.preds], [g.q for g in considered])
        ir = _intersect([p.r for p in pair.preds], [g.r for g in considered])
        tq, tr = _length([p.q for p in pair.preds]), _length([p.r for p in pair.preds])
        inter_q += iq - pair.inter[0]
        inter_r += ir - pair.inter[1]
        tot_q += tq - pair.total[0]
        tot_r += tr - pair.total[1]
        pair.inter, pair.total = (iq, ir), (tq, tr)
        new_recall = sqrt(max(0.0, inter_q / gt_q) * max(0.0, inter_r / gt_r))
        precision = sqrt((inter_q / tot_q if tot_q else 0.0) * (inter_r / tot_r if tot_r else 0.0))
        ap += precision * (new_recall - recall)
        recall = new_recall
    return ap


def boundary_accuracy(
    preds: Sequence[SegmentPred], gts: Sequence[SegmentPred], tol: float = 1.0
) -> tuple[int, int]:
    """(found segments whose four boundaries are within ``tol`` s of the ground-truth
    segment they overlap most, found segments that overlap one)."""
    good = found = 0
    for p in preds:
        cands = [g for g in gts if g.query == p.query and g.ref == p.ref and _overlaps(p, g)]
        if not cands:
            continue
        g = max(cands, key=lambda g: _intersect([p.q], [g.q]))
        found += 1
        err = max(abs(p.q[0] - g.q[0]), abs(p.q[1] - g.q[1]), abs(p.r[0] - g.r[0]), abs(p.r[1] - g.r[1]))
        good += err <= tol
    return good, found
