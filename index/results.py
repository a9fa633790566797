"""What the index hands back: the outcome of adding an image, and the index's statistics."""

from __future__ import annotations

from dataclasses import dataclass

from ..embed.base import EmbedderInfo

__all__ = ["AddResult", "IndexStats"]


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
