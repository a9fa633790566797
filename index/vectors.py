"""Vector stores: where descriptors are searched by inner product.

A store implements the small abstract base :class:`~lookalike.index.base.VectorStore`
(metric, dim, add, remove, search, and the lifecycle the index folder drives). There are
three: the FAISS store named by a factory string (the default, embedded; in
:mod:`lookalike.index.faiss_store`), the Milvus store (:mod:`lookalike.index.milvus`) and the
NumPy store below that tests use as a fake. This module is where callers import them from.
"""

from __future__ import annotations

import numpy as np

from .base import StoreStats, VectorStore
from .faiss_store import FaissVectorStore

__all__ = ["FaissVectorStore", "MemoryVectorStore", "StoreStats", "VectorStore"]


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

    def reset(self) -> None:
        self._rows.clear()
