"""The shared catalog's reference rows, in one Milvus collection (``<name>_catalog``).

One row per reference image: ``iid`` (int64 primary key), ``phash`` (its 64-bit pHash as a
Milvus binary vector, indexed ``BIN_FLAT`` and searched by Hamming distance: the hash
channel), ``external_id`` and ``sha256`` (filtered on), ``info`` (JSON: source, size, time
added, free-form metadata), ``descriptor`` (base64 of what the scorer re-scores with: the
float vector, the mirrored pHash and the ORB keypoints, ~3.6 KB) and ``thumbnail`` (base64
JPEG, empty when none). Milvus 2.3 allows one vector field per collection, so the SSCD
vectors live in a collection of their own (:class:`~lookalike.index.milvus.MilvusVectorStore`).

The collection also carries the index's manifest (property ``lookalike.manifest``): every
replica reads the embedder identity and the fitted calibration from there.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ..embed.descriptor import Descriptor, LocalFeatures
from ..errors import IndexStoreError
from .catalog import NewItem, Record
from .manifest import Manifest, now_iso
from .milvus_client import SLOW_CALL_TIMEOUT, MilvusConnection

__all__ = ["MilvusCatalog", "in_list", "quoted"]

_FIELDS = ["iid", "external_id", "sha256", "info", "descriptor"]
#: Milvus' longest VARCHAR; base64 of a descriptor is ~8 KB, of a thumbnail ~20 KB.
_MAX_TEXT = 65_535
_CHUNK = 500


def quoted(text: str) -> str:
    """``text`` as a string literal of a Milvus filter expression."""
    return json.dumps(text)


def _binary(value: Any) -> bytes:
    """A binary vector as a query answers it (bytes, or a one-element list of bytes)."""
    return bytes(value[0] if isinstance(value, list) else value)


def in_list(field: str, values: Sequence[Any]) -> str:
    return f"{field} in [{', '.join(quoted(v) if isinstance(v, str) else str(int(v)) for v in values)}]"


class MilvusCatalog:
    def __init__(self, conn: MilvusConnection, name: str, dim: int, consistency: str) -> None:
        self._conn = conn
        self.collection = f"{name}_catalog"
        self._dim = dim
        self._consistency = consistency

    # -- the collection and its manifest ---------------------------------------------------

    def exists(self) -> bool:
        return bool(self._conn.call("has_collection", lambda c: c.has_collection(self.collection)))

    def create(self, manifest: Manifest) -> None:
        from pymilvus import DataType, MilvusClient

        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("iid", DataType.INT64, is_primary=True)
        schema.add_field("phash", DataType.BINARY_VECTOR, dim=64)
        schema.add_field("external_id", DataType.VARCHAR, max_length=4096)
        schema.add_field("sha256", DataType.VARCHAR, max_length=64)
        schema.add_field("info", DataType.JSON)
        schema.add_field("descriptor", DataType.VARCHAR, max_length=_MAX_TEXT)
        schema.add_field("thumbnail", DataType.VARCHAR, max_length=_MAX_TEXT)
        params = MilvusClient.prepare_index_params()
        params.add_index(field_name="phash", index_type="BIN_FLAT", metric_type="HAMMING")
        properties = {"lookalike.manifest": json.dumps(manifest.to_json())}
        self._conn.invoke(
            "create_collection",
            self.collection,
            schema=schema,
            index_params=params,
            consistency_level=self._consistency,
            properties=properties,
            timeout=SLOW_CALL_TIMEOUT,
        )
        self.load()

    def load(self, client: Any = None) -> None:
        """Load for search (a no-op when loaded); ``client``: inside a retry, call it directly."""
        if client is not None:
            client.load_collection(self.collection)
        else:
            self._conn.call(
                "load_collection", lambda c: c.load_collection(self.collection, timeout=SLOW_CALL_TIMEOUT)
            )

    def manifest(self) -> Manifest:
        info = self._conn.call("describe_collection", lambda c: c.describe_collection(self.collection))
        text = dict(info.get("properties", {})).get("lookalike.manifest")
        if text is None:
            raise IndexStoreError(f"Milvus collection {self.collection!r} holds no lookalike manifest")
        return Manifest.from_json(json.loads(text))

    def set_manifest(self, manifest: Manifest) -> None:
        properties = {"lookalike.manifest": json.dumps(manifest.to_json())}
        self._conn.call(
            "alter_collection_properties",
            lambda c: c.alter_collection_properties(self.collection, properties=properties),
        )

    # -- rows ------------------------------------------------------------------------------

    def row(self, iid: int, item: NewItem, thumbnail: bytes | None) -> dict[str, Any]:
        d = item.descriptor
        blob = (
            np.ascontiguousarray(d.vector, dtype=np.float32).tobytes()
            + d.phash_mirror.tobytes()
            + d.local.to_bytes()
        )
        encoded = base64.b64encode(blob).decode()
        jpeg = base64.b64encode(thumbnail).decode() if thumbnail else ""
        row = {
            "iid": iid,
            "phash": d.phash.tobytes(),
            "external_id": item.external_id,
            "sha256": item.sha256,
            "info": {
                "source": item.source,
                "width": item.width,
                "height": item.height,
                "added_at": now_iso().replace("+00:00", "Z"),
                "metadata": item.metadata,
            },
            "descriptor": encoded,
            # A thumbnail is for people only: one over the field's size is left out.
            "thumbnail": jpeg if len(jpeg) <= _MAX_TEXT else "",
        }
        if len(encoded) > _MAX_TEXT:
            raise IndexStoreError(f"{item.external_id}: descriptor too large for the shared catalog")
        return row

    def _record(self, row: dict[str, Any]) -> Record:
        blob = base64.b64decode(row["descriptor"])
        cut = 4 * self._dim
        info = row["info"]
        return Record(
            iid=int(row["iid"]),
            external_id=row["external_id"],
            source=info["source"],
            sha256=row["sha256"],
            width=int(info["width"]),
            height=int(info["height"]),
            added_at=info["added_at"],
            metadata=info["metadata"],
            descriptor=Descriptor(
                vector=np.frombuffer(blob[:cut], dtype=np.float32),
                phash=np.frombuffer(_binary(row["phash"]), dtype=np.uint8),
                phash_mirror=np.frombuffer(blob[cut : cut + 8], dtype=np.uint8),
                local=LocalFeatures.from_bytes(blob[cut + 8 :]),
            ),
        )

    def upsert(self, rows: list[dict[str, Any]]) -> None:
        for start in range(0, len(rows), 100):
            chunk = rows[start : start + 100]
            self._conn.invoke("upsert", self.collection, chunk)

    def delete(self, iids: Sequence[int]) -> None:
        if iids:
            ids = [int(i) for i in iids]
            self._conn.call("delete", lambda c: c.delete(self.collection, ids=ids))

    def _query(self, expr: str, fields: list[str], limit: int | None = None) -> list[dict[str, Any]]:
        extra = {"limit": limit} if limit is not None else {}
        rows = self._conn.call(
            "query",
            lambda c: c.query(
                self.collection,
                filter=expr,
                output_fields=fields,
                consistency_level=self._consistency,
                **extra,
            ),
        )
        return list(rows)

    def records_where(self, expr: str) -> list[Record]:
        return [self._record(r) for r in self._query(expr, [*_FIELDS, "phash"])]

    def by_iids(self, iids: Sequence[int]) -> dict[int, Record]:
        out: dict[int, Record] = {}
        for start in range(0, len(iids), _CHUNK):
            for rec in self.records_where(in_list("iid", iids[start : start + _CHUNK])):
                out[rec.iid] = rec
        return out

    def owners(self, iids: Sequence[int]) -> dict[int, str]:
        """The external id held by each of ``iids`` that has a row."""
        out: dict[int, str] = {}
        for start in range(0, len(iids), _CHUNK):
            for row in self._query(in_list("iid", iids[start : start + _CHUNK]), ["iid", "external_id"]):
                out[int(row["iid"])] = row["external_id"]
        return out

    def holders_of_sha256(self, sha256s: Sequence[str]) -> dict[str, list[str]]:
        """For each of ``sha256s`` held by rows, the external ids of those rows."""
        out: dict[str, list[str]] = {}
        for start in range(0, len(sha256s), _CHUNK):
            chunk = sha256s[start : start + _CHUNK]
            for row in self._query(in_list("sha256", chunk), ["sha256", "external_id"]):
                out.setdefault(row["sha256"], []).append(row["external_id"])
        return out

    def count(self) -> int:
        rows = self._query("", ["count(*)"])
        return int(rows[0]["count(*)"])

    def iter_rows(self, fields: list[str], batch: int) -> Iterator[list[dict[str, Any]]]:
        """Every row's ``fields``, in iid order, ``batch`` at a time (keyset paging: Milvus
        answers a limited query with the smallest primary keys that pass the filter)."""
        after: int | None = None
        while True:
            expr = "iid >= 0" if after is None else f"iid > {after}"
            rows = sorted(self._query(expr, ["iid", *fields], limit=batch), key=lambda r: int(r["iid"]))
            if not rows:
                return
            yield rows
            after = int(rows[-1]["iid"])

    def iter_records(self, batch: int) -> Iterator[list[Record]]:
        for rows in self.iter_rows([*_FIELDS, "phash"], batch):
            yield [self._record(r) for r in rows]

    def search_hashes(self, hashes: np.ndarray, k: int) -> np.ndarray:
        """Ids of the ``k`` nearest pHashes (Hamming) of each of ``hashes``, flattened."""
        data = [bytes(h) for h in np.ascontiguousarray(hashes, dtype=np.uint8)]
        answer = self._conn.call(
            "hash search",
            lambda c: c.search(
                self.collection,
                data=data,
                anns_field="phash",
                limit=max(1, k),
                output_fields=["iid"],
                search_params={"metric_type": "HAMMING", "params": {}},
                consistency_level=self._consistency,
            ),
        )
        return np.array([int(hit["iid"]) for hits in answer for hit in hits], dtype=np.int64)

    # -- thumbnails -----------------------------------------------------------------------

    def thumbnails(self, iids: Sequence[int]) -> dict[int, bytes]:
        out: dict[int, bytes] = {}
        for start in range(0, len(iids), _CHUNK):
            for row in self._query(in_list("iid", iids[start : start + _CHUNK]), ["iid", "thumbnail"]):
                if row["thumbnail"]:
                    out[int(row["iid"])] = base64.b64decode(row["thumbnail"])
        return out

    def put_thumbnails(self, jpegs: dict[int, bytes]) -> None:
        """Milvus replaces whole rows: each row is read back and written with its thumbnail."""
        iids = list(jpegs)
        for start in range(0, len(iids), _CHUNK):
            rows = self._query(in_list("iid", iids[start : start + _CHUNK]), ["*"])
            for row in rows:
                row["thumbnail"] = base64.b64encode(jpegs[int(row["iid"])]).decode()
                row["phash"] = _binary(row["phash"])
            self.upsert(rows)

    def drop(self) -> None:
        self._conn.call("drop_collection", lambda c: c.drop_collection(self.collection))
