"""Building a FAISS vector index from a stream of (ids, vectors) batches.

Used by the index folder (rebuild, compaction, growing into a bigger kind of index) with
batches read from the catalog, and by the scale benchmark with synthetic batches. Trained
indexes learn from a uniform sample drawn in one pass, then every vector is added in a
second; a third pass computes the exact neighbours that search parameters are tuned on.
Memory stays at one batch plus the samples, whatever the catalog size.
"""

from __future__ import annotations

import time

import faiss
import numpy as np
from faiss.contrib.clustering import two_level_clustering

from .base import Batches, BuildReport
from .choose import index_kind
from .faiss_store import FaissVectorStore
from .tune import tune

__all__ = [
    "TUNING_QUERIES",
    "TWO_LEVEL_FROM",
    "Batches",
    "BuildReport",
    "build_store",
    "sample_rows",
    "train_store",
]

TUNING_QUERIES = 500
#: From this many inverted lists on, the coarse centroids are found by two-level k-means
#: (faiss.contrib.clustering): sqrt(nlist) clusters, then each split in proportion to its
#: size. One k-means over 16,384 centroids of 512-d vectors would take most of an hour on
#: two cores; the two levels take minutes.
TWO_LEVEL_FROM = 8192


def sample_rows(batches: Batches, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A uniform sample of ``size`` (ids, vectors) rows in one pass: each row draws a random
    key and the ``size`` smallest keys are kept."""
    rng = np.random.default_rng(seed)
    keys = np.zeros(0)
    ids = np.zeros(0, dtype=np.int64)
    rows: np.ndarray | None = None
    for batch_ids, batch in batches():
        keys = np.concatenate([keys, rng.random(len(batch_ids))])
        ids = np.concatenate([ids, batch_ids.astype(np.int64)])
        rows = batch if rows is None else np.concatenate([rows, batch])
        if len(keys) > size:
            keep = np.argpartition(keys, size)[:size]
            keys, ids, rows = keys[keep], ids[keep], rows[keep]
    if rows is None:
        return ids, np.zeros((0, 0), dtype=np.float32)
    order = np.argsort(ids)
    return ids[order], np.ascontiguousarray(rows[order], dtype=np.float32)


def train_store(store: FaissVectorStore, sample: np.ndarray, two_level_from: int = TWO_LEVEL_FROM) -> None:
    """Train ``store`` on ``sample``; an inverted file with ``two_level_from`` lists or more
    gets its coarse centroids from two-level k-means first."""
    try:
        ivf = faiss.extract_index_ivf(store.faiss_index)
    except RuntimeError:
        ivf = None
    if ivf is not None and ivf.nlist >= two_level_from and ivf.quantizer.ntotal == 0:
        x = np.ascontiguousarray(sample, dtype=np.float32)
        centroids, _ = two_level_clustering(x, int(np.sqrt(ivf.nlist)), ivf.nlist, spherical=True)  # type: ignore[no-untyped-call]
        ivf.quantizer.add(centroids)  # a quantizer holding nlist centroids is not retrained
    store.train(sample)


def build_store(
    factory: str,
    dim: int,
    batches: Batches,
    train_size: int = 0,
    recall_target: float | None = None,
    search_params: str = "",
    seed: int = 0,
) -> tuple[FaissVectorStore, BuildReport]:
    """Build ``factory`` over every batch; train on ``train_size`` sampled rows when it needs
    training; tune its search parameters to ``recall_target`` when given (else apply
    ``search_params``)."""
    start = time.perf_counter()
    store = FaissVectorStore(dim, factory, search_params)
    trained_on = 0
    if not store.is_trained:
        _, sample = sample_rows(batches, max(train_size, 1), seed)
        trained_on = len(sample)
        train_store(store, sample)
    for ids, vectors in batches():
        store.add(ids, vectors)
    tuning = None
    if recall_target is not None and index_kind(factory) != "flat" and len(store) > 1:
        query_ids, queries = sample_rows(batches, TUNING_QUERIES, seed + 1)
        tuning = tune(store, query_ids, queries, batches(), recall_target)
    seconds = time.perf_counter() - start
    return store, BuildReport(factory, len(store), trained_on, store.search_params, tuning, seconds)
