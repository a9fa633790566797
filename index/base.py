"""The vector-store interface: what the index folder asks of any place its vectors live.

A store declares its metric and dimension and does five things to vectors (add, remove,
search, count, reset), plus the lifecycle the index folder drives without knowing the kind
of store: :meth:`VectorStore.checkpoint` at a save, :meth:`VectorStore.maintain` before it
(grow, train, compact: whatever the store needs as the catalog changes), :meth:`rebuild` and
:meth:`tune` on request, and :meth:`stats`. The defaults suit a store that looks after
itself (Milvus): nothing to maintain, a rebuild is a refill from the catalog, nothing to tune.
The FAISS store that grows with the catalog (:mod:`lookalike.index.faiss_lifecycle`)
overrides them.

Concurrency: the index calls :meth:`search` from many threads at once, and every mutating
method (including the lifecycle) only while no search runs; a store's search must therefore
be safe to run in parallel with itself.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..errors import IndexStoreError
from .manifest import Manifest

__all__ = ["Batches", "BuildReport", "StoreStats", "Tuning", "VectorStore"]

#: A fresh iterator over every (ids, vectors) batch of the catalog, each time it is called.
Batches = Callable[[], Iterator[tuple[np.ndarray, np.ndarray]]]


@dataclass(frozen=True)
class Tuning:
    search_params: str
    recall: float
    target: float
    k: int
    queries: int

    @property
    def reached(self) -> bool:
        return self.recall >= self.target


@dataclass(frozen=True)
class BuildReport:
    factory: str
    vectors: int
    train_size: int
    search_params: str
    tuning: Tuning | None
    seconds: float


@dataclass(frozen=True)
class StoreStats:
    vectors: int
    #: Served from a memory-mapped checkpoint (read-only, pages shared between processes).
    memory_mapped: bool = False
    dead_fraction: float = 0.0


class VectorStore(ABC):
    #: What :meth:`search` ranks by. Descriptors are unit vectors: inner product is cosine.
    metric: ClassVar[str] = "inner_product"
    dim: int
    #: Search parameters in FAISS ParameterSpace syntax (``"nprobe=16"``), where they apply.
    search_params: str = ""

    # -- vectors -----------------------------------------------------------------------

    @property
    def is_trained(self) -> bool:
        """False until :meth:`train` has seen a sample, for stores that must learn a quantizer."""
        return True

    def train(self, vectors: np.ndarray) -> None:  # noqa: B027 (most stores learn nothing)
        """Learn the store's quantizers from a sample of unit vectors."""

    @abstractmethod
    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add unit ``vectors`` ([n, dim] float32) under int64 ``ids``."""

    @abstractmethod
    def remove(self, ids: np.ndarray) -> int:
        """Remove ``ids`` (those absent are ignored); how many were removed (Milvus, which
        does not tell, answers how many it was asked to remove)."""

    @abstractmethod
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` inner products and ids per query, best first; missing slots have id -1."""

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def reset(self) -> None:
        """Remove every vector (before a refill from the catalog)."""

    def set_search_params(self, params: str) -> None:
        self.search_params = params

    @property
    def dead_fraction(self) -> float:
        """Share of stored vectors that are deleted but still take space (see compaction)."""
        return 0.0

    def close(self) -> None:  # noqa: B027 (most stores hold nothing to release)
        """Release connections or mappings."""

    # -- lifecycle, driven by the index folder ---------------------------------------------

    def checkpoint(self, folder: Path, seq: int) -> str | None:
        """Make the vectors durable as of catalog change ``seq``: the name of the file written
        in ``folder``, or None when nothing was (the store persists itself, or cannot: the
        next open then refills it from the catalog)."""
        return None

    def maintain(self, batches: Batches, n: int, manifest: Manifest) -> dict[str, Any] | None:
        """Called at each save with the catalog (``n`` images): reshape the store if the
        catalog calls for it (grow into another kind, train, compact). The manifest fields
        that changed, or None when nothing was done."""
        return None

    def rebuild(
        self, batches: Batches, n: int, manifest: Manifest, factory: str
    ) -> tuple[BuildReport, dict[str, Any]]:
        """Rebuild from the catalog on request (``factory``: the kind wanted, ``"auto"`` to let
        the store choose); the report and the manifest fields that changed. By default the
        store is emptied and refilled."""
        start = time.perf_counter()
        self.reset()
        for ids, vectors in batches():
            self.add(ids, vectors)
        return BuildReport(manifest.store, len(self), 0, "", None, time.perf_counter() - start), {}

    def tune(self, batches: Batches, target: float, params: str | None = None) -> Tuning:
        """Set the search parameters to reach recall@10 ``target`` on a catalog sample (or to
        ``params``, measured)."""
        raise IndexStoreError(f"{type(self).__name__}: only a FAISS index is tuned by lookalike")

    def stats(self) -> StoreStats:
        return StoreStats(vectors=len(self), dead_fraction=self.dead_fraction)
