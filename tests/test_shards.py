"""The scale benchmark's sharded path at a few thousand vectors: shards searched as one
(faiss.IndexShards) answer what one exact search over every vector answers, and a saved
build is measured again, rung by rung, from its files alone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from lookalike.benchmarks import ladder, scale
from lookalike.benchmarks.ladder import Probe, save_build
from lookalike.benchmarks.scale import DIM, Base, Mixture
from lookalike.benchmarks.shards import ShardedStore, build_shards, read_build
from lookalike.index.build import build_store
from lookalike.index.tune import exact_neighbours
from lookalike.index.vectors import FaissVectorStore

N = 3000


@pytest.fixture
def base(monkeypatch: pytest.MonkeyPatch) -> Base:
    # Batches of 700 rows, so that shard boundaries (1000, 2000) fall inside batches.
    monkeypatch.setattr(scale, "CHUNK", 700)
    return Base(N, Mixture(N, seed=3), np.zeros((0, DIM), dtype=np.float32))


def test_exact_shards_searched_as_one_answer_as_one_exact_search(base: Base) -> None:
    store, trained = build_shards("IDMap2,Flat", DIM, base.batches, N, 3, 0, "")
    assert trained == 0 and [len(s) for s in store.stores] == [1000, 1000, 1000]
    # Each shard holds one contiguous id range.
    probe = next(base.batches())[1][:1]
    owners = [s.search(probe, 1000)[1] for s in store.stores]
    assert [(int(o.min()), int(o.max())) for o in owners] == [(0, 999), (1000, 1999), (2000, 2999)]

    queries = base.queries(50)
    scores, ids = store.search(queries, 10)
    true_scores, true_ids = exact_neighbours(queries, base.batches(), 10)
    np.testing.assert_array_equal(ids, true_ids)
    np.testing.assert_allclose(scores, true_scores, rtol=1e-5)


def test_a_saved_sharded_build_is_measured_again_from_its_files(base: Base, tmp_path: Path) -> None:
    store, _ = build_shards("IDMap2,HNSW32", DIM, base.batches, N, 2, 0, "efConstruction=40")
    queries = base.queries(40)
    truth = exact_neighbours(queries, base.batches(), 10)[1]
    # The "real copies" here: slightly moved indexed rows, whose original is that row.
    rows = next(base.batches())[1][:20]
    copies = rows + 0.01 * np.random.default_rng(0).standard_normal(rows.shape).astype(np.float32)
    originals = np.arange(20)
    probe = Probe(queries, truth, copies, exact_neighbours(copies, base.batches(), 10)[1], originals)
    folder = tmp_path / "build"
    save_build(folder, store, probe, {"factory": "IDMap2,HNSW32", "n": N, "shards": 2})

    again = read_build(folder, "IDMap2,HNSW32", "efSearch=32")
    assert isinstance(again, ShardedStore) and len(again.stores) == 2 and len(again) == N
    store.set_search_params("efSearch=32")
    np.testing.assert_array_equal(again.search(queries, 10)[1], store.search(queries, 10)[1])

    out = tmp_path / "rungs.jsonl"
    assert ladder.main([str(folder), "--params", "efSearch=16", "efSearch=256", "--json", str(out)]) == 0
    rows_out = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["params"] for r in rows_out] == ["efSearch=16", "efSearch=256"]
    assert rows_out[1]["recall_at_10"] >= rows_out[0]["recall_at_10"] and rows_out[1]["recall_at_10"] > 0.9
    assert rows_out[1]["real_original_at_10"] == 1.0 and rows_out[1]["timed"] == 40
    assert all(r["p99_ms"] >= r["p50_ms"] > 0 for r in rows_out)


def test_a_one_shard_build_reads_back_as_a_plain_store(base: Base, tmp_path: Path) -> None:
    store, _ = build_store("IDMap2,Flat", DIM, base.batches)
    empty = np.zeros((0, DIM), dtype=np.float32)
    probe = Probe(
        empty, np.zeros((0, 10), dtype=np.int64), empty, np.zeros((0, 10), dtype=np.int64), np.zeros(0)
    )
    save_build(tmp_path, store, probe, {"factory": "IDMap2,Flat", "n": N, "shards": 1})
    again = read_build(tmp_path, "IDMap2,Flat")
    assert isinstance(again, FaissVectorStore) and len(again) == N
