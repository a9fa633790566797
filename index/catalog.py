"""The SQLite catalog: the durable record of every reference image.

It is the source of truth. Each row keeps the external id, provenance, size, free-form
metadata and the descriptor itself; every insert or delete also appends to ``changes``
in the same transaction. The vector and hash indexes are checkpoints of this table and
are brought up to date on open by replaying ``changes`` after their checkpoint, so a
crash at any moment loses nothing that was committed.

One connection writes (the index's single writer, in its transactions); every other thread
reads through a connection of its own, so that searches read in parallel with each other and
with a write in progress (WAL: they see the last committed state). The writer's own thread
reads through the write connection while it holds a transaction, and so sees its batch.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..embed.descriptor import Descriptor, LocalFeatures
from ..errors import IndexCorruptError, ItemNotFoundError

__all__ = ["CATALOG_NAME", "Catalog", "NewItem", "Record", "VectorBatch"]

CATALOG_NAME = "catalog.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    iid INTEGER PRIMARY KEY AUTOINCREMENT,
    external_id TEXT NOT NULL UNIQUE,
    source TEXT,
    sha256 TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    added_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    metadata TEXT NOT NULL DEFAULT '{}',
    vector BLOB NOT NULL,
    phash BLOB NOT NULL,
    phash_mirror BLOB NOT NULL,
    local BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS images_sha256 ON images (sha256);
CREATE TABLE IF NOT EXISTS changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, iid INTEGER NOT NULL);
"""
_COLUMNS = (
    "iid, external_id, source, sha256, width, height, added_at, metadata, vector, phash, phash_mirror, local"
)


@dataclass(frozen=True)
class NewItem:
    """One image to add: its id, descriptor and what is known of its bytes."""

    external_id: str
    descriptor: Descriptor
    sha256: str
    width: int
    height: int
    source: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class VectorBatch:
    """What rebuilding an index needs of a run of catalog rows: ids, vectors, hashes."""

    ids: np.ndarray  # [n] int64
    vectors: np.ndarray  # [n, dim] float32
    #: [n, 8] uint8 pHashes, when asked for.
    phashes: np.ndarray | None = None


@dataclass(frozen=True)
class Record:
    """One stored reference image."""

    iid: int
    external_id: str
    source: str | None
    sha256: str
    width: int
    height: int
    added_at: str
    metadata: dict[str, Any]
    descriptor: Descriptor


def _record(row: sqlite3.Row) -> Record:
    return Record(
        iid=row["iid"],
        external_id=row["external_id"],
        source=row["source"],
        sha256=row["sha256"],
        width=row["width"],
        height=row["height"],
        added_at=row["added_at"],
        metadata=json.loads(row["metadata"]),
        descriptor=Descriptor(
            vector=np.frombuffer(row["vector"], dtype=np.float32),
            phash=np.frombuffer(row["phash"], dtype=np.uint8),
            phash_mirror=np.frombuffer(row["phash_mirror"], dtype=np.uint8),
            local=LocalFeatures.from_bytes(row["local"]),
        ),
    )


def _vector_batch(rows: list[sqlite3.Row], phashes: bool) -> VectorBatch:
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
    hashes = (
        np.frombuffer(b"".join(r[2] for r in rows), dtype=np.uint8).reshape(len(rows), -1)
        if phashes
        else None
    )
    return VectorBatch(ids, vectors, hashes)


