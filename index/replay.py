"""Opening an index: each store as of its checkpoint, then the catalog changes after it.

The catalog is the source of truth; the vector store and the hash index are checkpoints of
it. Opening loads them (or finds them empty), and replays the catalog changes newer than
their checkpoints: removes every changed id, then adds back those rows that still exist.
Replaying reads only ids, vectors and pHashes (:meth:`Catalog.iter_vectors`), never the
keypoints. Which store holds the vectors is the manifest's ``store`` address.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .base import Batches, VectorStore
from .catalog import Catalog
from .faiss_lifecycle import open_faiss
from .hashindex import HashIndex
from .manifest import Manifest
from .uri import parse_store

__all__ = ["catalog_batches", "open_vectors", "replay"]


def catalog_batches(catalog: Catalog, batch: int = 10_000) -> Batches:
    """Every (ids, vectors) batch of the catalog, anew each call (see :data:`Batches`)."""
    return lambda: ((b.ids, b.vectors) for b in catalog.iter_vectors(batch=batch))


def open_vectors(
    folder: Path, manifest: Manifest, catalog: Catalog, writable: bool, mmap: bool
) -> tuple[VectorStore, int | None]:
    """The vector store the manifest names and the catalog change it holds (None: it is
    empty, fill it from the catalog; -1: a shared store this reader must not update)."""
    address = parse_store(manifest.store)
    if address.kind == "milvus":
        from .milvus import MilvusVectorStore  # pymilvus is an optional extra

        return MilvusVectorStore.open(address, manifest, catalog.last_seq(), writable)
    return open_faiss(folder, manifest, catalog.last_seq(), writable, mmap, catalog_batches(catalog))


def replay(
    catalog: Catalog, hashes: HashIndex, vectors: VectorStore, hash_seq: int | None, vector_seq: int | None
) -> int:
    """Bring both indexes from their checkpoints up to the catalog; the catalog's last change
    number. A seq of None means the index is empty (fill it), -1 that it is not ours to update."""
    last = catalog.last_seq()
    if hash_seq is None or vector_seq is None:
        for batch in catalog.iter_vectors(phashes=hash_seq is None):
            if hash_seq is None:
                assert batch.phashes is not None
                hashes.add(batch.ids, batch.phashes)
            if vector_seq is None:
                vectors.add(batch.ids, batch.vectors)
    if hash_seq is not None and 0 <= hash_seq < last:
        changed = catalog.changed_since(hash_seq)
        hashes.remove(np.asarray(changed, dtype=np.int64))
        for batch in catalog.iter_vectors(changed, phashes=True):
            assert batch.phashes is not None
            hashes.add(batch.ids, batch.phashes)
    if vector_seq is not None and 0 <= vector_seq < last:
        changed = catalog.changed_since(vector_seq)
        vectors.remove(np.asarray(changed, dtype=np.int64))
        for batch in catalog.iter_vectors(changed):
            vectors.add(batch.ids, batch.vectors)
    return last
