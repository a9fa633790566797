"""The index folder: manifest + SQLite catalog + vector and hash checkpoints, kept consistent.

Layout of an index folder::

    manifest.json          embedder identity, factory string, store, checkpoint pointer
    catalog.sqlite         every image and its descriptor (source of truth, WAL, fsync'd)
    vectors-<seq>.faiss    vector index as of catalog change <seq> (FAISS store only)
    hashes-<seq>.faissb    hash index as of the same change
    .lock                  held by the one process allowed to write

Writes commit to the catalog first (one SQLite transaction per batch), then update the
in-memory indexes; ``save`` writes new checkpoint files and then switches the manifest to
them with one atomic rename. Opening replays catalog changes newer than the checkpoint, so
a SIGKILL at any point leaves the index as it was before or after a committed batch.

The vectors live in FAISS files (``store="faiss"``) or in a Milvus collection
(``store="milvus://..."``), which persists itself: its checkpoint is the change number
recorded on the collection, and opening replays only the catalog changes after it.

The FAISS index grows with the catalog: created with ``index_factory="auto"`` it starts flat
and, at a save that finds the catalog past a size threshold, is rebuilt into the kind
:func:`~lookalike.index.choose.choose_index` picks (HNSW, then OPQ/IVF/PQ), trained once on a
catalog sample and tuned to the recall target; later adds go into it incrementally. A
factory that must be trained waits, served by an exact index, until the catalog holds
enough vectors to train it. Deletes remove in place, or leave tombstones (HNSW) that a save
compacts once they pass :data:`COMPACT_AT`. :meth:`Index.rebuild` retrains on request.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from ..embed.base import EmbedderInfo
from ..embed.descriptor import Descriptor
from ..errors import EmbedderMismatchError, IndexLockedError, IndexStoreError
from .atomic import atomic_write, fsync_dir
from .build import TUNING_QUERIES, BuildReport, build_store, sample_rows
from .catalog import CATALOG_NAME, Catalog, NewItem, Record
from .choose import choose_index, is_upgrade, min_training_size
from .hashindex import HashIndex
from .manifest import DEFAULT_MEMORY_BUDGET, MANIFEST_NAME, Checkpoint, Manifest
from .mih import MultiIndexHashIndex
from .tune import Tuning, tune
from .uri import parse_store
from .vectors import FaissVectorStore, VectorStore

__all__ = ["COMPACT_AT", "AddResult", "Index", "IndexStats"]

#: Share of tombstoned vectors at which a save rebuilds the vector index without them.
COMPACT_AT = 0.2
_EXACT = "IDMap2,Flat"


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
    store: str = "faiss"
    auto_factory: bool = False
    target_factory: str | None = None
    train_size: int = 0
    tuned_recall: float | None = None
    memory_mapped: bool = False


class Index:
    """A reference catalog on disk. Use :meth:`create`, :meth:`open` or :meth:`open_or_create`."""

    def __init__(
        self,
        path: Path,
        manifest: Manifest,
        writable: bool,
        vectors: VectorStore | None = None,
        lock_file: IO[bytes] | None = None,
        mmap: bool = False,
    ) -> None:
        self.path = path
        self.manifest = manifest
        self.writable = writable
        self._lock_file = lock_file
        self._mutex = threading.RLock()
        #: The manifest differs from the one on disk in more than the checkpoint (a new store).
        self._unsaved = False
        self.catalog = Catalog(path / CATALOG_NAME)
        with self.catalog.transaction(write=False):
            self._hashes, hash_seq = self._load_hashes()
            self._vectors, vector_seq = self._open_vectors(vectors, mmap)
            self._seq = self._replay(hash_seq, vector_seq)

    # -- opening -----------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: str | Path,
        embedder: EmbedderInfo,
        index_factory: str = "auto",
        search_params: str = "",
        store: str = "faiss",
        memory_budget: int = DEFAULT_MEMORY_BUDGET,
    ) -> Index:
        """A new, empty index. ``index_factory="auto"`` lets the index pick and grow its FAISS
        index by catalog size and ``memory_budget``; a factory string forces one."""
        folder = Path(path)
        if (folder / MANIFEST_NAME).exists():
            raise IndexStoreError(f"{folder}: an index already exists here")
        parse_store(store)
        auto = index_factory == "auto"
        factory, target = (_EXACT if auto else index_factory), None
        if not FaissVectorStore(embedder.dim, factory, search_params).is_trained:
            factory, target = _EXACT, index_factory  # served exactly until it can be trained
        folder.mkdir(parents=True, exist_ok=True)
        lock = _acquire_lock(folder)
        manifest = Manifest(
            embedder=embedder,
            index_factory=factory,
            search_params="" if target else search_params,
            store=store,
            auto_factory=auto,
            target_factory=target,
            memory_budget=memory_budget,
        )
        manifest.save(folder)
        return cls(folder, manifest, writable=True, lock_file=lock)

    @staticmethod
    def open_manifest(path: str | Path) -> Manifest:
        """Read what an index was built with, without opening it."""
        return Manifest.load(Path(path))

    @classmethod
    def open(
        cls,
        path: str | Path,
        embedder: EmbedderInfo | None = None,
        writable: bool = False,
        store: str | None = None,
        mmap: bool = True,
    ) -> Index:
        """Open an existing index. ``embedder``, when given, must be the one it was built with.

        ``store`` overrides where the vectors live (``faiss`` or a ``milvus://`` address): a
        store that does not hold this index yet is filled from the catalog (writable only).
        A read-only open memory-maps the FAISS checkpoint when nothing needs replaying on top,
        unless ``mmap`` is False.
        """
        folder = Path(path)
        manifest = Manifest.load(folder)
        if embedder is not None and embedder != manifest.embedder:
            raise EmbedderMismatchError(
                f"{folder} was built with embedder {manifest.embedder.name} "
                f"(version {manifest.embedder.version}, dim {manifest.embedder.dim}); "
                f"refusing to use {embedder.name} (version {embedder.version}, dim {embedder.dim}): "
                "its vectors are not comparable. Open it with the same embedder or build a new index."
            )
        if store is not None and store != manifest.store:
            parse_store(store)
            manifest = manifest.with_changes(store=store)
        lock = _acquire_lock(folder) if writable else None
        try:
            index = cls(folder, manifest, writable=writable, lock_file=lock, mmap=mmap)
        except BaseException:
            if lock is not None:
                lock.close()
            raise
        index._unsaved = store is not None and store != Manifest.load(folder).store
        return index

    @classmethod
    def open_or_create(
        cls, path: str | Path, embedder: EmbedderInfo, index_factory: str = "auto", store: str | None = None
    ) -> Index:
        if (Path(path) / MANIFEST_NAME).exists():
            return cls.open(path, embedder, writable=True, store=store)
        return cls.create(path, embedder, index_factory, store=store or "faiss")

    def _load_hashes(self) -> tuple[HashIndex, int | None]:
        ckpt = self.manifest.checkpoint
        if ckpt is None:
            return MultiIndexHashIndex(), None
        return MultiIndexHashIndex.read(self.path / ckpt.hashes), ckpt.seq

    def _open_vectors(self, given: VectorStore | None, mmap: bool) -> tuple[VectorStore, int | None]:
        """The vector store and the change number it already holds (None: fill it from the
        catalog)."""
        if given is not None:
            return given, None
        address = parse_store(self.manifest.store)
        ckpt = self.manifest.checkpoint
        if address.kind == "milvus":
            from .milvus import MilvusVectorStore

            milvus = MilvusVectorStore(address, self.manifest.dim, self.manifest.uid, create=self.writable)
            seq = milvus.synced_seq
            if not self.writable:
                return milvus, -1  # readers never write to a shared store; the writer keeps it in sync
            # Changes up to the folder's checkpoint may be pruned: a collection behind it (or
            # ahead of the catalog, from another life) is refilled.
            if seq is None or seq > self.catalog.last_seq() or (ckpt is not None and seq < ckpt.seq):
                milvus.reset()
                return milvus, None
            return milvus, seq
        if ckpt is None or ckpt.vectors is None:
            m = self.manifest
            store = FaissVectorStore(m.dim, m.index_factory, m.search_params)
            if store.is_trained:
                return store, None
            # No checkpoint of a trained index (it lived in another store): retrain from the catalog.
            store, _ = build_store(
                self.manifest.index_factory,
                self.manifest.dim,
                self._catalog_batches,
                self.manifest.train_size or min_training_size(self.manifest.index_factory),
                search_params=self.manifest.search_params,
            )
            return store, self.catalog.last_seq()
        pending = self.catalog.last_seq() > ckpt.seq
        store = FaissVectorStore.read(
            self.path / ckpt.vectors,
            self.manifest.index_factory,
            self.manifest.search_params,
            mmap=mmap and not self.writable and not pending,
        )
        return store, ckpt.seq

    def _replay(self, hash_seq: int | None, vector_seq: int | None) -> int:
        """Bring the indexes from their checkpoints up to the catalog; the catalog's last
        change number. A seq of -1 means the store is not ours to update."""
        last = self.catalog.last_seq()
        if hash_seq is None or vector_seq is None:
            for batch in self.catalog.iter_records():
                ids = np.array([r.iid for r in batch], dtype=np.int64)
                if hash_seq is None:
                    self._hashes.add(ids, np.stack([r.descriptor.phash for r in batch]))
                if vector_seq is None:
                    self._vectors.add(ids, np.stack([r.descriptor.vector for r in batch]))
        for seq, is_hash in ((hash_seq, True), (vector_seq, False)):
            if seq is None or seq < 0 or seq >= last:
                continue
            changed = self.catalog.changed_since(seq)
            records = list(self.catalog.by_iids(changed).values())
            ids = np.array([r.iid for r in records], dtype=np.int64)
            if is_hash:
                self._hashes.remove(np.asarray(changed, dtype=np.int64))
                if records:
                    self._hashes.add(ids, np.stack([r.descriptor.phash for r in records]))
            else:
                self._vectors.remove(np.asarray(changed, dtype=np.int64))
                if records:
                    self._vectors.add(ids, np.stack([r.descriptor.vector for r in records]))
        return last

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
                    f"{item.external_id}: vector of shape {item.descriptor.vector.shape}, "
                    f"index dim {self.manifest.dim}"
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
        """Checkpoint the vector and hash indexes so the next open need not replay. First grow
        an automatic index into a bigger kind, train a waiting factory, or compact tombstones,
        when the catalog calls for it."""
        self._check_writable()
        with self._mutex:
            rebuilt = self._grow_or_compact()
            old = self.manifest.checkpoint
            if old is not None and old.seq == self._seq and not rebuilt and not self._unsaved:
                self._remove_stale_files(old)  # a writer killed mid-save may have left some
                return
            self._write_checkpoint()

    def _write_checkpoint(self) -> None:
        seq = self._seq
        vectors = self._vectors.checkpoint(self.path, seq)
        ckpt = Checkpoint(seq=seq, vectors=vectors, hashes=f"hashes-{seq}.faissb")
        atomic_write(self.path / ckpt.hashes, self._hashes.write)
        self.manifest = self.manifest.with_checkpoint(ckpt)
        self.manifest.save(self.path)
        self._remove_stale_files(ckpt)
        self._unsaved = False
        with self.catalog.transaction():
            self.catalog.prune_changes(ckpt.seq)

    def _remove_stale_files(self, ckpt: Checkpoint) -> None:
        """Delete checkpoint files the manifest no longer names."""
        stale = [
            name
            for name in os.listdir(self.path)
            if name.startswith(("vectors-", "hashes-")) and name not in (ckpt.vectors, ckpt.hashes)
        ]
        for name in stale:
            (self.path / name).unlink(missing_ok=True)
        if stale:
            fsync_dir(self.path)

    def _grow_or_compact(self) -> bool:
        """Rebuild the FAISS index when the catalog calls for it; whether it did."""
        if not isinstance(self._vectors, FaissVectorStore):
            return False
        m = self.manifest
        n = len(self)
        if m.auto_factory:
            choice = choose_index(n, m.dim, m.memory_budget)
            if is_upgrade(m.index_factory, choice.factory):
                self._rebuild(choice.factory, choice.train_size, auto=True)
                return True
        elif m.target_factory is not None and n >= min_training_size(m.target_factory):
            self._rebuild(m.target_factory, min_training_size(m.target_factory), auto=False)
            return True
        if self._vectors.dead_fraction > COMPACT_AT:
            self._rebuild(m.index_factory, m.train_size, auto=m.auto_factory, retune=False)
            return True
        return False

    def rebuild(self, index_factory: str | None = None, memory_budget: int | None = None) -> BuildReport:
        """Rebuild the vector index from the catalog and checkpoint it: retrain, re-tune, drop
        tombstones. ``index_factory`` None keeps the current choice (re-chosen for the
        catalog's size when automatic); ``"auto"`` makes it automatic. With a Milvus store the
        collection is refilled instead."""
        self._check_writable()
        with self._mutex:
            m = self.manifest
            if memory_budget is not None:
                self.manifest = m = m.with_changes(memory_budget=memory_budget)
            report = self._rebuild_vectors(index_factory or ("auto" if m.auto_factory else m.index_factory))
            self._write_checkpoint()
            return report

    def _rebuild_vectors(self, factory: str) -> BuildReport:
        m = self.manifest
        if not isinstance(self._vectors, FaissVectorStore):
            start = time.perf_counter()
            self._vectors.reset()
            with self.catalog.transaction(write=False):
                for ids, vectors in self._catalog_batches():
                    self._vectors.add(ids, vectors)
            return BuildReport(m.store, len(self._vectors), 0, "", None, time.perf_counter() - start)
        auto = factory == "auto"
        if auto:
            choice = choose_index(len(self), m.dim, m.memory_budget)
            factory, train_size = choice.factory, choice.train_size
        else:
            train_size = min_training_size(factory)
        return self._rebuild(factory, train_size, auto=auto)

    def _rebuild(self, factory: str, train_size: int, auto: bool, retune: bool = True) -> BuildReport:
        """Swap in a FAISS index built from the catalog (an exact one while ``factory`` waits
        for enough vectors to train on)."""
        m = self.manifest
        target = None
        if not FaissVectorStore(m.dim, factory).is_trained and len(self) < min_training_size(factory):
            factory, target = _EXACT, factory
        with self.catalog.transaction(write=False):
            store, report = build_store(
                factory,
                m.dim,
                self._catalog_batches,
                train_size,
                recall_target=m.recall_target if retune else None,
                search_params="" if retune else m.search_params,
            )
        self._vectors.close()
        self._vectors = store
        self.manifest = m.with_changes(
            index_factory=factory,
            search_params=store.search_params,
            auto_factory=auto,
            target_factory=target,
            train_size=report.train_size,
            tuned_recall=report.tuning.recall if report.tuning else (None if retune else m.tuned_recall),
        )
        return report

    def tune(self, recall_target: float | None = None) -> Tuning:
        """Re-tune the FAISS index's search parameters to ``recall_target`` (default: the
        manifest's) on a sample of the catalog, without rebuilding, and record them."""
        self._check_writable()
        with self._mutex:
            if not isinstance(self._vectors, FaissVectorStore):
                raise IndexStoreError(f"{self.manifest.store}: only a FAISS index is tuned by lookalike")
            target = recall_target if recall_target is not None else self.manifest.recall_target
            with self.catalog.transaction(write=False):
                query_ids, queries = sample_rows(self._catalog_batches, TUNING_QUERIES, seed=1)
                tuning = tune(self._vectors, query_ids, queries, self._catalog_batches(), target)
            self.manifest = self.manifest.with_changes(
                search_params=tuning.search_params, recall_target=target, tuned_recall=tuning.recall
            )
            self.manifest.save(self.path)
            return tuning

    def _catalog_batches(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for batch in self.catalog.iter_records(batch=10_000):
            yield (
                np.array([r.iid for r in batch], dtype=np.int64),
                np.stack([r.descriptor.vector for r in batch]),
            )

    # -- reading -----------------------------------------------------------------------

    def candidates(self, query: Descriptor, k: int) -> list[Record]:
        """Union of the ``k`` nearest by vector and the ``k`` nearest by (mirror-aware) hash."""
        with self._mutex:
            if not len(self._hashes):
                return []
            _, vec_ids = self._vectors.search(query.vector[None, :], k)
            _, hash_ids = self._hashes.search(np.stack([query.phash, query.phash_mirror]), k)
            iids = np.unique(np.concatenate([vec_ids.ravel(), hash_ids.ravel()]))
            records = self.catalog.by_iids([int(i) for i in iids if i >= 0])
        return list(records.values())

    @property
    def vectors(self) -> VectorStore:
        """The vector store in use (FAISS or Milvus), for inspection and benchmarks."""
        return self._vectors

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
            m = self.manifest
            ckpt = m.checkpoint
            size = sum(p.stat().st_size for p in self.path.iterdir() if p.is_file())
            return IndexStats(
                path=str(self.path),
                images=self.catalog.count(),
                vectors=len(self._vectors),
                hashes=len(self._hashes),
                embedder=m.embedder,
                index_factory=m.index_factory,
                search_params=m.search_params,
                checkpoint_seq=ckpt.seq if ckpt else 0,
                pending_changes=self._seq - (ckpt.seq if ckpt else 0),
                bytes_on_disk=size,
                created_at=m.created_at,
                updated_at=m.updated_at,
                store=m.store,
                auto_factory=m.auto_factory,
                target_factory=m.target_factory,
                train_size=m.train_size,
                tuned_recall=m.tuned_recall,
                memory_mapped=isinstance(self._vectors, FaissVectorStore) and self._vectors.mapped,
            )

    def close(self) -> None:
        with self._mutex:
            self._vectors.close()
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
            f"{folder}: another process is writing to this index (lookalike ingest or serve); "
            "try again when it ends"
        ) from None
    return handle
