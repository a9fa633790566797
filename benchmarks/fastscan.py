"""Merging inverted files whose lists hold 4-bit PQ fast-scan codes, which FAISS 1.15's own
``merge_from`` cannot do (the 10M benchmark adds its parts in parallel processes, then merges)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import faiss
import numpy as np

# faiss's bundled stubs lack the inverted lists' fast-scan attributes used here.
_faiss: Any = faiss

__all__ = ["merge_lists"]


def merge_lists(index: Any, shards: Sequence[Any]) -> None:
    """Fill the empty trained ``index`` with the inverted lists of ``shards`` (copies of it
    that each added a part of the vectors).

    ``merge_from`` corrupts memory on fast-scan lists in FAISS 1.15 (``BlockInvertedLists``
    has no per-vector code size, which the generic merge copies by, and appending to a
    non-empty list went wrong the same way), so each list is built whole: every shard's
    blocks unpacked, concatenated, packed again, and added to the empty list in one call."""
    ivf = _faiss.extract_index_ivf(index)
    into = _faiss.downcast_InvertedLists(ivf.invlists)
    lists = [_faiss.downcast_InvertedLists(_faiss.extract_index_ivf(s).invlists) for s in shards]
    packer, per, size = into.packer, into.n_per_block, ivf.code_size
    for list_no in range(into.nlist):
        ids, codes = [], []
        for source in lists:
            if count := source.list_size(list_no):
                blocks = -(-count // per)
                packed = faiss.rev_swig_ptr(source.get_codes(list_no), blocks * into.block_size)
                flat = np.empty((blocks * per, size), dtype=np.uint8)
                for block in range(blocks):
                    packer.unpack_all(
                        faiss.swig_ptr(packed[block * into.block_size :]), faiss.swig_ptr(flat[block * per :])
                    )
                codes.append(flat[:count])
                ids.append(faiss.rev_swig_ptr(source.get_ids(list_no), count).copy())
        if not ids:
            continue
        flat = np.concatenate(codes)
        blocks = -(-len(flat) // per)
        padded = np.zeros((blocks * per, size), dtype=np.uint8)
        padded[: len(flat)] = flat
        packed = np.empty(blocks * into.block_size, dtype=np.uint8)
        for block in range(blocks):
            packer.pack_all(
                faiss.swig_ptr(padded[block * per :]), faiss.swig_ptr(packed[block * into.block_size :])
            )
        all_ids = np.concatenate(ids)
        into.add_entries(list_no, len(all_ids), faiss.swig_ptr(all_ids), faiss.swig_ptr(packed))
    ivf.ntotal = sum(int(s.ntotal) for s in shards)
    index.ntotal = ivf.ntotal
