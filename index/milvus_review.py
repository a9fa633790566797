"""Reviewers' decisions in the shared catalog: two Milvus collections beside the rows.

``<name>_feedback`` holds one verdict per row (``fid``, the reference's external id, the
verdict, the query's sha256, its hashes and time), with the query's float vector as the
collection's vector field; ``<name>_disabled`` holds the disabled external ids (a one-byte
binary vector stands in for the vector field every Milvus 2.3 collection must have). Both
follow :mod:`lookalike.index.feedback`'s rules: a ``not_a_match`` verdict suppresses the
reference for the same query or a near copy, a disabled id stays disabled when re-ingested.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..embed.descriptor import Descriptor, LocalFeatures
from .feedback import VERDICTS, FeedbackRecord, Verdict
from .manifest import now_iso
from .milvus_catalog import in_list
from .milvus_client import SLOW_CALL_TIMEOUT, MilvusConnection

__all__ = ["MilvusReview"]

_FEEDBACK_FIELDS = ["fid", "reference_id", "verdict", "query_sha256", "created_at"]


class MilvusReview:
    def __init__(self, conn: MilvusConnection, name: str, dim: int, consistency: str) -> None:
        self._conn = conn
        self.feedback = f"{name}_feedback"
        self.disabled = f"{name}_disabled"
        self._dim = dim
        self._consistency = consistency

    def create(self) -> None:
        from pymilvus import DataType, MilvusClient

        fb = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        fb.add_field("fid", DataType.INT64, is_primary=True)
        fb.add_field("vector", DataType.FLOAT_VECTOR, dim=self._dim)
        fb.add_field("reference_id", DataType.VARCHAR, max_length=4096)
        fb.add_field("verdict", DataType.VARCHAR, max_length=32)
        fb.add_field("query_sha256", DataType.VARCHAR, max_length=64)
        fb.add_field("hashes", DataType.VARCHAR, max_length=64)
        fb.add_field("created_at", DataType.VARCHAR, max_length=32)
        off = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        off.add_field("external_id", DataType.VARCHAR, max_length=4096, is_primary=True)
        off.add_field("flag", DataType.BINARY_VECTOR, dim=8)
        for name, schema, field, metric in (
            (self.feedback, fb, "vector", "IP"),
            (self.disabled, off, "flag", "HAMMING"),
        ):
            params = MilvusClient.prepare_index_params()
            params.add_index(
                field_name=field, index_type="FLAT" if metric == "IP" else "BIN_FLAT", metric_type=metric
            )
            if not self._conn.invoke("has_collection", name):
                self._conn.invoke(
                    "create_collection",
                    name,
                    schema=schema,
                    index_params=params,
                    consistency_level=self._consistency,
                    timeout=SLOW_CALL_TIMEOUT,
                )
        self.load()

    def load(self, client: Any = None) -> None:
        for name in (self.feedback, self.disabled):
            if client is not None:
                client.load_collection(name)
            else:
                self._conn.invoke("load_collection", name, timeout=SLOW_CALL_TIMEOUT)

    def _query(self, collection: str, expr: str, fields: list[str]) -> list[dict[str, Any]]:
        rows = self._conn.call(
            "query",
            lambda c: c.query(
                collection, filter=expr, output_fields=fields, consistency_level=self._consistency
            ),
        )
        return list(rows)

    # -- verdicts ---------------------------------------------------------------------------

    def add(self, reference_id: str, verdict: Verdict, sha256: str, query: Descriptor) -> FeedbackRecord:
        if verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, not {verdict!r}")
        # 53 bits: the id travels in JSON, where larger integers lose precision.
        record = FeedbackRecord(
            secrets.randbits(53), reference_id, verdict, sha256, now_iso().replace("+00:00", "Z")
        )
        row = {
            "fid": record.id,
            "vector": np.ascontiguousarray(query.vector, dtype=np.float32).tolist(),
            "reference_id": reference_id,
            "verdict": verdict,
            "query_sha256": sha256,
            "hashes": base64.b64encode(query.phash.tobytes() + query.phash_mirror.tobytes()).decode(),
            "created_at": record.created_at,
        }
        self._conn.call("upsert", lambda c: c.upsert(self.feedback, [row]))
        return record

    def list_all(self, reference_id: str | None = None) -> list[FeedbackRecord]:
        expr = "" if reference_id is None else in_list("reference_id", [reference_id])
        rows = self._query(self.feedback, expr or "fid >= 0", _FEEDBACK_FIELDS)
        records = [
            FeedbackRecord(int(r["fid"]), r["reference_id"], r["verdict"], r["query_sha256"], r["created_at"])
            for r in rows
        ]
        return sorted(records, key=lambda r: (r.created_at, r.id))

    def remove(self, fid: int) -> bool:
        if not self._query(self.feedback, f"fid == {int(fid)}", ["fid"]):
            return False
        self._conn.call("delete", lambda c: c.delete(self.feedback, ids=[int(fid)]))
        return True

    def suppressions(self, reference_ids: Sequence[str]) -> dict[str, list[Descriptor]]:
        out: dict[str, list[Descriptor]] = {}
        if not reference_ids:
            return out
        expr = f'verdict == "not_a_match" and {in_list("reference_id", reference_ids)}'
        for row in self._query(self.feedback, expr, ["reference_id", "vector", "hashes"]):
            hashes = base64.b64decode(row["hashes"])
            out.setdefault(row["reference_id"], []).append(
                Descriptor(
                    np.asarray(row["vector"], dtype=np.float32),
                    np.frombuffer(hashes[:8], dtype=np.uint8),
                    np.frombuffer(hashes[8:], dtype=np.uint8),
                    LocalFeatures.empty(),
                )
            )
        return out

    # -- disabled references ---------------------------------------------------------------

    def set_enabled(self, external_ids: Sequence[str], enabled: bool) -> None:
        if not external_ids:
            return
        ids = list(external_ids)
        if enabled:
            self._conn.call("delete", lambda c: c.delete(self.disabled, ids=ids))
        else:
            rows = [{"external_id": ext, "flag": b"\x01"} for ext in ids]
            self._conn.call("upsert", lambda c: c.upsert(self.disabled, rows))

    def disabled_among(self, external_ids: Sequence[str]) -> set[str]:
        if not external_ids:
            return set()
        rows = self._query(self.disabled, in_list("external_id", external_ids), ["external_id"])
        return {r["external_id"] for r in rows}

    def drop(self) -> None:
        for name in (self.feedback, self.disabled):
            self._conn.invoke("drop_collection", name)
