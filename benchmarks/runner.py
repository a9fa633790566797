"""One method over one benchmark: index the references, search every query, time both, and
score the predictions (:mod:`.metrics`)."""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import LookalikeError
from ..score.decision import IDENTICAL_THRESHOLD, MATCH_THRESHOLD
from .dataset import Benchmark, Query, truth_of
from .methods import MethodOptions, build_method
from .metrics import Metrics, Prediction, ThresholdStats, at_threshold, evaluate, tp_ranks

__all__ = ["THRESHOLDS", "MethodRun", "TransformStats", "run_method"]

THRESHOLDS = (MATCH_THRESHOLD, IDENTICAL_THRESHOLD)


@dataclass(frozen=True)
class TransformStats:
    transform: str
    queries: int
    recall_at_1: float
    #: Share of this transform's copies whose right reference scores >= 0.85.
    recall_at_match: float


@dataclass(frozen=True)
class MethodRun:
    name: str
    #: Why the method did not run (not installable, no weights offline, failed); None if it ran.
    skipped: str | None = None
    scale: str = ""
    predictions: list[Prediction] = field(default_factory=list)
    metrics: Metrics | None = None
    thresholds: list[ThresholdStats] = field(default_factory=list)
    transforms: list[TransformStats] = field(default_factory=list)
    ingest_per_s: float = 0.0
    latency_p50_ms: float = 0.0
    latency_p99_ms: float = 0.0
    bytes_per_image: float = 0.0


def _per_transform(queries: Sequence[Query], predictions: Sequence[Prediction]) -> list[TransformStats]:
    truth = truth_of(queries)
    ranks = tp_ranks(predictions, truth)
    matched = {(p.query_id, p.reference_id) for p in predictions if p.score >= MATCH_THRESHOLD}
    groups: dict[str, list[Query]] = defaultdict(list)
    for q in queries:
        if not q.is_distractor:
            groups[q.transform].append(q)
    return [
        TransformStats(
            transform=name,
            queries=len(group),
            recall_at_1=sum(ranks[q.id] == 0 for q in group) / len(group),
            recall_at_match=sum((q.id, q.reference_id) in matched for q in group) / len(group),
        )
        for name, group in sorted(groups.items())
    ]


def run_method(
    name: str,
    bench: Benchmark,
    queries: Sequence[Query],
    k: int = 10,
    options: MethodOptions | None = None,
    verbose: bool = False,
) -> MethodRun:
    """Run ``name`` on ``bench`` for ``queries``; a method that cannot run comes back skipped."""
    try:
        method = build_method(name, options)
    except LookalikeError as exc:
        return MethodRun(name, skipped=str(exc))
    try:
        start = time.perf_counter()
        n_bytes = method.index(bench.references)
        ingest_s = time.perf_counter() - start
        predictions: list[Prediction] = []
        latencies: list[float] = []
        for query in queries:
            start = time.perf_counter()
            ranked = method.search(query.path, k)
            latencies.append(time.perf_counter() - start)
            predictions.extend(Prediction(query.id, ref_id, score) for ref_id, score in ranked)
    except LookalikeError as exc:
        return MethodRun(name, skipped=f"failed while running: {exc}")
    finally:
        method.close()
    truth = truth_of(queries)
    run = MethodRun(
        name=name,
        scale=method.scale,
        predictions=predictions,
        metrics=evaluate(predictions, truth),
        thresholds=[at_threshold(predictions, truth, t) for t in THRESHOLDS],
        transforms=_per_transform(queries, predictions),
        ingest_per_s=len(bench.references) / max(ingest_s, 1e-9),
        latency_p50_ms=float(np.percentile(latencies, 50) * 1000) if latencies else 0.0,
        latency_p99_ms=float(np.percentile(latencies, 99) * 1000) if latencies else 0.0,
        bytes_per_image=n_bytes / max(len(bench.references), 1),
    )
    if verbose:
        assert run.metrics is not None
        print(
            f"{name}: µAP {run.metrics.micro_ap:.4f}, recall@1 {run.metrics.recall_at_1:.4f} "
            f"({ingest_s:.1f} s to index, p50 {run.latency_p50_ms:.1f} ms per query)",
            file=sys.stderr,
            flush=True,
        )
    return run
