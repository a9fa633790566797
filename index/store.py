"""The index: a reference catalog on disk, searched by vector and by hash, kept consistent.

:class:`Index` is the facade over the pieces: the folder (:mod:`~lookalike.index.folder`:
layout, writer's lock, checkpoint files), the SQLite catalog (the source of truth), the hash
index, and a vector store (:mod:`~lookalike.index.vectors`: FAISS files or a Milvus
collection, peers behind one interface that also owns the store's lifecycle: growth,
training, compaction, tuning). Opening replays catalog changes newer than the checkpoints
(:mod:`~lookalike.index.replay`).

Writes commit to the catalog first (one SQLite transaction per batch), then update the
in-memory indexes; ``save`` lets the store maintain itself, writes new checkpoint files and
switches the manifest to them with one atomic rename. A SIGKILL at any point leaves the index
as it was before or after a committed batch.

Concurrency: one writer at a time (a process-wide file lock, and a mutex inside the process);
searches run in parallel with each other, each on its own SQLite connection. A readers-writer
lock makes a batch's commit and its in-memory update one step to searches, which therefore
see whole batches or none.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..embed.base import EmbedderInfo
from ..embed.descriptor import Descriptor
from ..errors import EmbedderMismatchError, IndexStoreError
from . import feedback as verdicts
from . import thumbnails as thumbs
from .base import BuildReport, Tuning
from .catalog import CATALOG_NAME, Catalog, NewItem, Record
from .faiss_lifecycle import COMPACT_AT, initial_factory
from .faiss_store import single_threaded
from .folder import acquire_lock, bytes_on_disk, load_hashes, remove_stale_files, write_checkpoint
from .manifest import DEFAULT_MEMORY_BUDGET, MANIFEST_NAME, Manifest
from .reference import ReferenceIndex
from .replay import catalog_batches, open_vectors, replay
from .results import AddResult, IndexStats
from .rwlock import ReadWriteLock
from .uri import parse_store
from .vectors import VectorStore

__all__ = ["COMPACT_AT", "AddResult", "Index", "IndexStats"]


class Index(ReferenceIndex):
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
        #: Held by the one thread writing (add, delete, save, rebuild, tune, close).
        self._writer = threading.RLock()
        #: Shared by searches, exclusive while the in-memory indexes change.
        self._rw = ReadWriteLock()
        #: The manifest differs from the one on disk in more than the checkpoint (a new store).
        self._unsaved = False
        self.catalog = Catalog(path / CATALOG_NAME)
        thumbs.ensure_schema(self.catalog.connection(write=True))
        verdicts.ensure_schema(self.catalog.connection(write=True))
        with self.catalog.transaction(write=False):
            self._hashes, hash_seq = load_hashes(path, manifest)
            if vectors is not None:
                self._vectors, vector_seq = vectors, None
            else:
                self._vectors, vector_seq = open_vectors(path, manifest, self.catalog, writable, mmap)
            self._seq = replay(self.catalog, self._hashes, self._vectors, hash_seq, vector_seq)

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
        factory = initial_factory(embedder.dim, index_factory, search_params)
        folder.mkdir(parents=True, exist_ok=True)
        lock = acquire_lock(folder)
        manifest = Manifest(embedder=embedder, store=store, memory_budget=memory_budget, **factory)
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
        lock = acquire_lock(folder) if writable else None
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

    # -- writing -----------------------------------------------------------------------

    def add(
        self, items: Sequence[NewItem], thumbnails: Sequence[bytes | None] | None = None
    ) -> list[AddResult]:
        """Add one batch atomically. An existing external id is replaced. ``thumbnails``, one
        per item (or None), are stored in the same transaction."""
        self._check_batch(items, thumbnails)
        with self._writer, ExitStack() as searches_wait:
            results, removed = [], []
            with self.catalog.transaction():
                for pos, item in enumerate(items):
                    old = self.catalog.delete(item.external_id)
                    if old is not None:
                        removed.append(old)
                    dup = self.catalog.find_sha256(item.sha256)
                    iid = self.catalog.insert(item)
                    jpeg = thumbnails[pos] if thumbnails is not None else None
                    if jpeg is not None:
                        thumbs.put(self.catalog.connection(write=True), iid, jpeg)
                    results.append(
                        AddResult(
                            item.external_id,
                            iid,
                            replaced=old is not None,
                            duplicate_of=dup.external_id if dup else None,
                        )
                    )
                seq = self.catalog.last_seq()
                # Searches wait from the commit to the end of the in-memory update.
                searches_wait.enter_context(self._rw.exclusive())
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
        with self._writer, ExitStack() as searches_wait:
            deleted, iids = [], []
            with self.catalog.transaction():
                for ext in external_ids:
                    iid = self.catalog.delete(ext)
                    if iid is not None:
                        deleted.append(ext)
                        iids.append(iid)
                seq = self.catalog.last_seq()
                searches_wait.enter_context(self._rw.exclusive())
            ids = np.asarray(iids, dtype=np.int64)
            self._vectors.remove(ids)
            self._hashes.remove(ids)
            self._seq = seq
        return deleted

    def save(self) -> None:
        """Checkpoint the vector and hash indexes so the next open need not replay. First let
        the vector store maintain itself (grow an automatic FAISS index into a bigger kind,
        train a waiting factory, compact tombstones) when the catalog calls for it."""
        self._check_writable()
        with self._writer:
            with self._rw.exclusive(), self.catalog.transaction(write=False):
                changes = self._vectors.maintain(
                    catalog_batches(self.catalog), self.catalog.count(), self.manifest
                )
                if changes is not None:
                    self.manifest = self.manifest.with_changes(**changes)
            old = self.manifest.checkpoint
            if old is not None and old.seq == self._seq and changes is None and not self._unsaved:
                remove_stale_files(self.path, old)  # a writer killed mid-save may have left some
                return
            self._write_checkpoint()

    def _write_checkpoint(self) -> None:
        # The in-memory indexes only change under self._writer, which the caller holds:
        # searches go on while they are written out.
        self.manifest = write_checkpoint(self.path, self.manifest, self._seq, self._vectors, self._hashes)
        self._unsaved = False
        with self.catalog.transaction():
            self.catalog.prune_changes(self._seq)

    def rebuild(self, index_factory: str | None = None, memory_budget: int | None = None) -> BuildReport:
        """Rebuild the vector index from the catalog and checkpoint it: retrain, re-tune, drop
        tombstones. ``index_factory`` None keeps the current choice (re-chosen for the
        catalog's size when automatic); ``"auto"`` makes it automatic. With a Milvus store the
        collection is refilled instead."""
        self._check_writable()
        with self._writer:
            m = self.manifest
            if memory_budget is not None:
                self.manifest = m = m.with_changes(memory_budget=memory_budget)
            factory = index_factory or ("auto" if m.auto_factory else m.index_factory)
            with self._rw.exclusive(), self.catalog.transaction(write=False):
                batches = catalog_batches(self.catalog)
                report, changes = self._vectors.rebuild(batches, self.catalog.count(), m, factory)
                self.manifest = m.with_changes(**changes)
            self._write_checkpoint()
            return report

    def tune(self, recall_target: float | None = None, params: str | None = None) -> Tuning:
        """Re-tune the vector store's search parameters to ``recall_target`` (default: the
        manifest's) on a sample of the catalog, without rebuilding, and record them; with
        ``params``, record those and measure their recall."""
        self._check_writable()
        with self._writer:
            target = recall_target if recall_target is not None else self.manifest.recall_target
            with self._rw.exclusive(), self.catalog.transaction(write=False):
                tuning = self._vectors.tune(catalog_batches(self.catalog), target, params)
            self.manifest = self.manifest.with_changes(
                search_params=tuning.search_params, recall_target=target, tuned_recall=tuning.recall
            )
            self.manifest.save(self.path)
            return tuning

    def set_calibration(self, calibration: dict[str, Any] | None) -> None:
        """Record scoring anchors fitted on this catalog (None: back to the built-in ones)."""
        self._check_writable()
        with self._writer:
            self.manifest = self.manifest.with_changes(calibration=calibration)
            self.manifest.save(self.path)

    # -- reading -----------------------------------------------------------------------

    def nearest(
        self, vectors: np.ndarray, hashes: np.ndarray, k: int, skip: Collection[int] = ()
    ) -> list[Record]:
        """Union of the ``k`` nearest references of each row of ``vectors`` and of ``hashes``
        (packed pHashes; none: an empty array), leaving out the ids in ``skip``."""
        with self._rw.shared(), single_threaded():
            if not len(self._hashes):
                return []
            _, vec_ids = self._vectors.search(vectors, k)
            found = [vec_ids.ravel()]
            if len(hashes):
                found.append(self._hashes.search(hashes, k)[1].ravel())
            iids = np.unique(np.concatenate(found))
            records = self.catalog.by_iids([int(i) for i in iids if i >= 0 and int(i) not in skip])
        return list(records.values())

    def thumbnail(self, external_id: str) -> bytes | None:
        """The stored thumbnail (JPEG) of an image, None when it has none; raises
        :class:`~lookalike.errors.ItemNotFoundError` for an unknown id."""
        with self._rw.shared():
            iid = self.catalog.get(external_id).iid
            return thumbs.get(self.catalog.connection(), iid)

    def thumbnails(self, iids: Sequence[int]) -> dict[int, bytes]:
        """The thumbnails of the rows ``iids`` (records' ``iid``) that have one."""
        with self._rw.shared():
            return thumbs.get_many(self.catalog.connection(), iids)

    def thumbnail_rows(self, missing_only: bool = True) -> list[int]:
        """The rows without a thumbnail (all rows: ``missing_only=False``), in id order."""
        with self._rw.shared():
            return thumbs.row_ids(self.catalog.connection(), missing_only)

    def records(self, iids: Sequence[int]) -> dict[int, Record]:
        with self._rw.shared():
            return self.catalog.by_iids(iids)

    def iter_records(self, batch: int = 1000) -> Iterator[list[Record]]:
        return self.catalog.iter_records(batch=batch)

    def put_thumbnails(self, jpegs: dict[int, bytes]) -> None:
        """Store thumbnails for existing rows (``lookalike rebuild-thumbnails``)."""
        self._check_writable()
        with self._writer, self.catalog.transaction():
            for iid, jpeg in jpegs.items():
                thumbs.put(self.catalog.connection(write=True), iid, jpeg)

    # -- reviewers' decisions (index/feedback.py) ---------------------------------------

    def add_feedback(
        self, reference_id: str, verdict: verdicts.Verdict, sha256: str, query: Descriptor
    ) -> verdicts.FeedbackRecord:
        """Record a verdict on (query, reference); raises ItemNotFoundError for an unknown id."""
        self._check_writable()
        with self._writer, self.catalog.transaction():
            self.catalog.get(reference_id)
            return verdicts.add(self.catalog.connection(write=True), reference_id, verdict, sha256, query)

    def feedback(self, reference_id: str | None = None) -> list[verdicts.FeedbackRecord]:
        return verdicts.list_all(self.catalog.connection(), reference_id)

    def remove_feedback(self, feedback_id: int) -> bool:
        """Undo a verdict; whether it existed."""
        self._check_writable()
        with self._writer, self.catalog.transaction():
            return verdicts.remove(self.catalog.connection(write=True), feedback_id)

    def suppressions(self, external_ids: Sequence[str]) -> dict[str, list[Descriptor]]:
        """The queries reviewers judged not a match for each of ``external_ids``."""
        return verdicts.suppressions(self.catalog.connection(), external_ids)

    def set_enabled(self, external_ids: Sequence[str], enabled: bool) -> list[str]:
        """Enable or disable references (kept, but never returned); the ids that exist."""
        self._check_writable()
        with self._writer, self.catalog.transaction():
            known = [ext for ext in external_ids if self.catalog.exists(ext)]
            verdicts.set_enabled(self.catalog.connection(write=True), known, enabled)
        return known

    def disabled(self, external_ids: Sequence[str]) -> set[str]:
        """Which of ``external_ids`` are disabled."""
        return verdicts.disabled_among(self.catalog.connection(), external_ids)

    @property
    def vectors(self) -> VectorStore:
        """The vector store in use (FAISS or Milvus), for inspection and benchmarks."""
        return self._vectors

    def get(self, external_id: str) -> Record:
        with self._rw.shared():
            return self.catalog.get(external_id)

    def with_id_prefix(self, prefix: str) -> list[Record]:
        """Records whose external id starts with ``prefix`` (a video's frames)."""
        with self._rw.shared():
            return self.catalog.with_id_prefix(prefix)

    def find_sha256(self, sha256: str) -> Record | None:
        with self._rw.shared():
            return self.catalog.find_sha256(sha256)

    def __len__(self) -> int:
        with self._rw.shared():
            return self.catalog.count()

    def stats(self) -> IndexStats:
        with self._rw.shared():
            m = self.manifest
            ckpt = m.checkpoint
            store = self._vectors.stats()
            return IndexStats(
                path=str(self.path),
                images=self.catalog.count(),
                vectors=store.vectors,
                hashes=len(self._hashes),
                embedder=m.embedder,
                index_factory=m.index_factory,
                search_params=m.search_params,
                checkpoint_seq=ckpt.seq if ckpt else 0,
                pending_changes=self._seq - (ckpt.seq if ckpt else 0),
                bytes_on_disk=bytes_on_disk(self.path),
                created_at=m.created_at,
                updated_at=m.updated_at,
                store=m.store,
                auto_factory=m.auto_factory,
                target_factory=m.target_factory,
                train_size=m.train_size,
                tuned_recall=m.tuned_recall,
                memory_mapped=store.memory_mapped,
            )

    def close(self) -> None:
        with self._writer, self._rw.exclusive():
            self._vectors.close()
            self.catalog.close()
            if self._lock_file is not None:
                self._lock_file.close()
                self._lock_file = None
