"""Which FAISS index a catalog needs, from its size and a memory budget (as autofaiss does).

* below :data:`FLAT_LIMIT` vectors: exact search (``IDMap2,Flat``), nothing to train or tune;
* while full vectors plus an HNSW graph fit the budget: ``IDMap2,HNSW32``, no training,
  incremental adds, millisecond queries;
* beyond: ``IVF{nlist},PQ{m}x4fs`` (an HNSW coarse quantizer once nlist is large): product
  quantization with 4-bit codes searched by SIMD "fast scan", the widest code that fits the
  budget, trained once on a sample of the catalog. It replaces autofaiss's ``OPQ``+``PQ{m}x8``
  because 8-bit codebooks took minutes to train on this 2-core machine for the same code size
  (see docs/scaling.md); an OPQ factory can still be forced.

The choice is a plain factory string, recorded in the manifest; a user may force another.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

__all__ = [
    "FLAT_LIMIT",
    "IndexChoice",
    "choose_index",
    "estimate_bytes",
    "index_kind",
    "is_upgrade",
    "min_training_size",
]

FLAT_LIMIT = 50_000
HNSW_M = 32
#: Coarse quantizers with more centroids than this are searched with a graph, not scanned.
HNSW_QUANTIZER_FROM = 1 << 14
#: Allocator and bookkeeping slack over the raw sizes.
_SLACK = 1.1
_KIND_RANK = {"flat": 0, "hnsw": 1, "ivf": 2}


@dataclass(frozen=True)
class IndexChoice:
    factory: str
    #: Catalog vectors to train on before adding (0: the index needs no training).
    train_size: int
    bytes_per_vector: float
    reason: str

    @property
    def kind(self) -> str:
        return index_kind(self.factory)


def index_kind(factory: str) -> str:
    """``flat``, ``hnsw`` or ``ivf``: the family that decides how the index grows and deletes."""
    if "IVF" in factory:
        return "ivf"
    return "hnsw" if "HNSW" in factory else "flat"


def is_upgrade(current: str, proposed: str) -> bool:
    """True when ``proposed`` is a bigger family than ``current`` (never shrink on our own)."""
    return _KIND_RANK[index_kind(proposed)] > _KIND_RANK[index_kind(current)]


def min_training_size(factory: str) -> int:
    """Vectors a trained factory should learn from: k-means wants ~39 points per centroid,
    PQ's 256 codewords per sub-quantizer as many."""
    nlist = re.search(r"IVF(\d+)", factory)
    need = 39 * int(nlist.group(1)) if nlist else 0
    if re.search(r"PQ\d+", factory):
        need = max(need, 39 * 256)
    return max(need, 1000)


def _hnsw_bytes(dim: int) -> float:
    # Full float32 vector + level-0 links (2M int32) + upper levels (~M/ (M-1) extra, rounded
    # up) + the IDMap2 id and reverse-map entry.
    return (4 * dim + 2 * HNSW_M * 4 * 1.1 + 8 + 40) * _SLACK


def _ivf_nlist(n: int) -> int:
    """About 4 sqrt(n) lists, a power of two, at least 256."""
    return max(256, 1 << round(math.log2(4 * math.sqrt(max(n, 1)))))


def _pq_bytes(m: int, nlist: int, n: int, dim: int) -> float:
    # 4-bit code + id in the inverted list, plus the float32 centroids amortised over the catalog.
    return (m / 2 + 8) * _SLACK + 4 * dim * nlist / max(n, 1)


def estimate_bytes(factory: str, n: int, dim: int) -> float:
    """Rough resident size of ``factory`` holding ``n`` vectors (the planner's model)."""
    kind = index_kind(factory)
    if kind == "flat":
        return n * (4 * dim + 48) * _SLACK
    if kind == "hnsw":
        return n * _hnsw_bytes(dim)
    pq = re.search(r"PQ(\d+)(x(\d+))?", factory)
    nlist = int(re.findall(r"IVF(\d+)", factory)[0])
    # _pq_bytes counts 4-bit codes: convert a PQ{m}x{bits} code, or full floats, to that unit.
    code = 2 * int(pq.group(1)) * int(pq.group(3) or 8) // 8 if pq else 2 * 4 * dim
    return n * _pq_bytes(code, nlist, n, dim)


def choose_index(n: int, dim: int, memory_budget: int) -> IndexChoice:
    """The index for ``n`` vectors of ``dim`` that fits ``memory_budget`` bytes."""
    if n < FLAT_LIMIT:
        return IndexChoice("IDMap2,Flat", 0, 4 * dim + 48, f"{n} vectors < {FLAT_LIMIT}: exact search")
    hnsw = _hnsw_bytes(dim)
    if n * hnsw <= memory_budget:
        return IndexChoice(
            f"IDMap2,HNSW{HNSW_M}",
            0,
            hnsw,
            f"{n} vectors x {hnsw:.0f} B = {n * hnsw / 2**30:.1f} GiB fits the "
            f"{memory_budget / 2**30:.1f} GiB budget",
        )
    nlist = _ivf_nlist(n)
    quantizer = f"IVF{nlist}_HNSW32" if nlist > HNSW_QUANTIZER_FROM else f"IVF{nlist}"
    codes = (256, 128, 64, 32, 16)
    fitting = [m for m in codes if dim % m == 0 and n * _pq_bytes(m, nlist, n, dim) <= memory_budget]
    m = fitting[0] if fitting else codes[-1]
    # k-means wants ~40-256 points per centroid, and PQ's codebooks 2^16 points at least.
    train = min(n, max(1 << 16, 64 * nlist), 1 << 21)
    per = _pq_bytes(m, nlist, n, dim)
    note = "" if fitting else f" (even PQ{m}x4fs exceeds the budget: shard the catalog)"
    return IndexChoice(
        f"{quantizer},PQ{m}x4fs",
        train,
        per,
        f"{n} vectors: HNSW would need {n * hnsw / 2**30:.1f} GiB; PQ{m}x4fs codes need "
        f"{n * per / 2**30:.2f} GiB{note}",
    )