class Catalog:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._db = self._connect()
        try:
            # FULL: a batch that ingest reported as committed survives power loss too.
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise IndexCorruptError(f"{path}: cannot open catalog: {exc}") from exc
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        #: The thread inside :meth:`transaction`, which reads through the write connection.
        self._owner: int | None = None

    def _connect(self) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA busy_timeout=10000")
        except sqlite3.DatabaseError as exc:
            raise IndexCorruptError(f"{self._path}: cannot open catalog: {exc}") from exc
        return db

    @property
    def _read(self) -> sqlite3.Connection:
        """The connection this thread reads through."""
        if self._owner == threading.get_ident():
            return self._db
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = self._connect()
            with self._readers_lock:
                self._readers.append(db)
        return db

    def close(self) -> None:
        with self._readers_lock:
            for db in self._readers:
                db.close()
            self._readers.clear()
        self._db.close()

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[None]:
        """One atomic unit (a snapshot when reading)."""
        self._db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        self._owner = threading.get_ident()
        try:
            yield
        except BaseException:
            self._owner = None
            self._db.execute("ROLLBACK")
            raise
        self._owner = None
        self._db.execute("COMMIT")

    def insert(self, item: NewItem) -> int:
        d = item.descriptor
        cur = self._db.execute(
            "INSERT INTO images (external_id, source, sha256, width, height, metadata, vector, phash,"
            " phash_mirror, local) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                item.external_id,
                item.source,
                item.sha256,
                item.width,
                item.height,
                json.dumps(item.metadata, sort_keys=True),
                np.ascontiguousarray(d.vector, dtype=np.float32).tobytes(),
                d.phash.tobytes(),
                d.phash_mirror.tobytes(),
                d.local.to_bytes(),
            ),
        )
        iid = int(cur.lastrowid or 0)
        self._db.execute("INSERT INTO changes (iid) VALUES (?)", (iid,))
        return iid

    def delete(self, external_id: str) -> int | None:
        """Delete one image; its internal id, or None when there was none."""
        row = self._db.execute("SELECT iid FROM images WHERE external_id = ?", (external_id,)).fetchone()
        if row is None:
            return None
        self._db.execute("DELETE FROM images WHERE iid = ?", (row["iid"],))
        self._db.execute("INSERT INTO changes (iid) VALUES (?)", (row["iid"],))
        return int(row["iid"])

    def get(self, external_id: str) -> Record:
        row = self._read.execute(
            f"SELECT {_COLUMNS} FROM images WHERE external_id = ?", (external_id,)
        ).fetchone()
        if row is None:
            raise ItemNotFoundError(f"no image with id {external_id!r} in the index")
        return _record(row)

    def exists(self, external_id: str) -> bool:
        row = self._read.execute("SELECT 1 FROM images WHERE external_id = ?", (external_id,)).fetchone()
        return row is not None

    def find_sha256(self, sha256: str) -> Record | None:
        row = self._read.execute(
            f"SELECT {_COLUMNS} FROM images WHERE sha256 = ? ORDER BY iid LIMIT 1", (sha256,)
        ).fetchone()
        return None if row is None else _record(row)

    def with_id_prefix(self, prefix: str) -> list[Record]:
        """Every record whose external id starts with ``prefix`` (a range scan on the id's
        unique index), in id order; a video's frames are ``<video id>#t=<seconds>``."""
        if not prefix:
            raise ValueError("empty prefix")
        upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        rows = self._read.execute(
            f"SELECT {_COLUMNS} FROM images WHERE external_id >= ? AND external_id < ? ORDER BY external_id",
            (prefix, upper),
        )
        return [_record(row) for row in rows]

    def by_iids(self, iids: Sequence[int]) -> dict[int, Record]:
        out: dict[int, Record] = {}
        for start in range(0, len(iids), 500):
            chunk = [int(i) for i in iids[start : start + 500]]
            marks = ",".join("?" * len(chunk))
            for row in self._read.execute(f"SELECT {_COLUMNS} FROM images WHERE iid IN ({marks})", chunk):
                out[row["iid"]] = _record(row)
        return out

    def iter_records(self, after_iid: int = 0, batch: int = 1000) -> Iterator[list[Record]]:
        """All records in id order, a batch at a time."""
        while True:
            rows = self._read.execute(
                f"SELECT {_COLUMNS} FROM images WHERE iid > ? ORDER BY iid LIMIT ?", (after_iid, batch)
            ).fetchall()
            if not rows:
                return
            yield [_record(r) for r in rows]
            after_iid = rows[-1]["iid"]

    def iter_vectors(
        self, iids: Sequence[int] | None = None, batch: int = 10_000, phashes: bool = False
    ) -> Iterator[VectorBatch]:
        """The vectors (and pHashes, when asked) of every image, or of those of ``iids`` that
        exist, in id order, a batch at a time: only those columns are read and decoded."""
        columns = "iid, vector, phash" if phashes else "iid, vector"
        if iids is not None:
            wanted = sorted(int(i) for i in iids)
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._read.execute(
                    f"SELECT {columns} FROM images WHERE iid IN ({marks}) ORDER BY iid", chunk
                ).fetchall()
                if rows:
                    yield _vector_batch(rows, phashes)
            return
        after = 0
        while True:
            rows = self._read.execute(
                f"SELECT {columns} FROM images WHERE iid > ? ORDER BY iid LIMIT ?", (after, batch)
            ).fetchall()
            if not rows:
                return
            yield _vector_batch(rows, phashes)
            after = rows[-1][0]

    def count(self) -> int:
        return int(self._read.execute("SELECT COUNT(*) FROM images").fetchone()[0])

    def last_seq(self) -> int:
        """Number of the last change ever made (pruning old changes does not lower it)."""
        row = self._read.execute("SELECT seq FROM sqlite_sequence WHERE name = 'changes'").fetchone()
        return int(row[0]) if row else 0

    def changed_since(self, seq: int) -> list[int]:
        rows = self._read.execute("SELECT DISTINCT iid FROM changes WHERE seq > ?", (seq,)).fetchall()
        return [int(r[0]) for r in rows]

    def prune_changes(self, upto_seq: int) -> None:
        self._db.execute("DELETE FROM changes WHERE seq <= ?", (upto_seq,))

    def connection(self, write: bool = False) -> sqlite3.Connection:
        """The writer's connection (use it inside :meth:`transaction`), or the one this thread
        reads through: for tables kept beside ``images`` in the same file (thumbnails)."""
        return self._db if write else self._read
