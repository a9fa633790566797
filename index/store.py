"""The index folder: manifest + SQLite catalog + vector and hash checkpoints, kept consistent.

Layout of an index folder::

    manifest.json          embedder identity, factory string, checkpoint pointer
    catalog.sqlite         every image and its descriptor (source of truth, WAL, fsync'd)
    vectors-<seq>.faiss    vector index as of catalog change <seq>
    hashes-<seq>.faissb    hash index as of the same change
    .lock                  held by the one process allowed to write

Writes commit to the catalog first (one SQLite transaction per batch), then update the
in-memory indexes; ``save`` writes new checkpoint files and then switches the manifest to
them with one atomic rename. Opening replays catalog changes newer than the checkpoint, so
a SIGKILL at any point leaves the index as it was before or after a committed batch.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from ..embed.base import EmbedderInfo
from ..embed.encode import Descriptor
from ..errors import EmbedderMismatchError, IndexLockedError, IndexStoreError
from .atomic import atomic_write, fsync_dir
from .catalog import CATALOG_NAME, Catalog, NewItem, Record
from .hashindex import HashIndex
from .manifest import MANIFEST_NAME, Checkpoint, Manifest
from .vectors import FaissVectorStore, VectorStore

__all__ = ["AddResult", "Index", "IndexStats"]


@dataclass(frozen=True)
class AddResult:
    external_id: str
    iid: int
    replaced: bool
    duplicate_of: str | None = None


@dataclass(frozen=True)
class IndexStats:
    path: str
    images: int
    vectors: int
    hashes: int
    embedder: EmbedderInfo
    index_factory: str
    search_params: str
    checkpoint_seq: int
    pending_changes: int
    bytes_on_disk: int
    created_at: str
    updated_at: str


class Index:
    """A reference catalog on disk. Use :meth:`create`, :meth:`open` or :meth:`open_or_create`."""

    def __init__(
        self,
        path: Path,
        manifest: Manifest,
        writable: bool,
        vectors: VectorStore | None = None,
        lock_file: IO[bytes] | None = None,
    ) -> None:
        self.path = path
        self.manifest = manifest
        self.writable = writable
        self._lock_file = lock_file
        self._mutex = threading.RLock()
        self.catalog = Catalog(path / CATALOG_NAME)
        self._vectors, self._hashes, checkpoint_seq = self._load_checkpoint(vectors)
        self._seq = self._replay(checkpoint_seq)

    # -- opening -----------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: str | Path,
        embedder: EmbedderInfo,
        index_factory: str = "IDMap2,Flat",
        search_params: str = "",
    ) -> Index:
        folder = Path(path)
        if (folder / MANIFEST_NAME).exists():
            raise IndexStoreError(f"{folder}: an index already exists here")
        folder.mkdir(parents=True, exist_ok=True)
        lock = _acquire_lock(folder)
        manifest = Manifest(embedder=embedder, index_factory=index_factory, search_params=search_params)
        FaissVectorStore(embedder.dim, index_factory, search_params)  # fail early on a bad string
        manifest.save(folder)
        return cls(folder, manifest, writable=True, lock_file=lock)

    @staticmethod
    def open_manifest(path: str | Path) -> Manifest:
        """Read what an index was built with, without opening it."""
        return Manifest.load(Path(path))

    @classmethod
    def open(cls, path: str | Path, embedder: EmbedderInfo | None = None, writable: bool = False) -> Index:
        """Open an existing index. ``embedder``, when given, must be the one it was built with."""
        folder = Path(path)
        manifest = Manifest.load(folder)
        if embedder is not None and embedder != manifest.embedder:
            raise EmbedderMismatchError(
                f"{folder} was built with embedder {manifest.embedder.name} "
                f"(version {manifest.embedder.version}, dim {manifest.embedder.dim}); "
                f"refusing to use {embedder.name} (version {embedder.version}, dim {embedder.dim}): "
                "its vectors are not comparable. Open it with the same embedder or build a new index."
            )
        lock = _acquire_lock(folder) if writable else None
        return cls(folder, manifest, writable=writable, lock_file=lock)

    @classmethod
    def open_or_create(cls, path: str | Path, embedder: EmbedderInfo, index_factory: str = "IDMap2,Flat") -> Index:
        if (Path(path) / MANIFEST_NAME).exists():
            return cls.open(path, embedder, writable=True)
        return cls.create(path, embedder, index_factory)

    def _new_vector_store(self) -> VectorStore:
        return FaissVectorStore(self.manifest.dim, self.manifest.index_factory, self.manifest.search_params)

    def _load_checkpoint(self, vectors: VectorStore | None) -> tuple[VectorStore, HashIndex, int | None]:
        """The stores as of the checkpoint and its change number (None: rebuild from the catalog)."""
        ckpt = self.manifest.checkpoint
        if ckpt is None or vectors is not None:
            return vectors or self._new_vector_store(), HashIndex(), None
        store = FaissVectorStore.read(
            self.path / ckpt.vectors, self.manifest.index_factory, self.manifest.search_params
        )
        return store, HashIndex.read(self.path / ckpt.hashes), ckpt.seq

    def _replay(self, checkpoint_seq: int | None) -> int:
        """Bring the in-memory indexes from their checkpoint up to the catalog; the catalog's
        last change number."""
        with self.catalog.transaction(write=False):
            if checkpoint_seq is None:
                for batch in self.catalog.iter_records():
                    self._add_to_indexes(batch)
            else:
                changed = self.catalog.changed_since(checkpoint_seq)
                ids = np.asarray(changed, dtype=np.int64)
                self._vectors.remove(ids)
                self._hashes.remove(ids)
                self._add_to_indexes(list(self.catalog.by_iids(changed).values()))
            return self.catalog.last_seq()

    def _add_to_indexes(self, records: Sequence[Record]) -> None:
        if not records:
            return
        ids = np.array([r.iid for r in records], dtype=np.int64)
        self._vectors.add(ids, np.stack([r.descriptor.vector for r in records]))
        self._hashes.add(ids, np.stack([r.descriptor.phash for r in records]))

    # -- writing -----------------------------------------------------------------------

    def _check_writable(self) -> None:
        if not self.writable:
            raise IndexStoreError(f"{self.path} was opened read-only")

    def add(self, items: Sequence[NewItem]) -> list[AddResult]:
        """Add one batch atomically. An existing external id is replaced."""
        self._check_writable()
        for item in items:
            if item.descriptor.vector.shape != (self.manifest.dim,):
                raise EmbedderMismatchError(
                    f"{item.external_id}: vector of shape {item.descriptor.vector.shape}, index dim {self.manifest.dim}"
                )
        with self._mutex:
            results, removed = [], []
            with self.catalog.transaction():
                for item in items:
                    old = self.catalog.delete(item.external_id)
                    if old is not None:
                        removed.append(old)
                    dup = self.catalog.find_sha256(item.sha256)
                    iid = self.catalog.insert(item)
                    results.append(
                        AddResult(
                            item.external_id,
                            iid,
                            replaced=old is not None,
                            duplicate_of=dup.external_id if dup else None,
                        )
                    )
                seq = self.catalog.last_seq()
            gone = np.asarray(removed, dtype=np.int64)
            self._vectors.remove(gone)
            self._hashes.remove(gone)
            ids = np.array([r.iid for r in results], dtype=np.int64)
            if len(items):
                self._vectors.add(ids, np.stack([i.descriptor.vector for i in items]))
                self._hashes.add(ids, np.stack([i.descriptor.phash for i in items]))
            self._seq = seq
        return results

    def delete(self, external_ids: Sequence[str]) -> list[str]:
        """Delete images by external id; the ids that existed."""
        self._check_writable()
        with self._mutex:
            deleted, iids = [], []
            with self.catalog.transaction():
                for ext in external_ids:
                    iid = self.catalog.delete(ext)
                    if iid is not None:
                        deleted.append(ext)
                        iids.append(iid)
                seq = self.catalog.last_seq()
            ids = np.asarray(iids, dtype=np.int64)
            self._vectors.remove(ids)
            self._hashes.remove(ids)
            self._seq = seq
        return deleted

    def save(self) -> None:
        """Checkpoint the vector and hash indexes so the next open need not replay."""
        self._check_writable()
        with self._mutex:
            old = self.manifest.checkpoint
            if old is not None and old.seq == self._seq:
                return
            ckpt = Checkpoint(seq=self._seq, vectors=f"vectors-{self._seq}.faiss", hashes=f"hashes-{self._seq}.faissb")
            atomic_write(self.path / ckpt.vectors, self._write_vectors)
            atomic_write(self.path / ckpt.hashes, self._hashes.write)
            self.manifest = self.manifest.with_checkpoint(ckpt)
            self.manifest.save(self.path)
            for name in os.listdir(self.path):
                if name.startswith(("vectors-", "hashes-")) and name not in (ckpt.vectors, ckpt.hashes):
                    (self.path / name).unlink(missing_ok=True)
            fsync_dir(self.path)
            with self.catalog.transaction():
                self.catalog.prune_changes(ckpt.seq)

    def _write_vectors(self, path: Path) -> None:
        if not isinstance(self._vectors, FaissVectorStore):
            raise IndexStoreError("only a FAISS vector store is checkpointed to the index folder")
        self._vectors.write(path)

    # -- reading -----------------------------------------------------------------------

    def candidates(self, query: Descriptor, k: int) -> list[Record]:
        """Union of the ``k`` nearest by vector and the ``k`` nearest by (mirror-aware) hash."""
        with self._mutex:
            if not len(self._vectors):
                return []
            _, vec_ids = self._vectors.search(query.vector[None, :], k)
            _, hash_ids = self._hashes.search(np.stack([query.phash, query.phash_mirror]), k)
            iids = np.unique(np.concatenate([vec_ids.ravel(), hash_ids.ravel()]))
            records = self.catalog.by_iids([int(i) for i in iids if i >= 0])
        return list(records.values())

    def get(self, external_id: str) -> Record:
        with self._mutex:
            return self.catalog.get(external_id)

    def find_sha256(self, sha256: str) -> Record | None:
        with self._mutex:
            return self.catalog.find_sha256(sha256)

    def __len__(self) -> int:
        with self._mutex:
            return self.catalog.count()

    def stats(self) -> IndexStats:
        with self._mutex:
            ckpt = self.manifest.checkpoint
            size = sum(p.stat().st_size for p in self.path.iterdir() if p.is_file())
            return IndexStats(
                path=str(self.path),
                images=self.catalog.count(),
                vectors=len(self._vectors),
                hashes=len(self._hashes),
                embedder=self.manifest.embedder,
                index_factory=self.manifest.index_factory,
                search_params=self.manifest.search_params,
                checkpoint_seq=ckpt.seq if ckpt else 0,
                pending_changes=self._seq - (ckpt.seq if ckpt else 0),
                bytes_on_disk=size,
                created_at=self.manifest.created_at,
                updated_at=self.manifest.updated_at,
            )

    def close(self) -> None:
        with self._mutex:
            self.catalog.close()
            if self._lock_file is not None:
                self._lock_file.close()
                self._lock_file = None

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _acquire_lock(folder: Path) -> IO[bytes]:
    handle = (folder / ".lock").open("ab")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise IndexLockedError(
            f"{folder}: another process is writing to this index (lookalike ingest or serve); try again when it ends"
        ) from None
    return handle
