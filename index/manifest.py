"""The index manifest: what wrote the index and how to read it, in one JSON file.

The FAISS factory string and search-parameter string name the whole vector index (no
hidden switches); ``auto_factory`` says lookalike chose it from the catalog size and
``memory_budget`` (and may move to a bigger kind as the catalog grows), ``train_size`` how many
catalog vectors its quantizers learned from, ``tuned_recall`` the recall@10 that
``search_params`` reached against exact search when they were tuned. ``store`` is where the
vectors live: ``faiss`` (files in the index folder) or a ``milvus://`` address.
``checkpoint`` names the saved vector and hash files and the catalog change sequence number
they include; its ``vectors`` is None when the store keeps its vectors itself (Milvus).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..embed.base import EmbedderInfo
from ..errors import IndexCorruptError, IndexNotFoundError
from .atomic import atomic_write_bytes

__all__ = [
    "DEFAULT_MEMORY_BUDGET",
    "DEFAULT_RECALL_TARGET",
    "FORMAT_VERSION",
    "HASH_TYPE",
    "MANIFEST_NAME",
    "Checkpoint",
    "Manifest",
    "now_iso",
]

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
HASH_TYPE = "phash64+mirror"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


#: Memory the vector index may use when lookalike picks it (autofaiss's default is 16 GiB).
DEFAULT_MEMORY_BUDGET = 8 << 30
DEFAULT_RECALL_TARGET = 0.95


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    vectors: str | None
    hashes: str


@dataclass(frozen=True)
class Manifest:
    embedder: EmbedderInfo
    index_factory: str = "IDMap2,Flat"
    search_params: str = ""
    metric: str = "inner_product"
    hash_type: str = HASH_TYPE
    store: str = "faiss"
    auto_factory: bool = False
    #: A forced factory that must be trained and waits for enough catalog vectors.
    target_factory: str | None = None
    memory_budget: int = DEFAULT_MEMORY_BUDGET
    train_size: int = 0
    recall_target: float = DEFAULT_RECALL_TARGET
    tuned_recall: float | None = None
    #: Scoring anchors fitted on this catalog (``lookalike calibrate``), as the scorer's
    #: ``Calibration`` fields plus the expected error rates; None: the built-in anchors.
    calibration: dict[str, Any] | None = None
    #: Names this index to a shared vector database, which may hold other indexes' collections.
    uid: str = field(default_factory=lambda: uuid.uuid4().hex)
    format_version: int = FORMAT_VERSION
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)
    checkpoint: Checkpoint | None = None

    @property
    def dim(self) -> int:
        return self.embedder.dim

    def with_checkpoint(self, checkpoint: Checkpoint) -> Manifest:
        return replace(self, checkpoint=checkpoint, updated_at=now_iso())

    def with_changes(self, **changes: Any) -> Manifest:
        return replace(self, **changes, updated_at=now_iso())

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["dim"] = self.dim
        return data

    def save(self, folder: Path) -> None:
        atomic_write_bytes(folder / MANIFEST_NAME, json.dumps(self.to_json(), indent=2).encode())

    @classmethod
    def load(cls, folder: Path) -> Manifest:
        path = folder / MANIFEST_NAME
        if not path.is_file():
            raise IndexNotFoundError(f"{folder}: no lookalike index here ({MANIFEST_NAME} is missing)")
        try:
            return cls.from_json(json.loads(path.read_text()))
        except IndexCorruptError as exc:
            raise IndexCorruptError(f"{folder}: {exc}") from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise IndexCorruptError(f"{path}: unreadable manifest: {exc}") from exc

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        """The manifest :meth:`to_json` wrote (raises ValueError, KeyError or TypeError on a
        malformed one, IndexCorruptError on another format)."""
        if data["format_version"] != FORMAT_VERSION:
            raise IndexCorruptError(
                f"index format {data['format_version']} is not {FORMAT_VERSION}; "
                "rebuild it with this version of lookalike"
            )
        data = dict(data)
        data.pop("dim", None)
        data["embedder"] = EmbedderInfo(**data["embedder"])
        if data.get("checkpoint"):
            data["checkpoint"] = Checkpoint(**data["checkpoint"])
        return cls(**data)
