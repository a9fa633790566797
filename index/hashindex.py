"""The hash channel: packed perceptual hashes searched by Hamming distance (FAISS binary)."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

from ..errors import IndexCorruptError

__all__ = ["HashIndex"]


class HashIndex:
    def __init__(self, bits: int = 64) -> None:
        self.bits = bits
        self._index: faiss.IndexBinary = faiss.IndexBinaryIDMap2(faiss.IndexBinaryFlat(bits))

    def add(self, ids: np.ndarray, hashes: np.ndarray) -> None:
        if len(ids):
            self._index.add_with_ids(np.ascontiguousarray(hashes, dtype=np.uint8), ids.astype(np.int64))

    def remove(self, ids: np.ndarray) -> int:
        if not len(ids):
            return 0
        return int(self._index.remove_ids(np.ascontiguousarray(ids, dtype=np.int64)))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Nearest ``k`` hashes per query: (distances in bits, ids), closest first."""
        k = max(1, min(k, len(self) or 1))
        return self._index.search(np.ascontiguousarray(queries, dtype=np.uint8), k)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def write(self, path: Path) -> None:
        faiss.write_index_binary(self._index, str(path))

    @classmethod
    def read(cls, path: Path) -> HashIndex:
        try:
            index = faiss.read_index_binary(str(path))
        except RuntimeError as exc:
            raise IndexCorruptError(f"{path}: unreadable hash index: {exc}") from exc
        out = cls.__new__(cls)
        out.bits = index.d
        out._index = index
        return out
