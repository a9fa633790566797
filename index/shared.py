"""The shared catalog: everything a service replica needs, in one Milvus server.

With ``--store milvus://host:port[/name]`` (a server, not a Milvus Lite file) the catalog
lives in four collections of that server: ``<name>_catalog`` (the rows, their pHashes as
binary vectors for the hash channel, what the scorer re-scores with, thumbnails, and the
manifest as a property; :mod:`~lookalike.index.milvus_catalog`), ``<name>_vectors`` (the
SSCD vectors; :class:`~lookalike.index.milvus.MilvusVectorStore`) and ``<name>_feedback`` /
``<name>_disabled`` (reviewers' decisions; :mod:`~lookalike.index.milvus_review`). The index
folder keeps only a copy of the manifest. Any number of replicas open the same name and
serve, write and review the same catalog; none holds a lock.

Writes: a row's id is a 63-bit hash of its external id, so re-ingesting an id overwrites
its rows in place (Milvus upserts by primary key), from any replica, and replaying a write
is harmless. ``add`` writes the vectors, then the catalog rows, and returns only when
Milvus has acknowledged both (acknowledged writes are in the server's write-ahead log): a
replica killed mid-batch loses nothing it acknowledged, and at worst leaves vectors without
a row, which searches drop. ``delete`` removes the row first, then the vector.

Visibility: every query and search runs at the address's consistency level, ``Strong`` by
default, under which a search issued after a write was acknowledged (by any replica) sees
it; ``Bounded`` lets a replica lag by up to the server's ``common.gracefulTime`` (5 s by
default) for faster searches.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from ..embed.base import EmbedderInfo
from ..embed.descriptor import Descriptor
from ..errors import EmbedderMismatchError, IndexNotFoundError, IndexStoreError, ItemNotFoundError
from .base import BuildReport, Tuning, VectorStore
from .catalog import CATALOG_NAME, NewItem, Record
from .feedback import FeedbackRecord, Verdict
from .folder import bytes_on_disk
from .manifest import Manifest
from .milvus import MilvusVectorStore
from .milvus_catalog import MilvusCatalog, in_list, quoted
from .milvus_client import MilvusConnection
from .milvus_review import MilvusReview
from .reference import ReferenceIndex
from .results import AddResult, IndexStats
from .uri import StoreAddress

__all__ = ["DEFAULT_NAME", "SharedIndex", "row_id"]

#: The collections' name prefix when the address names none.
DEFAULT_NAME = "lookalike"


def row_id(external_id: str) -> int:
    """The row id of ``external_id``: the same in every replica (63 bits, non-negative)."""
    return int.from_bytes(hashlib.blake2b(external_id.encode(), digest_size=8).digest(), "big") >> 1


class SharedIndex(ReferenceIndex):
    """A catalog in a Milvus server. Use :meth:`open`."""

    def __init__(
        self,
        path: Path,
        manifest: Manifest,
        writable: bool,
        conn: MilvusConnection,
        catalog: MilvusCatalog,
        review: MilvusReview,
        vectors: MilvusVectorStore,
    ) -> None:
        self.path = path
        self.manifest = manifest
        self.writable = writable
        self._conn = conn
        self._catalog = catalog
        self._review = review
        self._vectors = vectors
        #: Runs the hash search beside the vector search.
        self._side = ThreadPoolExecutor(max_workers=4, thread_name_prefix="lookalike-hash-search")
        conn.on_reconnect = self._reload

    @classmethod
    def open(
        cls,
        path: str | Path,
        address: StoreAddress,
        embedder: EmbedderInfo | None,
        writable: bool,
        create: bool,
    ) -> SharedIndex:
        """Join the catalog ``address`` names, or (``create``, with ``embedder``) start it."""
        folder = Path(path)
        name = address.options.get("collection", DEFAULT_NAME)
        consistency = address.options.get("consistency", "Strong")
        conn = MilvusConnection(address)
        try:
            manifest = cls._shared_manifest(conn, name, consistency)
            if manifest is None:
                if not create or embedder is None:
                    raise IndexNotFoundError(f"no shared catalog {name!r} at {address.text}")
                if (folder / CATALOG_NAME).exists():
                    raise IndexStoreError(
                        f"{folder} holds a local catalog; a shared catalog starts from an empty folder "
                        "(ingest the images again through a replica)"
                    )
                manifest = cls._start(
                    conn, name, consistency, Manifest(embedder=embedder, store=address.text)
                )
            if embedder is not None and embedder != manifest.embedder:
                raise EmbedderMismatchError(
                    f"the shared catalog {name!r} at {address.text} was built with embedder "
                    f"{manifest.embedder.name} (version {manifest.embedder.version}); "
                    f"refusing {embedder.name} (version {embedder.version})"
                )
            catalog = MilvusCatalog(conn, name, manifest.dim, consistency)
            review = MilvusReview(conn, name, manifest.dim, consistency)
            review.create()
            catalog.load()
            vectors = MilvusVectorStore(
                address,
                manifest.dim,
                manifest.uid,
                create=True,
                connection=conn,
                collection=f"{name}_vectors",
            )
        except BaseException:
            conn.close()
            raise
        local = manifest.with_changes(store=address.text)
        folder.mkdir(parents=True, exist_ok=True)
        local.save(folder)
        return cls(folder, local, writable, conn, catalog, review, vectors)

    @classmethod
    def manifest_at(cls, address: StoreAddress) -> Manifest | None:
        """The manifest of the shared catalog ``address`` names; None when there is none."""
        conn = MilvusConnection(address)
        try:
            name = address.options.get("collection", DEFAULT_NAME)
            return cls._shared_manifest(conn, name, address.options.get("consistency", "Strong"))
        finally:
            conn.close()

    @staticmethod
    def _shared_manifest(conn: MilvusConnection, name: str, consistency: str) -> Manifest | None:
        catalog = MilvusCatalog(conn, name, 0, consistency)
        return catalog.manifest() if catalog.exists() else None

    @staticmethod
    def _start(conn: MilvusConnection, name: str, consistency: str, manifest: Manifest) -> Manifest:
        """Create the catalog collection; when another replica won the race, adopt its."""
        catalog = MilvusCatalog(conn, name, manifest.dim, consistency)
        try:
            catalog.create(manifest)
        except IndexStoreError:
            if not catalog.exists():
                raise
            return catalog.manifest()
        return manifest

    def _reload(self, client: Any) -> None:
        """Before a retry: a restarted server may not have loaded the collections yet."""
        self._catalog.load(client)
        self._review.load(client)
        client.load_collection(self._vectors.collection)

    # -- writing -----------------------------------------------------------------------

    def add(
        self, items: Sequence[NewItem], thumbnails: Sequence[bytes | None] | None = None
    ) -> list[AddResult]:
        self._check_batch(items, thumbnails)
        if not items:
            return []
        ids = [row_id(item.external_id) for item in items]
        held = self._catalog.owners(ids)
        for iid, item in zip(ids, items, strict=True):
            if held.get(iid, item.external_id) != item.external_id:
                raise IndexStoreError(
                    f"ids {item.external_id!r} and {held[iid]!r} share a row id; rename one"
                )
        holders = self._catalog.holders_of_sha256(sorted({i.sha256 for i in items} - {""}))
        results: list[AddResult] = []
        rows: list[dict[str, Any]] = []
        seen: dict[str, str] = {}
        for pos, (iid, item) in enumerate(zip(ids, items, strict=True)):
            others = [e for e in holders.get(item.sha256, []) if e != item.external_id]
            owner = seen.get(item.sha256) or (min(others) if others else None)
            results.append(
                AddResult(
                    item.external_id,
                    iid,
                    replaced=iid in held or any(r.iid == iid for r in results),
                    duplicate_of=owner if owner != item.external_id else None,
                )
            )
            seen.setdefault(item.sha256, item.external_id)
            rows.append(self._catalog.row(iid, item, thumbnails[pos] if thumbnails is not None else None))
        # Last write wins inside the batch too, as in the local catalog.
        last = {row["iid"]: row for row in rows}
        vectors = {iid: item.descriptor.vector for iid, item in zip(ids, items, strict=True)}
        order = list(last)
        self._vectors.add(np.asarray(order, dtype=np.int64), np.stack([vectors[i] for i in order]))
        self._catalog.upsert(list(last.values()))
        return results

    def delete(self, external_ids: Sequence[str]) -> list[str]:
        self._check_writable()
        wanted = set(external_ids)
        held = self._catalog.owners([row_id(e) for e in wanted])
        gone = {ext: iid for iid, ext in held.items() if ext in wanted}
        iids = list(gone.values())
        self._catalog.delete(iids)
        self._vectors.remove(np.asarray(iids, dtype=np.int64))
        return [ext for ext in dict.fromkeys(external_ids) if ext in gone]

    def save(self) -> None:
        """Nothing to do: Milvus keeps every acknowledged write in its write-ahead log."""

    def rebuild(self, index_factory: str | None = None, memory_budget: int | None = None) -> BuildReport:
        """Refill the vector collection from the rows' descriptors."""
        self._check_writable()
        start = time.perf_counter()
        self._vectors.reset()
        for records in self._catalog.iter_records(1000):
            self._vectors.add(
                np.array([r.iid for r in records], dtype=np.int64),
                np.stack([r.descriptor.vector for r in records]),
            )
        seconds = time.perf_counter() - start
        return BuildReport(self.manifest.store, len(self._vectors), 0, "", None, seconds)

    def tune(self, recall_target: float | None = None, params: str | None = None) -> Tuning:
        return self._vectors.tune(lambda: iter(()), recall_target or self.manifest.recall_target, params)

    def set_calibration(self, calibration: dict[str, Any] | None) -> None:
        """Recorded in the shared manifest: replicas started later read it."""
        self._check_writable()
        shared = self._catalog.manifest().with_changes(calibration=calibration)
        self._catalog.set_manifest(shared)
        self.manifest = shared.with_changes(store=self.manifest.store)
        self.manifest.save(self.path)

    def put_thumbnails(self, jpegs: dict[int, bytes]) -> None:
        self._check_writable()
        self._catalog.put_thumbnails(jpegs)

    # -- reading -----------------------------------------------------------------------

    def nearest(
        self, vectors: np.ndarray, hashes: np.ndarray, k: int, skip: Collection[int] = ()
    ) -> list[Record]:
        # The two searches run at once: each waits for the server's time tick under Strong.
        by_hash = self._side.submit(self._catalog.search_hashes, hashes, k) if len(hashes) else None
        _, vec_ids = self._vectors.search(vectors, k)
        found = [vec_ids.ravel()]
        if by_hash is not None:
            found.append(by_hash.result())
        iids = [int(i) for i in np.unique(np.concatenate(found)) if i >= 0 and int(i) not in skip]
        # Vectors whose row is gone (a delete cut short) find no record and drop out here.
        return list(self._catalog.by_iids(iids).values()) if iids else []

    def get(self, external_id: str) -> Record:
        found = self._catalog.records_where(in_list("iid", [row_id(external_id)]))
        if not found or found[0].external_id != external_id:
            raise ItemNotFoundError(f"no image with id {external_id!r} in the index")
        return found[0]

    def records(self, iids: Sequence[int]) -> dict[int, Record]:
        return self._catalog.by_iids(iids)

    def with_id_prefix(self, prefix: str) -> list[Record]:
        if not prefix:
            raise ValueError("empty prefix")
        # Milvus' ``like`` matches a prefix with a trailing %; its own wildcards in the id are
        # taken literally by the startswith check.
        found = self._catalog.records_where(f"external_id like {quoted(prefix + '%')}")
        return sorted((r for r in found if r.external_id.startswith(prefix)), key=lambda r: r.external_id)

    def find_sha256(self, sha256: str) -> Record | None:
        found = self._catalog.records_where(in_list("sha256", [sha256]))
        return min(found, key=lambda r: r.added_at) if found else None

    def iter_records(self, batch: int = 1000) -> Iterator[list[Record]]:
        return self._catalog.iter_records(batch)

    def thumbnail(self, external_id: str) -> bytes | None:
        return self._catalog.thumbnails([self.get(external_id).iid]).get(row_id(external_id))

    def thumbnails(self, iids: Sequence[int]) -> dict[int, bytes]:
        return self._catalog.thumbnails(iids) if iids else {}

    def thumbnail_rows(self, missing_only: bool = True) -> list[int]:
        return sorted(
            int(row["iid"])
            for rows in self._catalog.iter_rows(["thumbnail"], 1000)
            for row in rows
            if not (missing_only and row["thumbnail"])
        )

    def __len__(self) -> int:
        return self._catalog.count()

    def stats(self) -> IndexStats:
        m = self.manifest
        images = self._catalog.count()
        return IndexStats(
            path=str(self.path),
            images=images,
            vectors=len(self._vectors),
            hashes=images,
            embedder=m.embedder,
            index_factory=m.index_factory,
            search_params=m.search_params,
            checkpoint_seq=0,
            pending_changes=0,
            bytes_on_disk=bytes_on_disk(self.path),
            created_at=m.created_at,
            updated_at=m.updated_at,
            store=m.store,
        )

    @property
    def vectors(self) -> VectorStore:
        return self._vectors

    # -- reviewers' decisions ------------------------------------------------------------

    def add_feedback(
        self, reference_id: str, verdict: Verdict, sha256: str, query: Descriptor
    ) -> FeedbackRecord:
        self._check_writable()
        self.get(reference_id)
        return self._review.add(reference_id, verdict, sha256, query)

    def feedback(self, reference_id: str | None = None) -> list[FeedbackRecord]:
        return self._review.list_all(reference_id)

    def remove_feedback(self, feedback_id: int) -> bool:
        self._check_writable()
        return self._review.remove(feedback_id)

    def suppressions(self, external_ids: Sequence[str]) -> dict[str, list[Descriptor]]:
        return self._review.suppressions(external_ids)

    def set_enabled(self, external_ids: Sequence[str], enabled: bool) -> list[str]:
        self._check_writable()
        held = set(self._catalog.owners([row_id(e) for e in external_ids]).values())
        known = [ext for ext in external_ids if ext in held]
        self._review.set_enabled(known, enabled)
        return known

    def disabled(self, external_ids: Sequence[str]) -> set[str]:
        return self._review.disabled_among(external_ids)

    def close(self) -> None:
        self._side.shutdown()
        self._vectors.close()
        self._conn.close()
