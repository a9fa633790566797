"""Multi-index hashing: sub-linear pHash lookups for large catalogs.

A 64-bit hash is cut into four 16-bit substrings. Two hashes ``d`` bits apart share at least
one substring within ``d // 4`` bits (pigeonhole), so each substring gets a table (catalog
positions sorted by that substring) and a query probes, in every table, the buckets within
``r`` bits of its own substring for r = 0, 1, 2, checking each candidate's full distance.
After radius ``r`` the answer is exact for every neighbour within ``4 (r + 1) - 1`` bits (3,
7, 11): the search stops once ``k`` candidates lie inside that bound. Hashes farther than 11
bits come back only if met on the way; for a perceptual hash they are unrelated images.

Storage and file format are :class:`HashIndex`'s (FAISS binary flat with ids); the tables
are derived from the stored codes, rebuilt after removals or when hashes added since the
last build (scanned linearly meanwhile) outgrow an eighth of the catalog. Below
:data:`EXACT_BELOW` hashes the flat scan is as fast and exact, so it answers.

Searches may run in parallel (the index excludes them only from writes): the first search
after a write rebuilds the derived tables under a lock, the others wait for it.
"""

from __future__ import annotations

import threading
from itertools import combinations
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from .hashindex import HashIndex

__all__ = ["EXACT_BELOW", "MultiIndexHashIndex"]

EXACT_BELOW = 1 << 16
_PARTS = 4
_SUB_BITS = 16
_MAX_RADIUS = 2
# faiss's bundled stubs lack downcast_IndexBinary.
_faiss: Any = faiss


def _flip_masks(radius: int) -> np.ndarray:
    """Every 16-bit mask of exactly ``radius`` set bits."""
    masks = [sum(1 << b for b in bits) for bits in combinations(range(_SUB_BITS), radius)]
    return np.asarray(masks, dtype=np.uint64)


_MASKS = [_flip_masks(r) for r in range(_MAX_RADIUS + 1)]


class MultiIndexHashIndex(HashIndex):
    def __init__(self, bits: int = 64) -> None:
        super().__init__(bits)
        self._sync_lock = threading.Lock()
        self._forget_tables()

    @classmethod
    def read(cls, path: Path) -> MultiIndexHashIndex:
        out = super().read(path)
        assert isinstance(out, MultiIndexHashIndex)
        out._sync_lock = threading.Lock()
        out._forget_tables()
        return out

    def _forget_tables(self) -> None:
        self._built = 0  # hashes [0, _built) are in the tables, the rest in the tail
        self._codes = np.zeros(0, dtype=np.uint64)
        self._ids = np.zeros(0, dtype=np.int64)
        self._orders: list[np.ndarray] = []
        self._starts: list[np.ndarray] = []

    def remove(self, ids: np.ndarray) -> int:
        removed = super().remove(ids)
        if removed:
            self._forget_tables()  # FAISS compacts the codes: positions moved
        return removed

    def _sync(self) -> None:
        with self._sync_lock:
            self._sync_locked()

    def _sync_locked(self) -> None:
        """Mirror the stored codes; rebuild the tables when the tail has grown too long."""
        n = len(self)
        if len(self._codes) != n:
            stored: Any = self._index
            flat = _faiss.downcast_IndexBinary(stored.index)
            self._codes = faiss.vector_to_array(flat.xb).view(np.uint64).copy()
            self._ids = faiss.vector_to_array(stored.id_map).astype(np.int64)
        if n - self._built > max(EXACT_BELOW, n // 8) or (self._built == 0 and n):
            subs = [(self._codes >> np.uint64(_SUB_BITS * p)) & np.uint64(0xFFFF) for p in range(_PARTS)]
            self._orders = [np.argsort(sub, kind="stable") for sub in subs]
            # Bucket v of table p is _orders[p][_starts[p][v] : _starts[p][v + 1]].
            every = np.arange(1 << _SUB_BITS, dtype=np.uint64)
            self._starts = [
                np.searchsorted(sub[order], every, side="left").astype(np.int64)
                for sub, order in zip(subs, self._orders, strict=True)
            ]
            self._starts = [np.append(st, n) for st in self._starts]
            self._built = n

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if len(self) < EXACT_BELOW or self.bits != 64:
            return super().search(queries, k)
        self._sync()
        k = max(1, min(k, len(self)))
        q64 = np.ascontiguousarray(queries, dtype=np.uint8).view(np.uint64).ravel()
        out_d = np.full((len(q64), k), self.bits + 1, dtype=np.int32)
        out_i = np.full((len(q64), k), -1, dtype=np.int64)
        for row, q in enumerate(q64):
            found = [np.arange(self._built, len(self._codes))]
            for radius in range(_MAX_RADIUS + 1):
                found.append(self._probe(q, radius))
                pos = np.concatenate(found)
                dist = np.bitwise_count(self._codes[pos] ^ q).astype(np.int32)
                inside = pos[dist <= _PARTS * (radius + 1) - 1]
                if len(inside) >= k and len(np.unique(inside)) >= k:
                    break
            # A hash met in several tables appears several times, always with its distance:
            # sorted by (distance, position), repeats are neighbours.
            order = np.lexsort((pos, dist))
            pos, dist = pos[order], dist[order]
            first = np.ones(len(pos), dtype=bool)
            first[1:] = pos[1:] != pos[:-1]
            pos, dist = pos[first][:k], dist[first][:k]
            out_d[row, : len(pos)] = dist
            out_i[row, : len(pos)] = self._ids[pos]
        return out_d, out_i

    def _probe(self, q: np.uint64, radius: int) -> np.ndarray:
        """Table positions whose substring is exactly ``radius`` bits from the query's."""
        found = []
        for part, (order, starts) in enumerate(zip(self._orders, self._starts, strict=True)):
            sub = (q >> np.uint64(_SUB_BITS * part)) & np.uint64(0xFFFF)
            keys = (sub ^ _MASKS[radius]).astype(np.int64)
            lo, hi = starts[keys], starts[keys + 1]
            sizes = hi - lo
            total = int(sizes.sum())
            if total:
                offsets = np.cumsum(sizes) - sizes
                found.append(order[np.repeat(lo - offsets, sizes) + np.arange(total)])
        return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)
