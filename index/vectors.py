"""Vector stores: where descriptors are searched by inner product.

A store is a small abstract base (add, remove, search, write, read) with two
implementations here: the FAISS store named by a factory string (the default, embedded)
and a NumPy store that tests use as a fake.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import faiss
import numpy as np

from ..errors import IndexCorruptError, IndexStoreError

__all__ = ["FaissVectorStore", "MemoryVectorStore", "VectorStore"]


class VectorStore(ABC):
    dim: int

    @abstractmethod
    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add unit ``vectors`` ([n, dim] float32) under int64 ``ids``."""

    @abstractmethod
    def remove(self, ids: np.ndarray) -> int:
        """Remove ``ids`` (those absent are ignored); how many were removed."""

    @abstractmethod
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` inner products and ids per query, best first; missing slots have id -1."""

    @abstractmethod
    def __len__(self) -> int: ...


class FaissVectorStore(VectorStore):
    """A FAISS index over inner product, built from a factory string such as
    ``"IDMap2,Flat"`` and tuned by a search-parameter string such as ``"nprobe=16"``."""

    def __init__(self, dim: int, factory: str = "IDMap2,Flat", search_params: str = "") -> None:
        self.dim = dim
        self.factory = factory
        try:
            index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
        except RuntimeError as exc:
            raise IndexStoreError(f"FAISS cannot build {factory!r}: {exc}") from exc
        self._index = index if factory.startswith("IDMap") else faiss.IndexIDMap2(index)
        self.set_search_params(search_params)

    def set_search_params(self, params: str) -> None:
        self.search_params = params
        if params:
            try:
                faiss.ParameterSpace().set_index_parameters(self._index, params)
            except RuntimeError as exc:
                raise IndexStoreError(f"FAISS rejects search parameters {params!r}: {exc}") from exc

    @property
    def faiss_index(self) -> faiss.Index:
        return self._index

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self._index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids.astype(np.int64))

    def remove(self, ids: np.ndarray) -> int:
        if not len(ids):
            return 0
        return int(self._index.remove_ids(np.ascontiguousarray(ids, dtype=np.int64)))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = max(1, min(k, len(self) or 1))
        scores, ids = self._index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        return scores, ids

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def write(self, path: Path) -> None:
        faiss.write_index(self._index, str(path))

    @classmethod
    def read(cls, path: Path, factory: str, search_params: str = "", mmap: bool = False) -> FaissVectorStore:
        try:
            flags = faiss.IO_FLAG_MMAP if mmap else 0
            index = faiss.read_index(str(path), flags)
        except RuntimeError as exc:
            raise IndexCorruptError(f"{path}: unreadable FAISS index: {exc}") from exc
        store = cls.__new__(cls)
        store.dim = index.d
        store.factory = factory
        store._index = index
        store.set_search_params(search_params)
        return store


class MemoryVectorStore(VectorStore):
    """Exact search in NumPy: the reference the FAISS store is tested against."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._rows: dict[int, np.ndarray] = {}

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        for i, v in zip(ids.tolist(), vectors, strict=True):
            self._rows[int(i)] = np.asarray(v, dtype=np.float32)

    def remove(self, ids: np.ndarray) -> int:
        return sum(self._rows.pop(int(i), None) is not None for i in ids.tolist())

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        ids = np.fromiter(self._rows, dtype=np.int64, count=len(self._rows))
        k = max(1, min(k, len(ids) or 1))
        out_s = np.full((len(queries), k), -np.inf, dtype=np.float32)
        out_i = np.full((len(queries), k), -1, dtype=np.int64)
        if len(ids):
            matrix = np.stack(list(self._rows.values()))
            sims = queries @ matrix.T
            for q, row in enumerate(sims):
                order = np.argsort(-row, kind="stable")[:k]
                out_s[q, : len(order)] = row[order]
                out_i[q, : len(order)] = ids[order]
        return out_s, out_i

    def __len__(self) -> int:
        return len(self._rows)
