"""Sharded FAISS indexes for the scale benchmark: the vectors split into contiguous id ranges,
one index per range, searched as one through ``faiss.IndexShards`` (one thread per shard
inside each search; FAISS merges the shards' top k by score and keeps their ids).

Why: an HNSW graph's reach per unit of search effort falls as it grows (at 1M vectors
``efSearch=1024`` was needed for recall@10 0.95 where 200k needed 64), so two graphs of 500k
searched at once, each at a cheaper operating point, may beat one of 1M on the wall clock
when the cores are free. A sharded build is written as one FAISS file per shard in a folder
(FAISS cannot serialise ``IndexShards`` itself) and read back by :func:`read_build`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Self

import faiss
import numpy as np

from ..index.base import Batches
from ..index.build import build_store
from ..index.vectors import FaissVectorStore

__all__ = ["ShardedStore", "build_shards", "read_build", "shard_batches"]

# faiss's bundled stubs lack IndexShards' (threaded, successive_ids) constructor.
_faiss: Any = faiss


class ShardedStore:
    """FAISS stores searched as one: what the benchmark needs of a store (search, search
    parameters, write and read) over ``faiss.IndexShards``."""

    def __init__(self, stores: Sequence[FaissVectorStore]) -> None:
        self.stores = list(stores)
        self.factory = self.stores[0].factory
        # threaded: each shard searches in its own thread; successive_ids=False: the shards'
        # IDMap2 ids are the caller's, kept as they are.
        self._index: Any = _faiss.IndexShards(self.stores[0].dim, True, False)
        for store in self.stores:
            self._index.add_shard(store.faiss_index)
        self.search_params = self.stores[0].search_params

    @property
    def faiss_index(self) -> Any:
        return self._index

    def set_search_params(self, params: str) -> None:
        for store in self.stores:
            store.set_search_params(params)
        self.search_params = params

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = max(1, min(k, len(self) or 1))
        scores, ids = self._index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        return scores, ids

    def __len__(self) -> int:
        return sum(len(store) for store in self.stores)

    def write(self, folder: Path) -> None:
        """One FAISS file per shard, ``shard-<i>.faiss``, in ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        for i, store in enumerate(self.stores):
            store.write(folder / f"shard-{i}.faiss")

    @classmethod
    def read(cls, folder: Path, factory: str, search_params: str = "", mmap: bool = False) -> Self:
        paths = sorted(folder.glob("shard-*.faiss"), key=lambda p: int(p.stem.split("-")[1]))
        if not paths:
            raise FileNotFoundError(f"no shard-*.faiss in {folder}")
        return cls([FaissVectorStore.read(p, factory, search_params, mmap=mmap) for p in paths])


def read_build(
    folder: Path, factory: str, search_params: str = "", mmap: bool = False
) -> FaissVectorStore | ShardedStore:
    """A build written by :meth:`ShardedStore.write`: one shard is read as a plain store (no
    thread hop), so that an unsharded baseline is measured as the product searches it."""
    store = ShardedStore.read(folder, factory, search_params, mmap)
    return store.stores[0] if len(store.stores) == 1 else store


def shard_batches(batches: Batches, lo: int, hi: int) -> Batches:
    """``batches`` cut to the rows whose ids lie in ``lo .. hi`` (the rows are generated as
    before and filtered, so that a shard holds exactly the rows an unsharded build would)."""

    def cut() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for ids, vectors in batches():
            keep = (ids >= lo) & (ids < hi)
            if keep.any():
                yield ids[keep], vectors[keep]

    return cut


def build_shards(
    factory: str, dim: int, batches: Batches, n: int, shards: int, train_size: int, search_params: str
) -> tuple[ShardedStore, int]:
    """``factory`` built over ``shards`` contiguous id ranges of ``0 .. n``, one after the
    other (each build uses every core), each trained on its own ``train_size`` sample; and
    the number of rows trained on, all shards together."""
    bounds = np.linspace(0, n, shards + 1).astype(np.int64)
    built = [
        build_store(factory, dim, shard_batches(batches, lo, hi), train_size, search_params=search_params)
        for lo, hi in itertools.pairwise(bounds.tolist())
    ]
    return ShardedStore([store for store, _ in built]), sum(report.train_size for _, report in built)
