"""Search-time knobs (``nprobe``, ``efSearch``) tuned to a recall target against exact search.

Queries are a sample of the indexed vectors, each left out of its own answer: the exact and
the approximate top-``k`` are taken among the *other* vectors, so a query finding itself does
not inflate recall. Ground truth is faiss.contrib's streaming :func:`knn_ground_truth` (one
pass over the vectors: memory for the queries and 8 bytes of id per vector) and recall@k its
:func:`knn_intersection_measure`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

import faiss
import numpy as np
from faiss.contrib.evaluation import knn_intersection_measure
from faiss.contrib.exhaustive_search import knn_ground_truth

from .base import Tuning

__all__ = ["Tunable", "climb", "exact_neighbours", "recall_at_k", "search_ladder", "tune"]

#: A rung that adds less recall than this ends the climb.
_PLATEAU = 0.002
#: Inner products at or below this are FAISS's empty result slots (it fills them with -FLT_MAX).
_NOTHING = -1e30
_EF_LADDER = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)


class Tunable(Protocol):
    """What tuning needs of a FAISS store (:class:`~lookalike.index.faiss_store.FaissVectorStore`)."""

    factory: str

    @property
    def faiss_index(self) -> Any: ...

    def set_search_params(self, params: str) -> None: ...

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...


def exact_neighbours(
    queries: np.ndarray, batches: Iterable[tuple[np.ndarray, np.ndarray]], k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` inner products and ids of ``queries`` over ``(ids, vectors)`` batches
    (missing slots, when there are fewer than ``k`` vectors, have id -1)."""
    q = np.ascontiguousarray(queries, dtype=np.float32)
    seen: list[np.ndarray] = []

    def blocks() -> Iterator[np.ndarray]:
        for ids, vectors in batches:
            seen.append(np.asarray(ids, dtype=np.int64))
            yield np.ascontiguousarray(vectors, dtype=np.float32)

    scores, pos = knn_ground_truth(  # type: ignore[no-untyped-call]
        q, blocks(), k, metric_type=faiss.METRIC_INNER_PRODUCT, ngpu=0
    )
    # knn_ground_truth offsets a short block's empty slots (-1) like real hits; they keep
    # FAISS's "nothing" score, which no unit vector reaches. Position -1 is the -1 id appended.
    ids = np.concatenate([*seen, np.full(1, -1, dtype=np.int64)])
    return scores, ids[np.where((pos >= 0) & (scores > _NOTHING), pos, -1)]


def recall_at_k(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    """Mean share of each row's true top-``k`` ids that ``found`` contains (all its columns:
    pass ``k`` of them for recall@k, more for a shortlist's recall). Empty slots (-1) never
    count as found."""
    truth = truth[:, :k]
    if found.shape[1] == k:
        # Distinct sentinels, so that an empty slot never matches an empty slot.
        measure = knn_intersection_measure(  # type: ignore[no-untyped-call]
            np.where(found < 0, -2, found), np.where(truth < 0, -3, truth)
        )
        return float(measure)
    pairs = zip(found, truth, strict=True)
    hits = sum(len(set(f.tolist()) & set(t.tolist()) - {-1}) for f, t in pairs)
    return hits / (k * len(truth))


def _without_self(ids: np.ndarray, query_ids: np.ndarray, k: int) -> np.ndarray:
    out = np.full((len(ids), k), -1, dtype=np.int64)
    for row, (found, own) in enumerate(zip(ids, query_ids, strict=True)):
        kept = found[found != own][:k]
        out[row, : len(kept)] = kept
    return out


def search_ladder(store: Tunable) -> list[str]:
    """Parameter strings from cheapest to most exhaustive for ``store``'s index family."""
    index = store.faiss_index
    try:
        ivf = faiss.extract_index_ivf(index)
    except RuntimeError:
        ivf = None
    if ivf is not None:
        graph_quantizer = isinstance(faiss.downcast_index(ivf.quantizer), faiss.IndexHNSW)
        ladder = []
        nprobe = 1
        while nprobe <= ivf.nlist:
            extra = f",quantizer_efSearch={max(64, 2 * nprobe)}" if graph_quantizer else ""
            ladder.append(f"nprobe={nprobe}{extra}")
            nprobe *= 2
        return ladder
    if "HNSW" in store.factory:
        return [f"efSearch={ef}" for ef in _EF_LADDER]
    return [""]


def climb(
    store: Tunable, recall: Callable[[], float], target: float, ladder: list[str] | None = None
) -> tuple[str, float]:
    """Walk ``ladder`` (default :func:`search_ladder`) until ``recall()`` (measured with the
    store's current parameters) reaches ``target`` or stops rising (a compressed code's
    ceiling); leave the store set to the chosen rung and return it with its recall."""
    chosen, best = "", -1.0
    for params in ladder if ladder is not None else search_ladder(store):
        store.set_search_params(params)
        got = recall()
        if got < best + _PLATEAU:
            break
        chosen, best = params, got
        if got >= target:
            break
    store.set_search_params(chosen)
    return chosen, best


def tune(
    store: Tunable,
    query_ids: np.ndarray,
    queries: np.ndarray,
    batches: Iterable[tuple[np.ndarray, np.ndarray]],
    target: float,
    k: int = 10,
    params: str | None = None,
) -> Tuning:
    """Set ``store``'s search parameters to the cheapest rung of :func:`search_ladder` whose
    leave-one-out recall@``k`` reaches ``target`` (else the best rung before recall stops
    rising). ``params`` (e.g. ``"nprobe=256"``) sets them instead, and measures their recall:
    at 10M the ladder's cheapest rung for a recall target can be far dearer than a copy
    search needs (docs/scaling.md)."""
    _, truth = exact_neighbours(queries, batches, k + 1)
    truth = _without_self(truth, query_ids, k)

    def recall() -> float:
        _, found = store.search(queries, k + 1)
        return recall_at_k(_without_self(found, query_ids, k), truth, k)

    chosen, got = climb(store, recall, target, None if params is None else [params])
    return Tuning(chosen, got, target, k, len(queries))
