"""The Milvus vector store: the same interface as the FAISS store, vectors kept by Milvus.

One collection per index, with two fields (``iid``, the catalog's int64 id, and ``vector``)
and three properties: ``lookalike.uid`` (which index owns it), ``lookalike.dim`` and
``lookalike.seq``, the catalog change number the collection is known to hold. The catalog
stays the source of truth: on open, the index replays into Milvus only the changes after
``lookalike.seq`` (writes are upserts and deletes by id, so replaying twice is harmless).

Milvus Lite (a local file) and a server or cluster are the same code; only the address
differs (see :mod:`lookalike.index.uri`). Milvus searches only a loaded collection, and a
collection is released when the process that loaded it ends (Milvus Lite) or by an operator:
the store loads it whenever it opens it, so that every process can search.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ..errors import EmbedderMismatchError, IndexStoreError
from .base import VectorStore
from .manifest import Manifest
from .milvus_client import SLOW_CALL_TIMEOUT, TOKEN_ENV, MilvusConnection
from .uri import StoreAddress

__all__ = ["TOKEN_ENV", "MilvusVectorStore"]

_BATCH = 1000
_BUILD_OPTIONS = {"M": int, "efConstruction": int, "nlist": int}
_SEARCH_OPTIONS = {"ef": int, "nprobe": int}
T = TypeVar("T")


class MilvusVectorStore(VectorStore):
    def __init__(
        self,
        address: StoreAddress,
        dim: int,
        uid: str,
        create: bool,
        connection: MilvusConnection | None = None,
        collection: str | None = None,
    ) -> None:
        """``connection``: one to share (the shared catalog's); ``collection``: a name other
        than the address's (default ``lookalike_<uid>``)."""
        self.dim = dim
        self.address = address
        self.collection = collection or address.options.get("collection", f"lookalike_{uid}")
        self._uid = uid
        self._consistency = address.options.get("consistency", "Strong")
        self._search_params = {
            key: conv(address.options[key]) for key, conv in _SEARCH_OPTIONS.items() if key in address.options
        }
        self._owns_connection = connection is None
        self._conn = connection or MilvusConnection(address)
        if not self._call("list", lambda c: c.has_collection(self.collection)):
            if not create:
                raise IndexStoreError(
                    f"Milvus collection {self.collection!r} at {address.text} does not exist; "
                    "open the index writable once to fill it from the catalog (lookalike index rebuild)"
                )
            self._create()
        self._check_owner()
        self._load()

    @classmethod
    def open(
        cls, address: StoreAddress, manifest: Manifest, last_seq: int, writable: bool
    ) -> tuple[MilvusVectorStore, int | None]:
        """The index's collection and the catalog change it holds: None when it must be
        refilled, -1 for a reader (readers never write to a shared store; the writer keeps it
        in sync)."""
        store = cls(address, manifest.dim, manifest.uid, create=writable)
        seq = store.synced_seq
        if not writable:
            return store, -1
        # Changes up to the folder's checkpoint may be pruned: a collection behind it (or
        # ahead of the catalog, from another life) is refilled.
        ckpt = manifest.checkpoint
        if seq is None or seq > last_seq or (ckpt is not None and seq < ckpt.seq):
            store.reset()
            return store, None
        return store, seq

    def _load(self) -> None:
        """Load the collection for search (a no-op when it is loaded already)."""
        self._call("load_collection", lambda c: c.load_collection(self.collection, timeout=SLOW_CALL_TIMEOUT))

    def _call(self, what: str, fn: Callable[[Any], T]) -> T:
        """``fn(client)`` through the connection, which retries and translates errors."""
        return self._conn.call(f"{what} ({self.collection})", fn)

    def _create(self) -> None:
        from pymilvus import DataType, MilvusClient

        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("iid", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dim)
        params = MilvusClient.prepare_index_params()
        build = {
            key: conv(self.address.options[key])
            for key, conv in _BUILD_OPTIONS.items()
            if key in self.address.options
        }
        params.add_index(
            field_name="vector",
            index_type=self.address.options.get("index_type", "AUTOINDEX"),
            metric_type="IP",
            params=build,
        )
        extra: dict[str, Any] = {}
        if "shards" in self.address.options:
            extra["num_shards"] = int(self.address.options["shards"])
        self._call(
            "create_collection",
            lambda c: c.create_collection(
                self.collection,
                schema=schema,
                index_params=params,
                consistency_level=self._consistency,
                properties={"lookalike.uid": self._uid, "lookalike.dim": str(self.dim)},
                timeout=SLOW_CALL_TIMEOUT,
                **extra,
            ),
        )

    def _properties(self) -> dict[str, str]:
        info = self._call("describe_collection", lambda c: c.describe_collection(self.collection))
        return dict(info.get("properties", {}))

    def _check_owner(self) -> None:
        props = self._properties()
        if props.get("lookalike.uid") != self._uid:
            raise IndexStoreError(
                f"Milvus collection {self.collection!r} at {self.address.text} belongs to another index "
                f"(uid {props.get('lookalike.uid')}); give this one its own with ?collection=NAME"
            )
        if props.get("lookalike.dim") != str(self.dim):
            raise EmbedderMismatchError(
                f"Milvus collection {self.collection!r} holds {props.get('lookalike.dim')}-d vectors, "
                f"the index {self.dim}-d"
            )

    @property
    def synced_seq(self) -> int | None:
        """The catalog change number the collection held at its last checkpoint, if any."""
        seq = self._properties().get("lookalike.seq")
        return int(seq) if seq is not None else None

    def reset(self) -> None:
        """Empty the collection (before refilling it from the catalog)."""
        self._call("drop_collection", lambda c: c.drop_collection(self.collection))
        self._create()
        self._load()

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        rows = np.ascontiguousarray(vectors, dtype=np.float32)
        for start in range(0, len(ids), _BATCH):
            chunk = zip(ids[start : start + _BATCH].tolist(), rows[start : start + _BATCH], strict=True)
            data = [{"iid": int(i), "vector": v} for i, v in chunk]
            self._upsert(data)

    def _upsert(self, data: list[dict[str, Any]]) -> None:
        self._call("upsert", lambda c: c.upsert(self.collection, data))

    def remove(self, ids: np.ndarray) -> int:
        if not len(ids):
            return 0
        result = self._call("delete", lambda c: c.delete(self.collection, ids=[int(i) for i in ids]))
        return int(result["delete_count"]) if isinstance(result, dict) else len(result)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = max(1, k)
        answer = self._call(
            "search",
            lambda c: c.search(
                self.collection,
                data=np.ascontiguousarray(queries, dtype=np.float32),
                limit=k,
                output_fields=["iid"],
                search_params={"metric_type": "IP", "params": self._search_params},
                consistency_level=self._consistency,
            ),
        )
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        for row, hits in enumerate(answer):
            for col, hit in enumerate(hits):
                scores[row, col] = hit["distance"]
                ids[row, col] = hit["iid"]
        return scores, ids

    def __len__(self) -> int:
        rows = self._call(
            "count",
            lambda c: c.query(
                self.collection, output_fields=["count(*)"], consistency_level=self._consistency
            ),
        )
        return int(rows[0]["count(*)"])

    def checkpoint(self, folder: Path, seq: int) -> None:
        """Flush, then record on the collection that it holds the catalog up to change ``seq``."""
        self._call("flush", lambda c: c.flush(self.collection))
        self._call(
            "alter_collection_properties",
            lambda c: c.alter_collection_properties(self.collection, properties={"lookalike.seq": str(seq)}),
        )

    def close(self) -> None:
        if self._owns_connection:
            self._conn.close()
