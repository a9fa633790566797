"""Opening a reference catalog: the local folder's :class:`~lookalike.index.store.Index`, or
the :class:`~lookalike.index.shared.SharedIndex` a Milvus server holds, by the ``--store``
address (given, or recorded in the folder's manifest). The one place that tells them apart.
"""

from __future__ import annotations

from pathlib import Path

from ..embed.base import EmbedderInfo
from .manifest import DEFAULT_MEMORY_BUDGET, MANIFEST_NAME, Manifest
from .reference import ReferenceIndex
from .store import Index
from .uri import StoreAddress, parse_store

__all__ = ["create_index", "open_index", "read_manifest"]


def _shared(path: Path, store: str | None) -> StoreAddress | None:
    """The server address when the catalog is shared, else None."""
    text = store
    if text is None and (path / MANIFEST_NAME).exists():
        text = Manifest.load(path).store
    address = parse_store(text) if text is not None else None
    return address if address is not None and address.is_shared else None


def read_manifest(path: str | Path, store: str | None = None) -> Manifest | None:
    """What the index at ``path`` (or the shared catalog ``store`` names) was built with;
    None when there is no index yet."""
    folder = Path(path)
    address = _shared(folder, store)
    if address is None:
        return Manifest.load(folder) if (folder / MANIFEST_NAME).exists() else None
    from .shared import SharedIndex

    return SharedIndex.manifest_at(address)


def create_index(
    path: str | Path,
    embedder: EmbedderInfo,
    index_factory: str = "auto",
    store: str = "faiss",
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> ReferenceIndex:
    """A new index in ``path``; with a server ``store``, this replica joins (or starts) the
    shared catalog there."""
    address = parse_store(store)
    if address.is_shared:
        from .shared import SharedIndex  # pymilvus is an optional extra

        return SharedIndex.open(path, address, embedder, writable=True, create=True)
    return Index.create(path, embedder, index_factory, store=store, memory_budget=memory_budget)


def open_index(
    path: str | Path,
    embedder: EmbedderInfo | None = None,
    writable: bool = False,
    store: str | None = None,
    mmap: bool = True,
) -> ReferenceIndex:
    """Open an existing index (see :meth:`Index.open`), or join the shared catalog."""
    address = _shared(Path(path), store)
    if address is not None:
        from .shared import SharedIndex

        return SharedIndex.open(path, address, embedder, writable=writable, create=False)
    return Index.open(path, embedder, writable=writable, store=store, mmap=mmap)
