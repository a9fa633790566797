"""The FAISS store's lifecycle: what kind of index it is, and when it becomes another.

Created with ``index_factory="auto"`` the index starts flat and, at a save that finds the
catalog past a size threshold, is rebuilt into the kind :func:`~lookalike.index.choose.choose_index`
picks (HNSW, then IVF/PQ), trained once on a catalog sample and tuned to the recall target;
later adds go into it incrementally. A factory that must be trained waits, served by an
exact index, until the catalog holds enough vectors to train it. Deletes remove in place, or
leave tombstones (HNSW) that a save compacts once they pass :data:`COMPACT_AT`. A rebuild
retrains on request. The manifest records each choice (factory, search parameters, training
size, tuned recall); these functions return the fields that changed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .base import Batches, BuildReport, Tuning
from .build import TUNING_QUERIES, build_store, sample_rows
from .choose import choose_index, is_upgrade, min_training_size
from .faiss_store import FaissVectorStore
from .manifest import Manifest
from .tune import tune

__all__ = ["COMPACT_AT", "EXACT", "GrowingFaissStore", "initial_factory", "open_faiss"]

#: Share of tombstoned vectors at which a save rebuilds the vector index without them.
COMPACT_AT = 0.2
EXACT = "IDMap2,Flat"


def initial_factory(dim: int, index_factory: str, search_params: str) -> dict[str, Any]:
    """The manifest fields of a new index asked for ``index_factory`` (``"auto"`` or a
    factory string): a factory that must be trained is served exactly until it can be."""
    auto = index_factory == "auto"
    factory = EXACT if auto else index_factory
    if not FaissVectorStore(dim, factory, search_params).is_trained:
        return {"index_factory": EXACT, "search_params": "", "auto_factory": False, "target_factory": factory}
    return {
        "index_factory": factory,
        "search_params": search_params,
        "auto_factory": auto,
        "target_factory": None,
    }


class GrowingFaissStore(FaissVectorStore):
    """The FAISS store an index folder holds: the lifecycle below as the store's own. A
    rebuilt index is swapped in place, so the object the folder holds stays the same."""

    def maintain(self, batches: Batches, n: int, manifest: Manifest) -> dict[str, Any] | None:
        return _maintain(self, batches, n, manifest)

    def rebuild(
        self, batches: Batches, n: int, manifest: Manifest, factory: str
    ) -> tuple[BuildReport, dict[str, Any]]:
        return _rebuild_as(self, batches, n, manifest, factory)

    def tune(self, batches: Batches, target: float, params: str | None = None) -> Tuning:
        query_ids, queries = sample_rows(batches, TUNING_QUERIES, seed=1)
        return tune(self, query_ids, queries, batches(), target, params=params)


def open_faiss(
    folder: Path, manifest: Manifest, last_seq: int, writable: bool, mmap: bool, batches: Batches
) -> tuple[GrowingFaissStore, int | None]:
    """The store as of the folder's checkpoint and the catalog change it holds (None: empty,
    fill it from the catalog). Memory-mapped when ``mmap`` and nothing needs replaying on top
    of a read-only open."""
    m = manifest
    ckpt = m.checkpoint
    if ckpt is None or ckpt.vectors is None:
        store = GrowingFaissStore(m.dim, m.index_factory, m.search_params)
        if store.is_trained:
            return store, None
        # No checkpoint of a trained index (it lived in another store): retrain from the catalog.
        train = m.train_size or min_training_size(m.index_factory)
        built, _ = build_store(m.index_factory, m.dim, batches, train, search_params=m.search_params)
        store.adopt(built)
        return store, last_seq
    pending = last_seq > ckpt.seq
    mapped = mmap and not writable and not pending
    return GrowingFaissStore.read(
        folder / ckpt.vectors, m.index_factory, m.search_params, mmap=mapped
    ), ckpt.seq


def _maintain(store: FaissVectorStore, batches: Batches, n: int, m: Manifest) -> dict[str, Any] | None:
    """Grow an automatic index into a bigger kind, train a waiting factory, or compact
    tombstones, when the catalog (``n`` images) calls for it."""
    if m.auto_factory:
        choice = choose_index(n, m.dim, m.memory_budget)
        if is_upgrade(m.index_factory, choice.factory):
            return _rebuild(store, batches, n, m, choice.factory, choice.train_size, auto=True)[1]
    elif m.target_factory is not None and n >= min_training_size(m.target_factory):
        target = m.target_factory
        return _rebuild(store, batches, n, m, target, min_training_size(target), auto=False)[1]
    if store.dead_fraction > COMPACT_AT:
        return _rebuild(
            store, batches, n, m, m.index_factory, m.train_size, auto=m.auto_factory, retune=False
        )[1]
    return None


def _rebuild_as(
    store: FaissVectorStore, batches: Batches, n: int, m: Manifest, factory: str
) -> tuple[BuildReport, dict[str, Any]]:
    """Retrain ``factory`` (``"auto"``: the kind chosen for ``n`` vectors) from the catalog."""
    auto = factory == "auto"
    if auto:
        choice = choose_index(n, m.dim, m.memory_budget)
        factory, train_size = choice.factory, choice.train_size
    else:
        train_size = min_training_size(factory)
    return _rebuild(store, batches, n, m, factory, train_size, auto=auto)


def _rebuild(
    store: FaissVectorStore,
    batches: Batches,
    n: int,
    m: Manifest,
    factory: str,
    train_size: int,
    auto: bool,
    retune: bool = True,
) -> tuple[BuildReport, dict[str, Any]]:
    """Build ``factory`` from the catalog (an exact index while it waits for enough vectors
    to train on) and swap it into ``store``."""
    target = None
    if not FaissVectorStore(m.dim, factory).is_trained and n < min_training_size(factory):
        factory, target = EXACT, factory
    built, report = build_store(
        factory,
        m.dim,
        batches,
        train_size,
        recall_target=m.recall_target if retune else None,
        search_params="" if retune else m.search_params,
    )
    store.adopt(built)
    changes = {
        "index_factory": factory,
        "search_params": built.search_params,
        "auto_factory": auto,
        "target_factory": target,
        "train_size": report.train_size,
        "tuned_recall": report.tuning.recall if report.tuning else (None if retune else m.tuned_recall),
    }
    return report, changes
