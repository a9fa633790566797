"""The FAISS vector store: an in-process FAISS index named by a factory string.

It takes any factory string. Inverted-file indexes keep their own ids and remove them in
place; graph indexes (HNSW) cannot remove, so a deleted id is turned into a tombstone (its
slot in the id map becomes -1, which the file format keeps) and searches skip it;
:attr:`FaissVectorStore.dead_fraction` tells the index when to compact.

This is the mechanism only; the store an index folder holds is its subclass in
:mod:`lookalike.index.faiss_lifecycle`, which grows, trains, compacts and tunes itself as
the catalog changes.

FAISS searches run in parallel (each call releases the GIL); mutations must not overlap them,
which the index folder's readers-writer lock guarantees.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

import faiss
import numpy as np

from ..errors import IndexCorruptError, IndexStoreError
from .atomic import atomic_write
from .base import StoreStats, VectorStore

__all__ = ["BUILD_EFFORT", "FaissVectorStore", "single_threaded"]

# faiss's bundled stubs lack the SWIG classes and overloads used here.
_faiss: Any = faiss

#: ``efConstruction`` of a new HNSW graph. FAISS's default of 40 left a 1M graph stalled at
#: recall@10 0.742; 200 reached 0.956, for 2.2x the build time (benchmarks/RESULTS.md, "The
#: 1M gap"). Search parameters given with the factory may still set it.
BUILD_EFFORT = 200

#: The largest id FAISS hands back for a live vector; tombstones are -1.
_MAX_ID = (1 << 62) - 1


@contextmanager
def single_threaded() -> Iterator[None]:
    """FAISS without OpenMP threads, in the calling thread only (OpenMP keeps the setting per
    thread): a search of one or two queries spent more waking threads than searching (a
    near-identical search over a small catalog: 15.0 -> 10.7 ms), and parallel searches
    already run on the other cores."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


