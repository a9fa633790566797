"""Fit an embedder's calibration anchors on the ``fit`` split; report them on ``test``.

``cos_match`` (-> similarity 0.85) is the lowest cosine at which at most 0.5 % of the fit
split's false-alarm chances would fire, which maximises recall under that budget. The
chances are every distractor query's best reference (it copies nothing in the catalog) and
every copy's best *wrong* reference: with only the ~200 distractor queries of a split the
0.5 % tail is one image, and on the dev corpus an anchor fitted on it alone let 2.4 % of
the held-out distractors through (category lookalikes: two coins, two calves on white).

``cos_identical`` (-> 0.97) best separates the near-identical edits
(:data:`.edits.NEAR_IDENTICAL`) from the partial copies (crops, template pastes, background
swaps, chains: :data:`.edits.PARTIAL`) under the scorer's own rule
(:meth:`lookalike.score.Scorer.similarity`: the cosine, or the pHash above ``cos_floor``;
keypoint evidence stops below 0.97): the cosine maximising the share of near-identical
copies at >= 0.97 minus the share of partial copies at >= 0.97. Photometric edits (blur,
gamma, text) may land on either side and do not move the anchor. The other fields of the
calibration (``cos_floor``, ``hash_identical``, the keypoint constants) are kept.

Nothing is tuned on ``test``: its numbers are computed once with the anchors fitted on ``fit``.
The 0.85 columns of the check are the cosine channel alone, as the anchor is fitted;
``lookalike bench run`` measures the whole scorer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..embed.descriptor import Descriptor
from ..embed.encode import Encoder
from ..embed.factory import get_embedder
from ..embed.hashes import hamming
from ..errors import InputError
from ..score.calibration import Calibration, calibration_for
from ..score.decision import IDENTICAL_THRESHOLD
from ..score.scorer import Scorer
from .dataset import Benchmark, Query, load_image
from .edits import NEAR_IDENTICAL, PARTIAL

__all__ = [
    "MAX_DISTRACTOR_FPR",
    "CalibrationFit",
    "Pairs",
    "SplitCheck",
    "calibrate",
    "fit_anchors",
    "to_markdown",
]

MAX_DISTRACTOR_FPR = 0.005


@dataclass(frozen=True)
class Pairs:
    """What calibration needs per query: its best cosine over the catalog (distractors), or
    the cosine and pHash distance to its own reference (copies), with its transform."""

    distractor_best: np.ndarray
    copy_best_wrong: np.ndarray
    copy_cosine: np.ndarray
    copy_hash: np.ndarray
    copy_near_identical: np.ndarray
    copy_partial: np.ndarray


@dataclass(frozen=True)
class SplitCheck:
    split: str
    #: "registry" (the anchors shipped before this fit) or "fitted".
    anchors: str
    cos_match: float
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


def _pairs(queries: Sequence[Query], q_desc: list[Descriptor], refs: dict[str, Descriptor]) -> Pairs:
    ref_matrix = np.stack([d.vector for d in refs.values()])
    best, wrong, cos, dist, near, partial = [], [], [], [], [], []
    for query, desc in zip(queries, q_desc, strict=True):
        if query.reference_id is None:
            best.append(float((ref_matrix @ desc.vector).max()))
            continue
        ref = refs[query.reference_id]
        others = [i for i, ref_id in enumerate(refs) if ref_id != query.reference_id]
        wrong.append(float((ref_matrix[others] @ desc.vector).max()))
        cos.append(float(desc.vector @ ref.vector))
        dist.append(min(hamming(desc.phash, ref.phash), hamming(desc.phash_mirror, ref.phash)))
        near.append(query.transform in NEAR_IDENTICAL)
        partial.append(query.transform in PARTIAL)
    return Pairs(
        np.array(best),
        np.array(wrong),
        np.array(cos),
        np.array(dist),
        np.array(near, dtype=bool),
        np.array(partial, dtype=bool),
    )


def _at_identical(pairs: Pairs, cal: Calibration) -> np.ndarray:
    """Which copies the scorer puts at >= 0.97 (keypoint evidence tops out below 0.97, so the
    cosine and the hash decide this alone)."""
    scorer = Scorer(cal)
    return np.array(
        [
            scorer.similarity(c, int(h)) >= IDENTICAL_THRESHOLD
            for c, h in zip(pairs.copy_cosine, pairs.copy_hash, strict=True)
        ],
        dtype=bool,
    )


def _budget_anchor(chances: np.ndarray) -> float:
    """Just above the (allowed + 1)-th highest chance, so at most ``MAX_DISTRACTOR_FPR`` of the
    chances fire, on the registry's 4-decimal grid."""
    worst = np.sort(chances)[::-1]
    allowed = int(np.floor(MAX_DISTRACTOR_FPR * len(worst)))
    return math.floor(float(worst[allowed]) * 10_000 + 1) / 10_000


