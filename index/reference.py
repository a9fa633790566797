"""What the engine, the service and the CLI ask of a reference catalog, whoever keeps it.

Two classes answer it: :class:`~lookalike.index.store.Index`, the catalog in a local folder
(SQLite, the hash index and the vector store's checkpoints, one writing process), and
:class:`~lookalike.index.shared.SharedIndex`, the catalog in a Milvus server that any number
of service replicas read and write (the folder then keeps only a copy of the manifest).
:func:`lookalike.index.opener.open_index` picks one by the ``--store`` address; nothing above
the index layer knows which it has. ``tests/test_reference_index.py`` runs both through the
same behaviours.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..embed.descriptor import Descriptor
from ..errors import EmbedderMismatchError, IndexStoreError
from .base import BuildReport, Tuning, VectorStore
from .catalog import NewItem, Record
from .feedback import FeedbackRecord, Verdict
from .manifest import Manifest
from .results import AddResult, IndexStats

__all__ = ["ReferenceIndex"]


class ReferenceIndex(ABC):
    path: Path
    manifest: Manifest
    writable: bool

    # -- writing -----------------------------------------------------------------------

    def _check_writable(self) -> None:
        if not self.writable:
            raise IndexStoreError(f"{self.path} was opened read-only")

    def _check_batch(self, items: Sequence[NewItem], thumbnails: Sequence[bytes | None] | None) -> None:
        """What every catalog refuses before it writes anything of a batch."""
        self._check_writable()
        if thumbnails is not None and len(thumbnails) != len(items):
            raise ValueError(f"{len(thumbnails)} thumbnails for {len(items)} items")
        for item in items:
            if item.descriptor.vector.shape != (self.manifest.dim,):
                raise EmbedderMismatchError(
                    f"{item.external_id}: vector of shape {item.descriptor.vector.shape}, "
                    f"index dim {self.manifest.dim}"
                )

    @abstractmethod
    def add(
        self, items: Sequence[NewItem], thumbnails: Sequence[bytes | None] | None = None
    ) -> list[AddResult]:
        """Add one batch; an existing external id is replaced. ``thumbnails``: one per item
        (or None). When this returns, every item is durable and visible to searches."""

    @abstractmethod
    def delete(self, external_ids: Sequence[str]) -> list[str]:
        """Delete images by external id; the ids that existed."""

    @abstractmethod
    def save(self) -> None:
        """Make the search structures durable, so the next open starts fast."""

    @abstractmethod
    def rebuild(self, index_factory: str | None = None, memory_budget: int | None = None) -> BuildReport:
        """Rebuild the vector index from the catalog."""

    @abstractmethod
    def tune(self, recall_target: float | None = None, params: str | None = None) -> Tuning:
        """Re-tune the vector search parameters to ``recall_target``, or set them to
        ``params`` and measure their recall (FAISS only)."""

    @abstractmethod
    def set_calibration(self, calibration: dict[str, Any] | None) -> None:
        """Record scoring anchors fitted on this catalog (None: back to the built-in ones)."""

    @abstractmethod
    def put_thumbnails(self, jpegs: dict[int, bytes]) -> None:
        """Store thumbnails for existing rows (``lookalike rebuild-thumbnails``)."""

    # -- reading -----------------------------------------------------------------------

    def candidates(self, query: Descriptor, k: int) -> list[Record]:
        """Union of the ``k`` nearest by vector and the ``k`` nearest by (mirror-aware) hash."""
        return self.nearest(query.vector[None, :], np.stack([query.phash, query.phash_mirror]), k)

    @abstractmethod
    def nearest(
        self, vectors: np.ndarray, hashes: np.ndarray, k: int, skip: Collection[int] = ()
    ) -> list[Record]:
        """Union of the ``k`` nearest references of each row of ``vectors`` and of ``hashes``
        (packed pHashes; none: an empty array), leaving out the ids in ``skip``."""

    @abstractmethod
    def get(self, external_id: str) -> Record:
        """One record; :class:`~lookalike.errors.ItemNotFoundError` for an unknown id."""

    @abstractmethod
    def records(self, iids: Sequence[int]) -> dict[int, Record]: ...

    @abstractmethod
    def with_id_prefix(self, prefix: str) -> list[Record]:
        """Records whose external id starts with ``prefix`` (a video's frames), in id order."""

    @abstractmethod
    def find_sha256(self, sha256: str) -> Record | None: ...

    @abstractmethod
    def iter_records(self, batch: int = 1000) -> Iterator[list[Record]]:
        """Every record, a batch at a time."""

    @abstractmethod
    def thumbnail(self, external_id: str) -> bytes | None:
        """The stored thumbnail (JPEG) of an image, None when it has none."""

    @abstractmethod
    def thumbnails(self, iids: Sequence[int]) -> dict[int, bytes]: ...

    @abstractmethod
    def thumbnail_rows(self, missing_only: bool = True) -> list[int]:
        """The rows without a thumbnail (all rows: ``missing_only=False``), in id order."""

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def stats(self) -> IndexStats: ...

    @property
    @abstractmethod
    def vectors(self) -> VectorStore:
        """The vector store in use, for inspection and benchmarks."""

    # -- reviewers' decisions ------------------------------------------------------------

    @abstractmethod
    def add_feedback(
        self, reference_id: str, verdict: Verdict, sha256: str, query: Descriptor
    ) -> FeedbackRecord:
        """Record a verdict on (query, reference); ItemNotFoundError for an unknown id."""

    @abstractmethod
    def feedback(self, reference_id: str | None = None) -> list[FeedbackRecord]: ...

    @abstractmethod
    def remove_feedback(self, feedback_id: int) -> bool:
        """Undo a verdict; whether it existed."""

    @abstractmethod
    def suppressions(self, external_ids: Sequence[str]) -> dict[str, list[Descriptor]]:
        """The queries reviewers judged not a match for each of ``external_ids``."""

    @abstractmethod
    def set_enabled(self, external_ids: Sequence[str], enabled: bool) -> list[str]:
        """Enable or disable references (kept, but never returned); the ids that exist."""

    @abstractmethod
    def disabled(self, external_ids: Sequence[str]) -> set[str]:
        """Which of ``external_ids`` are disabled."""

    # -- lifetime ------------------------------------------------------------------------

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> ReferenceIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