class FaissVectorStore(VectorStore):
    """A FAISS index over inner product, built from a factory string such as
    ``"IDMap2,Flat"`` or ``"OPQ64_256,IVF4096,PQ64"`` and tuned by a search-parameter string
    such as ``"nprobe=16"``. Indexes that cannot carry ids themselves are wrapped in IDMap2."""

    def __init__(self, dim: int, factory: str = "IDMap2,Flat", search_params: str = "") -> None:
        try:
            index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
        except RuntimeError as exc:
            raise IndexStoreError(f"FAISS cannot build {factory!r}: {exc}") from exc
        index = _with_ids(index)
        graph = _graph_inside(index)
        if graph is not None:
            graph.hnsw.efConstruction = BUILD_EFFORT
        self._setup(index, factory, search_params, mapped=False)

    def _setup(self, index: Any, factory: str, search_params: str, mapped: bool) -> None:
        self.dim = int(index.d)
        self.factory = factory
        self._index: Any = index
        #: Memory-mapped from a checkpoint file: shared with other readers, read-only.
        self.mapped = mapped
        self._graph = _graph_inside(index)
        self._dead = int((self._id_map() < 0).sum()) if self._graph is not None else 0
        self.set_search_params(search_params)

    def set_search_params(self, params: str) -> None:
        if params:
            try:
                _faiss.ParameterSpace().set_index_parameters(self._index, params)
            except RuntimeError as exc:
                raise IndexStoreError(f"FAISS rejects search parameters {params!r}: {exc}") from exc
        self.search_params = params

    @property
    def faiss_index(self) -> Any:
        return self._index

    @property
    def is_trained(self) -> bool:
        return bool(self._index.is_trained)

    def train(self, vectors: np.ndarray) -> None:
        if not self.is_trained:
            self._index.train(np.ascontiguousarray(vectors, dtype=np.float32))

    def _check_mutable(self) -> None:
        if self.mapped:
            raise IndexStoreError("this vector index is memory-mapped from a checkpoint and read-only")
        if not self.is_trained:
            raise IndexStoreError(f"{self.factory!r} must be trained before vectors are added")

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self._check_mutable()
            self._index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids.astype(np.int64))

    def remove(self, ids: np.ndarray) -> int:
        if not len(ids):
            return 0
        self._check_mutable()
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if self._graph is None:
            return int(self._index.remove_ids(ids))
        id_map = self._id_map()
        hit = np.isin(id_map, ids)
        id_map[hit] = -1
        removed = int(hit.sum())
        self._dead += removed
        return removed

    def _id_map(self) -> np.ndarray:
        """The IDMap2's internal-to-external id table, as a writable view."""
        return faiss.rev_swig_ptr(self._index.id_map.data(), self._index.id_map.size())

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = max(1, min(k, len(self) or 1))
        q = np.ascontiguousarray(queries, dtype=np.float32)
        ef = self._graph.hnsw.efSearch if self._graph is not None else 0
        if self._graph is None or (not self._dead and k <= ef):
            scores, ids = self._index.search(q, k)
            return scores, ids
        # A graph walk keeps at most efSearch candidates, so a search for more results (one
        # going deeper past disabled references) walks at least k; and tombstones are
        # skipped inside the walk, so that k live results come back.
        params = _faiss.SearchParametersHNSW()
        params.efSearch = max(ef, k)
        if self._dead:
            live = faiss.IDSelectorRange(0, _MAX_ID)  # held here: params does not own it
            params.sel = live
        scores, ids = self._index.search(q, k, params=params)
        return scores, ids

    def __len__(self) -> int:
        return int(self._index.ntotal) - self._dead

    @property
    def dead_fraction(self) -> float:
        return self._dead / self._index.ntotal if self._index.ntotal else 0.0

    def reset(self) -> None:
        self._check_mutable()
        self._index.reset()
        self._dead = 0

    def checkpoint(self, folder: Path, seq: int) -> str:
        name = f"vectors-{seq}.faiss"
        atomic_write(folder / name, self.write)
        return name

    def write(self, path: Path) -> None:
        faiss.write_index(self._index, str(path))

    def adopt(self, other: FaissVectorStore) -> None:
        """Take over ``other``'s index (a rebuild of this one): the store object stays."""
        self._setup(other._index, other.factory, other.search_params, mapped=other.mapped)

    def stats(self) -> StoreStats:
        return StoreStats(vectors=len(self), memory_mapped=self.mapped, dead_fraction=self.dead_fraction)

    @classmethod
    def read(cls, path: Path, factory: str, search_params: str = "", mmap: bool = False) -> Self:
        """Load a checkpoint; ``mmap`` maps its vectors instead of copying them, so that a
        service starts at once and processes on one machine share the pages."""
        try:
            flags = faiss.IO_FLAG_MMAP_IFC if mmap else 0
            index = faiss.read_index(str(path), flags)
        except RuntimeError as exc:
            raise IndexCorruptError(f"{path}: unreadable FAISS index: {exc}") from exc
        store = cls.__new__(cls)
        store._setup(index, factory, search_params, mapped=mmap)
        return store


def _with_ids(index: Any) -> Any:
    """``index`` able to store caller ids: inverted files already are, the rest get IDMap2
    (a refine step over an inverted file too: IndexRefine does not take ids)."""
    if isinstance(index, faiss.IndexIDMap2):
        return index
    if isinstance(faiss.downcast_index(index), faiss.IndexRefine):
        return _faiss.IndexIDMap2(index)
    try:
        faiss.extract_index_ivf(index)
    except RuntimeError:
        return _faiss.IndexIDMap2(index)
    return index


def _graph_inside(index: Any) -> Any:
    """The HNSW graph an IDMap2 wraps (it cannot remove vectors), or None."""
    if not isinstance(index, faiss.IndexIDMap2):
        return None
    inner = faiss.downcast_index(index.index)
    return inner if isinstance(inner, faiss.IndexHNSW) else None