def fit_anchors(pairs: Pairs, base: Calibration) -> Calibration:
    """``base`` with its two cosine anchors refitted from the fit split's pairs only."""
    if not (len(pairs.distractor_best) and pairs.copy_near_identical.any() and pairs.copy_partial.any()):
        raise InputError("calibration needs distractor queries, near-identical copies and partial copies")
    # Both budgets hold on the fit split: all false-alarm chances, and distractor queries alone.
    cos_match = max(
        _budget_anchor(np.concatenate([pairs.distractor_best, pairs.copy_best_wrong])),
        _budget_anchor(pairs.distractor_best),
    )
    best_j, cos_identical = -2.0, cos_match
    for c in np.unique(pairs.copy_cosine[pairs.copy_cosine > cos_match]):
        lifted = _at_identical(pairs, replace(base, cos_match=cos_match, cos_identical=float(c)))
        j = lifted[pairs.copy_near_identical].mean() - lifted[pairs.copy_partial].mean()
        if j > best_j:
            best_j, cos_identical = j, float(c)
    return replace(base, cos_match=cos_match, cos_identical=round(cos_identical, 4))


def _check(split: str, anchors: str, pairs: Pairs, cal: Calibration) -> SplitCheck:
    lifted = _at_identical(pairs, cal)
    return SplitCheck(
        split=split,
        anchors=anchors,
        cos_match=cal.cos_match,
        cos_identical=cal.cos_identical,
        copies=len(pairs.copy_cosine),
        distractors=len(pairs.distractor_best),
        distractor_fpr=float((pairs.distractor_best >= cal.cos_match).mean()),
        recall_at_match=float((pairs.copy_cosine >= cal.cos_match).mean()),
        near_identical_at_identical=float(lifted[pairs.copy_near_identical].mean()),
        partial_at_identical=float(lifted[pairs.copy_partial].mean()),
    )


def calibrate(bench: Benchmark, embedder_name: str = "sscd", threads: int | None = None) -> CalibrationFit:
    """Encode the catalog and every query once, fit on ``fit``, check on both splits."""
    encoder = Encoder(get_embedder(embedder_name, threads=threads))
    refs: dict[str, Descriptor] = {}
    for start in range(0, len(bench.references), 32):
        batch = bench.references[start : start + 32]
        refs.update(
            zip(
                [r for r, _ in batch],
                encoder.encode([load_image(p) for _, p in batch], query=False),
                strict=True,
            )
        )
    by_split = {}
    for split in ("fit", "test"):
        queries = bench.select(split)
        descs: list[Descriptor] = []
        for start in range(0, len(queries), 32):
            descs += encoder.encode([load_image(q.path) for q in queries[start : start + 32]])
        by_split[split] = _pairs(queries, descs, refs)
    previous = calibration_for(embedder_name)
    fitted = fit_anchors(by_split["fit"], previous)
    checks = [
        _check(split, label, pairs, cal)
        for split, pairs in by_split.items()
        for label, cal in (("registry", previous), ("fitted", fitted))
    ]
    return CalibrationFit(embedder_name, fitted, previous, checks)


def to_markdown(fit: CalibrationFit) -> str:
    cal, old = fit.calibration, fit.previous
    lines = [
        f"Fitted `{fit.embedder}` anchors on the fit split: cos_match {cal.cos_match} (was {old.cos_match}), "
        f"cos_identical {cal.cos_identical} (was {old.cos_identical}), hash_identical {cal.hash_identical}.",
        "",
        "| split | anchors | cos_match | cos_identical | copies | distractor queries | FPR@cos_match "
        "| recall@cos_match | near-identical >= 0.97 | partial copies >= 0.97 |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in fit.checks:
        lines.append(
            f"| {c.split} | {c.anchors} | {c.cos_match} | {c.cos_identical} | {c.copies} | {c.distractors} "
            f"| {c.distractor_fpr:.4f} | {c.recall_at_match:.4f} | {c.near_identical_at_identical:.4f} "
            f"| {c.partial_at_identical:.4f} |"
        )
    return "\n".join(lines) + "\n"
