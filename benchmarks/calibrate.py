"""Fit an embedder's calibration anchors on the ``fit`` split; report them on ``test``.

The scorer (:mod:`lookalike.score.scorer`) has two anchors, fitted here with every view of
every query described:

``score_match`` (-> similarity 0.85), on the normalised score (the best, over a query's
views, of the cosine minus the view's background offset), is the lowest score at which at
most 0.5 % of the fit split's false-alarm chances would fire, which maximises recall under
that budget; the distractor queries alone must keep the same budget. The chances are every
distractor query's best reference (it copies nothing in the catalog) and every copy's best
*wrong* reference: with only a few hundred distractor queries the 0.5 % tail is one image.

``cos_identical`` (-> 0.97), on the whole images' raw cosine, best separates the
near-identical edits (:data:`.edits.NEAR_IDENTICAL`) from the partial copies (crops,
template pastes, background swaps, chains: :data:`.edits.PARTIAL`), and stays above every
false-alarm chance, so nothing unrelated is called near-identical on the fit split.

Nothing is tuned on ``test``: its numbers are computed once with the anchors fitted on
``fit``. The 0.85 columns of the check are the normalised score alone, as the anchor is
fitted (keypoint evidence only adds recall: no unrelated pair passed its rules);
``lookalike bench run`` measures the whole scorer. The same fit serves a catalog of one's
own (:mod:`.catalog_calibration`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..embed.encode import Encoder, Query
from ..embed.factory import get_embedder
from ..errors import InputError
from ..score.background import Background
from ..score.calibration import Calibration, calibration_for
from ..score.scorer import Scorer
from .dataset import Benchmark, load_image
from .dataset import Query as BenchQuery
from .edits import NEAR_IDENTICAL, PARTIAL

__all__ = [
    "MAX_DISTRACTOR_FPR",
    "CalibrationFit",
    "Pairs",
    "SplitCheck",
    "calibrate",
    "fit_anchors",
    "score_matrix",
    "to_markdown",
]

MAX_DISTRACTOR_FPR = 0.005


@dataclass(frozen=True)
class Pairs:
    """What calibration needs: for each false-alarm chance (a distractor query's best
    reference, a copy's best wrong one) its best normalised score and best whole-image
    cosine, and for each copy both of those to its own reference, with its kind of edit."""

    distractor_best: np.ndarray
    distractor_full: np.ndarray
    copy_best_wrong: np.ndarray
    copy_full_wrong: np.ndarray
    copy_score: np.ndarray
    copy_full: np.ndarray
    copy_near_identical: np.ndarray
    copy_partial: np.ndarray

    @property
    def chances(self) -> np.ndarray:
        return np.concatenate([self.distractor_best, self.copy_best_wrong])

    @property
    def chances_full(self) -> np.ndarray:
        return np.concatenate([self.distractor_full, self.copy_full_wrong])


@dataclass(frozen=True)
class SplitCheck:
    split: str
    #: "shipped" (the anchors in effect before this fit) or "fitted".
    anchors: str
    score_match: float
    cos_identical: float
    copies: int
    distractors: int
    distractor_fpr: float
    recall_at_match: float
    near_identical_at_identical: float
    partial_at_identical: float


@dataclass(frozen=True)
class CalibrationFit:
    embedder: str
    calibration: Calibration
    previous: Calibration
    checks: list[SplitCheck]


def score_matrix(
    scorer: Scorer, queries: Sequence[Query], references: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Every query against every reference row, with all its views described: the best
    normalised score and the whole images' raw cosine, each ``[n_queries, n_refs]``."""
    scores = np.empty((len(queries), len(references)), dtype=np.float32)
    full = np.empty_like(scores)
    for row, query in enumerate(queries):
        query.add_views()
        sims = query.vectors @ references.T
        scores[row] = (sims - scorer.offsets(query)[:, None]).max(axis=0)
        full[row] = sims[0]
    return scores, full


def pairs_from_scores(
    scores: np.ndarray,
    full: np.ndarray,
    truth: Sequence[int | None],
    near_identical: Sequence[bool],
    partial: Sequence[bool],
) -> Pairs:
    """:class:`Pairs` from the score matrices; ``truth[i]`` is the column of query ``i``'s
    own reference (None: a distractor query)."""
    d_best, d_full, wrong, wrong_full, own, own_full, near, part = [], [], [], [], [], [], [], []
    for i, col in enumerate(truth):
        if col is None:
            d_best.append(float(scores[i].max()))
            d_full.append(float(full[i].max()))
            continue
        others = np.delete(scores[i], col)
        wrong.append(float(others.max()) if len(others) else -1.0)
        wrong_full.append(float(np.delete(full[i], col).max()) if len(others) else -1.0)
        own.append(float(scores[i, col]))
        own_full.append(float(full[i, col]))
        near.append(near_identical[i])
        part.append(partial[i])
    return Pairs(
        distractor_best=np.array(d_best),
        distractor_full=np.array(d_full),
        copy_best_wrong=np.array(wrong),
        copy_full_wrong=np.array(wrong_full),
        copy_score=np.array(own),
        copy_full=np.array(own_full),
        copy_near_identical=np.array(near, dtype=bool),
        copy_partial=np.array(part, dtype=bool),
    )


def _budget_anchor(chances: np.ndarray, rate: float = MAX_DISTRACTOR_FPR) -> float:
    """Just above the (allowed + 1)-th highest chance, so at most ``rate`` of the chances
    fire, on a 4-decimal grid."""
    worst = np.sort(chances)[::-1]
    allowed = int(np.floor(rate * len(worst)))
    return math.floor(float(worst[allowed]) * 10_000 + 1) / 10_000


def fit_anchors(pairs: Pairs, base: Calibration) -> Calibration:
    """``base`` with its two anchors refitted from the fit split's pairs only."""
    if not (len(pairs.distractor_best) and pairs.copy_near_identical.any() and pairs.copy_partial.any()):
        raise InputError("calibration needs distractor queries, near-identical copies and partial copies")
    score_match = max(_budget_anchor(pairs.chances), _budget_anchor(pairs.distractor_best))
    floor = _budget_anchor(pairs.chances_full, 0.0)  # above every chance: none at 0.97
    best_j, cos_identical = -2.0, floor
    for c in np.unique(pairs.copy_full[pairs.copy_full >= floor]):
        lifted = pairs.copy_full >= c
        j = lifted[pairs.copy_near_identical].mean() - lifted[pairs.copy_partial].mean()
        if j > best_j:
            best_j, cos_identical = j, float(c)
    return replace(base, score_match=score_match, cos_identical=round(cos_identical, 4))


def check(split: str, anchors: str, pairs: Pairs, cal: Calibration) -> SplitCheck:
    lifted = pairs.copy_full >= cal.cos_identical
    return SplitCheck(
        split=split,
        anchors=anchors,
        score_match=cal.score_match,
        cos_identical=cal.cos_identical,
        copies=len(pairs.copy_score),
        distractors=len(pairs.distractor_best),
        distractor_fpr=float((pairs.distractor_best >= cal.score_match).mean()),
        recall_at_match=float((pairs.copy_score >= cal.score_match).mean()),
        near_identical_at_identical=float(lifted[pairs.copy_near_identical].mean()),
        partial_at_identical=float(lifted[pairs.copy_partial].mean()),
    )


def _bench_pairs(
    scorer: Scorer, encoder: Encoder, queries: Sequence[BenchQuery], ref_ids: list[str], refs: np.ndarray
) -> Pairs:
    described: list[Query] = []
    for start in range(0, len(queries), 32):
        described += encoder.query([load_image(q.path) for q in queries[start : start + 32]])
    scores, full = score_matrix(scorer, described, refs)
    column = {ref_id: i for i, ref_id in enumerate(ref_ids)}
    return pairs_from_scores(
        scores,
        full,
        [None if q.reference_id is None else column[q.reference_id] for q in queries],
        [q.transform in NEAR_IDENTICAL for q in queries],
        [q.transform in PARTIAL for q in queries],
    )


def calibrate(bench: Benchmark, embedder_name: str = "sscd", threads: int | None = None) -> CalibrationFit:
    """Describe the catalog and every query (all views) once, fit on ``fit``, check on both."""
    previous = calibration_for(embedder_name)
    encoder = Encoder(get_embedder(embedder_name, threads=threads))
    scorer = Scorer(previous, background=Background.bundled(embedder_name, previous.background_k))
    ref_ids = [r for r, _ in bench.references]
    refs = np.stack(
        [
            desc.vector
            for start in range(0, len(bench.references), 32)
            for desc in encoder.encode([load_image(p) for _, p in bench.references[start : start + 32]])
        ]
    )
    by_split = {
        split: _bench_pairs(scorer, encoder, bench.select(split), ref_ids, refs) for split in ("fit", "test")
    }
    fitted = fit_anchors(by_split["fit"], previous)
    checks = [
        check(split, label, pairs, cal)
        for split, pairs in by_split.items()
        for label, cal in (("shipped", previous), ("fitted", fitted))
    ]
    return CalibrationFit(embedder_name, fitted, previous, checks)


def to_markdown(fit: CalibrationFit) -> str:
    cal, old = fit.calibration, fit.previous
    lines = [
        f"Fitted `{fit.embedder}` anchors on the fit split: score_match {cal.score_match} "
        f"(was {old.score_match}), cos_identical {cal.cos_identical} (was {old.cos_identical}).",
        "",
        "| split | anchors | score_match | cos_identical | copies | distractor queries | FPR@match "
        "| recall@match | near-identical >= 0.97 | partial copies >= 0.97 |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in fit.checks:
        lines.append(
            f"| {c.split} | {c.anchors} | {c.score_match} | {c.cos_identical} | {c.copies} "
            f"| {c.distractors} "
            f"| {c.distractor_fpr:.4f} | {c.recall_at_match:.4f} | {c.near_identical_at_identical:.4f} "
            f"| {c.partial_at_identical:.4f} |"
        )
    return "\n".join(lines) + "\n"
