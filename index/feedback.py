"""Reviewers' decisions, kept in the catalog file beside the images so that they are as
durable as every other write (one SQLite transaction, ``synchronous=FULL``; a SIGKILL leaves
a verdict either recorded or not):

- ``feedback``: a verdict on (query image, reference id). The query is kept as its
  descriptor's vector and hashes (no pixels), so a later query can be compared with it;
  ``not_a_match`` suppresses that reference for the same query or a near-identical copy
  of it, ``confirmed`` is kept as a record for audits and calibration.
- ``disabled``: references taken out of search and gate without being deleted, by external
  id (re-ingesting an id keeps it disabled until it is enabled).

Neither table is part of the vector indexes: they are read at search time.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..embed.descriptor import Descriptor, LocalFeatures

__all__ = [
    "VERDICTS",
    "FeedbackRecord",
    "Verdict",
    "add",
    "disabled_among",
    "ensure_schema",
    "list_all",
    "remove",
    "set_enabled",
    "suppressions",
]

Verdict = Literal["not_a_match", "confirmed"]
VERDICTS: tuple[Verdict, ...] = ("not_a_match", "confirmed")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    fid INTEGER PRIMARY KEY AUTOINCREMENT,
    reference_id TEXT NOT NULL,
    verdict TEXT NOT NULL CHECK (verdict IN ('not_a_match', 'confirmed')),
    query_sha256 TEXT NOT NULL,
    vector BLOB NOT NULL,
    phash BLOB NOT NULL,
    phash_mirror BLOB NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE INDEX IF NOT EXISTS feedback_reference ON feedback (reference_id, verdict);
CREATE TABLE IF NOT EXISTS disabled (
    external_id TEXT PRIMARY KEY,
    disabled_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
"""


@dataclass(frozen=True)
class FeedbackRecord:
    id: int
    reference_id: str
    verdict: Verdict
    query_sha256: str
    created_at: str


def ensure_schema(writer: sqlite3.Connection) -> None:
    writer.executescript(_SCHEMA)


def add(
    writer: sqlite3.Connection, reference_id: str, verdict: Verdict, sha256: str, query: Descriptor
) -> FeedbackRecord:
    """Inside the catalog's write transaction."""
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {VERDICTS}, not {verdict!r}")
    cur = writer.execute(
        "INSERT INTO feedback (reference_id, verdict, query_sha256, vector, phash, phash_mirror)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (
            reference_id,
            verdict,
            sha256,
            np.ascontiguousarray(query.vector, dtype=np.float32).tobytes(),
            query.phash.tobytes(),
            query.phash_mirror.tobytes(),
        ),
    )
    fid = int(cur.lastrowid or 0)
    row = writer.execute("SELECT created_at FROM feedback WHERE fid = ?", (fid,)).fetchone()
    return FeedbackRecord(fid, reference_id, verdict, sha256, str(row[0]))


def list_all(reader: sqlite3.Connection, reference_id: str | None = None) -> list[FeedbackRecord]:
    sql = "SELECT fid, reference_id, verdict, query_sha256, created_at FROM feedback"
    args: tuple[str, ...] = ()
    if reference_id is not None:
        sql += " WHERE reference_id = ?"
        args = (reference_id,)
    return [
        FeedbackRecord(int(r[0]), r[1], r[2], r[3], r[4]) for r in reader.execute(sql + " ORDER BY fid", args)
    ]


def remove(writer: sqlite3.Connection, fid: int) -> bool:
    """Undo one verdict; whether it existed."""
    return writer.execute("DELETE FROM feedback WHERE fid = ?", (fid,)).rowcount > 0


def _chunks(ids: Sequence[str]) -> list[list[str]]:
    return [list(ids[start : start + 500]) for start in range(0, len(ids), 500)]


def suppressions(reader: sqlite3.Connection, reference_ids: Sequence[str]) -> dict[str, list[Descriptor]]:
    """The stored queries judged ``not_a_match`` against each of ``reference_ids``."""
    out: dict[str, list[Descriptor]] = {}
    for chunk in _chunks(reference_ids):
        marks = ",".join("?" * len(chunk))
        rows = reader.execute(
            "SELECT reference_id, vector, phash, phash_mirror FROM feedback"
            f" WHERE verdict = 'not_a_match' AND reference_id IN ({marks})",
            chunk,
        )
        for ref, vector, phash, mirror in rows:
            out.setdefault(ref, []).append(
                Descriptor(
                    np.frombuffer(vector, dtype=np.float32),
                    np.frombuffer(phash, dtype=np.uint8),
                    np.frombuffer(mirror, dtype=np.uint8),
                    LocalFeatures.empty(),
                )
            )
    return out


def disabled_among(reader: sqlite3.Connection, external_ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(external_ids):
        marks = ",".join("?" * len(chunk))
        found.update(
            r[0]
            for r in reader.execute(f"SELECT external_id FROM disabled WHERE external_id IN ({marks})", chunk)
        )
    return found


def set_enabled(writer: sqlite3.Connection, external_ids: Sequence[str], enabled: bool) -> None:
    """Inside the catalog's write transaction."""
    for ext in external_ids:
        if enabled:
            writer.execute("DELETE FROM disabled WHERE external_id = ?", (ext,))
        else:
            writer.execute("INSERT OR IGNORE INTO disabled (external_id) VALUES (?)", (ext,))
