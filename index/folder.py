"""The index folder on disk: its layout, the writer's lock and the checkpoint files.

Layout of an index folder::

    manifest.json          embedder identity, factory string, store, checkpoint pointer
    catalog.sqlite         every image and its descriptor (source of truth, WAL, fsync'd)
    vectors-<seq>.faiss    vector index as of catalog change <seq> (FAISS store only)
    hashes-<seq>.faissb    hash index as of the same change
    .lock                  held by the one process allowed to write

A checkpoint writes new vector and hash files, then switches the manifest to them with one
atomic rename, then deletes the files it no longer names: a SIGKILL at any point leaves the
old checkpoint or the new one, plus at most some stale files the next save removes.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from ..errors import IndexLockedError
from .atomic import atomic_write, fsync_dir
from .base import VectorStore
from .hashindex import HashIndex
from .manifest import Checkpoint, Manifest
from .mih import MultiIndexHashIndex

__all__ = [
    "LOCK_NAME",
    "acquire_lock",
    "bytes_on_disk",
    "load_hashes",
    "remove_stale_files",
    "write_checkpoint",
]

LOCK_NAME = ".lock"
_CHECKPOINT_PREFIXES = ("vectors-", "hashes-")


def acquire_lock(folder: Path) -> IO[bytes]:
    """The writer's lock on ``folder`` (released when the handle is closed or the process dies)."""
    handle = (folder / LOCK_NAME).open("ab")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise IndexLockedError(
            f"{folder}: another process is writing to this index (lookalike ingest or serve); "
            "try again when it ends"
        ) from None
    return handle


def load_hashes(folder: Path, manifest: Manifest) -> tuple[HashIndex, int | None]:
    """The hash index as of the manifest's checkpoint and its change number (None: empty)."""
    ckpt = manifest.checkpoint
    if ckpt is None:
        return MultiIndexHashIndex(), None
    return MultiIndexHashIndex.read(folder / ckpt.hashes), ckpt.seq


def write_checkpoint(
    folder: Path, manifest: Manifest, seq: int, vectors: VectorStore, hashes: HashIndex
) -> Manifest:
    """Checkpoint both indexes as of catalog change ``seq``; the manifest now on disk."""
    ckpt = Checkpoint(seq=seq, vectors=vectors.checkpoint(folder, seq), hashes=f"hashes-{seq}.faissb")
    atomic_write(folder / ckpt.hashes, hashes.write)
    manifest = manifest.with_checkpoint(ckpt)
    manifest.save(folder)
    remove_stale_files(folder, ckpt)
    return manifest


def remove_stale_files(folder: Path, ckpt: Checkpoint) -> None:
    """Delete checkpoint files the manifest no longer names."""
    stale = [
        name
        for name in os.listdir(folder)
        if name.startswith(_CHECKPOINT_PREFIXES) and name not in (ckpt.vectors, ckpt.hashes)
    ]
    for name in stale:
        (folder / name).unlink(missing_ok=True)
    if stale:
        fsync_dir(folder)


def bytes_on_disk(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
