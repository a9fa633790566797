"""The index manifest: what wrote the index and how to read it, in one JSON file.

The FAISS factory string and search-parameter string name the whole vector index (no
hidden switches); ``checkpoint`` names the saved vector and hash files and the catalog
change sequence number they include.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..embed.base import EmbedderInfo
from ..errors import IndexCorruptError, IndexNotFoundError
from .atomic import atomic_write_bytes

__all__ = ["FORMAT_VERSION", "HASH_TYPE", "MANIFEST_NAME", "Checkpoint", "Manifest", "now_iso"]

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
HASH_TYPE = "phash64+mirror"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    vectors: str
    hashes: str


@dataclass(frozen=True)
class Manifest:
    embedder: EmbedderInfo
    index_factory: str = "IDMap2,Flat"
    search_params: str = ""
    metric: str = "inner_product"
    hash_type: str = HASH_TYPE
    store: str = "faiss"
    format_version: int = FORMAT_VERSION
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)
    checkpoint: Checkpoint | None = None

    @property
    def dim(self) -> int:
        return self.embedder.dim

    def with_checkpoint(self, checkpoint: Checkpoint) -> Manifest:
        return replace(self, checkpoint=checkpoint, updated_at=now_iso())

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
            data = json.loads(path.read_text())
            if data["format_version"] != FORMAT_VERSION:
                raise IndexCorruptError(
                    f"{folder}: index format {data['format_version']} is not {FORMAT_VERSION}; "
                    "rebuild it with this version of lookalike"
                )
            data.pop("dim", None)
            data["embedder"] = EmbedderInfo(**data["embedder"])
            if data.get("checkpoint"):
                data["checkpoint"] = Checkpoint(**data["checkpoint"])
            return cls(**data)
        except (ValueError, KeyError, TypeError) as exc:
            raise IndexCorruptError(f"{path}: unreadable manifest: {exc}") from exc
