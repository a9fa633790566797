"""The index at scale: choice by size, tuning to a recall target, training once and adding
incrementally, deletes with compaction, memory-mapped reads, multi-index hashing for the hash
channel, and the ``lookalike index`` commands. Vectors are synthetic and small-dimensional
so that each test takes seconds."""

from __future__ import annotations

import json
from pathlib import Path

import faiss
import numpy as np
import pytest
from lookalike.cli import main
from lookalike.embed.base import EmbedderInfo
from lookalike.embed.descriptor import Descriptor, LocalFeatures
from lookalike.index.build import Batches, build_store
from lookalike.index.catalog import NewItem
from lookalike.index.choose import FLAT_LIMIT, choose_index, estimate_bytes, index_kind, is_upgrade
from lookalike.index.hashindex import HashIndex
from lookalike.index.mih import EXACT_BELOW, MultiIndexHashIndex
from lookalike.index.store import COMPACT_AT, Index
from lookalike.index.tune import exact_neighbours, recall_at_k
from lookalike.index.vectors import FaissVectorStore

DIM = 32
NO_KEYPOINTS = LocalFeatures.empty()
INFO = EmbedderInfo(name="fake", dim=DIM, version="1", weights_digest="none")


def clustered(n: int, seed: int, centres: int = 200, spread: float = 0.35) -> np.ndarray:
    """Unit vectors around ``centres`` fixed directions (the same for every seed)."""
    c = np.random.default_rng(1234).standard_normal((centres, DIM))
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    rng = np.random.default_rng(seed)
    x = c[rng.integers(0, centres, n)] + spread * rng.standard_normal((n, DIM)) / np.sqrt(DIM) * 2
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def items(x: np.ndarray, start: int = 0) -> list[NewItem]:
    hashes = np.random.default_rng(start).integers(0, 256, (len(x), 2, 8), dtype=np.uint8)
    return [
        NewItem(
            f"img-{start + i}",
            Descriptor(v, h[0], h[1], NO_KEYPOINTS),
            sha256=f"sha-{start + i}",
            width=1,
            height=1,
        )
        for i, (v, h) in enumerate(zip(x, hashes, strict=True))
    ]


def add_all(index: Index, x: np.ndarray, start: int = 0) -> None:
    for lo in range(0, len(x), 2000):
        index.add(items(x[lo : lo + 2000], start + lo))


def batches(x: np.ndarray, ids: np.ndarray) -> Batches:
    return lambda: iter([(ids, x)])


def test_the_index_follows_catalog_size_and_memory_budget() -> None:
    assert choose_index(FLAT_LIMIT - 1, 512, 8 << 30).factory == "IDMap2,Flat"
    hnsw = choose_index(1_000_000, 512, 8 << 30)
    assert hnsw.factory == "IDMap2,HNSW32" and hnsw.train_size == 0
    # The same million in 1 GiB: HNSW (~2.4 GiB) does not fit, 4-bit PQ codes do.
    small = choose_index(1_000_000, 512, 1 << 30)
    assert small.factory == "IVF4096,PQ256x4fs" and 0 < small.train_size <= 1_000_000
    assert estimate_bytes(small.factory, 1_000_000, 512) <= 1 << 30
    tight = choose_index(1_000_000, 512, 128 * 1_000_000)
    assert tight.factory == "IVF4096,PQ128x4fs" and tight.bytes_per_vector <= 128
    # A hundred million: so many lists that the coarse quantizer is itself a graph.
    huge = choose_index(100_000_000, 512, 64 << 30)
    assert huge.factory.startswith("IVF32768_HNSW32,") and index_kind(huge.factory) == "ivf"
    assert is_upgrade("IDMap2,Flat", hnsw.factory) and is_upgrade(hnsw.factory, small.factory)
    assert not is_upgrade(small.factory, "IDMap2,Flat")


@pytest.mark.parametrize("factory", ["IVF64,Flat", "IDMap2,HNSW32"])
def test_tuned_ann_reaches_the_recall_target_on_held_out_queries(factory: str) -> None:
    x = clustered(20_000, 0)
    ids = np.arange(20_000, dtype=np.int64)
    store, report = build_store(factory, DIM, batches(x, ids), train_size=5000, recall_target=0.95)
    assert report.tuning is not None and report.tuning.recall >= 0.95
    # Cheaper than exhaustive: the tuner stopped on the way up the ladder.
    assert report.search_params not in ("nprobe=64", "efSearch=1024") and report.search_params
    queries = clustered(300, 99)  # not in the index
    _, truth = exact_neighbours(queries, [(ids, x)], 10)
    assert recall_at_k(store.search(queries, 10)[1], truth, 10) >= 0.95


def test_a_trained_factory_waits_for_data_then_grows_without_rebuilding(tmp_path: Path) -> None:
    x = clustered(4500, 1)
    with Index.create(tmp_path / "ix", INFO, index_factory="IVF64,Flat") as index:
        add_all(index, x[:1000])
        index.save()  # 1000 < 39 x 64 vectors: not enough to train, served exactly meanwhile
        stats = index.stats()
        assert (stats.index_factory, stats.target_factory) == ("IDMap2,Flat", "IVF64,Flat")
        add_all(index, x[1000:3500], 1000)
        index.save()
        stats = index.stats()
        # Trained on a sample of 39 vectors per list, not on the whole catalog.
        assert (stats.index_factory, stats.target_factory, stats.train_size) == ("IVF64,Flat", None, 39 * 64)
        assert stats.tuned_recall is not None and stats.tuned_recall >= 0.95
        trained = index.vectors
        assert isinstance(trained, FaissVectorStore)
        centroids = faiss.extract_index_ivf(trained.faiss_index).quantizer.reconstruct_n(0, 64)
        add_all(index, x[3500:], 3500)
        index.delete([f"img-{i}" for i in range(100)])
        index.save()
        assert index.vectors is trained and len(trained) == 4400  # added into, not rebuilt
    with Index.open(tmp_path / "ix") as index:
        store = index.vectors
        assert isinstance(store, FaissVectorStore) and index.stats().train_size == 39 * 64
        again = faiss.extract_index_ivf(store.faiss_index).quantizer.reconstruct_n(0, 64)
        np.testing.assert_array_equal(again, centroids)
        assert len(store) == 4400
        found = {r.external_id for r in index.candidates(items(x[:100])[0].descriptor, 10)}
        assert "img-0" not in found
        assert index.candidates(items(x[4000:4001], 4000)[0].descriptor, 1)


@pytest.mark.slow
def test_an_automatic_index_turns_into_hnsw_past_the_flat_limit(tmp_path: Path) -> None:
    x = clustered(FLAT_LIMIT + 500, 2)
    with Index.create(tmp_path / "ix", INFO) as index:
        add_all(index, x[:1000])
        index.save()
        assert index.stats().index_factory == "IDMap2,Flat" and index.stats().auto_factory
        add_all(index, x[1000:], 1000)
        index.save()
        stats = index.stats()
        assert stats.index_factory == "IDMap2,HNSW32" and stats.search_params.startswith("efSearch=")
        assert stats.tuned_recall is not None and stats.tuned_recall >= 0.95
    with Index.open(tmp_path / "ix") as index:
        assert index.stats().vectors == FLAT_LIMIT + 500
        manifest = json.loads((tmp_path / "ix" / "manifest.json").read_text())
        assert manifest["index_factory"] == "IDMap2,HNSW32" and manifest["auto_factory"]


def test_hnsw_deletes_are_compacted_once_tombstones_pile_up(tmp_path: Path) -> None:
    x = clustered(2000, 3)
    deleted = [f"img-{i}" for i in range(0, 2000, 10)]  # 10 %: below the compaction mark
    with Index.create(tmp_path / "ix", INFO, index_factory="IDMap2,HNSW32") as index:
        add_all(index, x)
        index.delete(deleted)
        index.save()
        assert index.vectors.dead_fraction == pytest.approx(0.1)
    with Index.open(tmp_path / "ix", writable=True) as index:
        assert index.vectors.dead_fraction == pytest.approx(0.1)  # tombstones survive the file
        for i in range(0, 200, 10):
            assert f"img-{i}" not in {
                r.external_id for r in index.candidates(items(x[i : i + 1], i)[0].descriptor, 5)
            }
        more = [f"img-{i}" for i in range(1, 2000, 6)]
        index.delete(more)
        assert index.vectors.dead_fraction > COMPACT_AT
        index.save()
        assert index.vectors.dead_fraction == 0
        assert len(index.vectors) == len(index) == 2000 - len(set(deleted) | set(more))
        assert index.stats().index_factory == "IDMap2,HNSW32"


def test_a_read_only_open_maps_the_checkpoint_unless_changes_need_replaying(tmp_path: Path) -> None:
    x = clustered(3000, 4)
    writer = Index.create(tmp_path / "ix", INFO, index_factory="IDMap2,HNSW32")
    add_all(writer, x[:2000])
    writer.save()
    query = items(x[5:6], 5)[0].descriptor
    with Index.open(tmp_path / "ix") as reader:
        assert reader.stats().memory_mapped
        assert [r.external_id for r in reader.candidates(query, 3)] == [
            r.external_id for r in writer.candidates(query, 3)
        ]
    add_all(writer, x[2000:], 2000)  # committed to the catalog, not checkpointed
    with Index.open(tmp_path / "ix") as reader:
        assert not reader.stats().memory_mapped and reader.stats().vectors == 3000
    with Index.open(tmp_path / "ix", mmap=False) as reader:
        assert not reader.stats().memory_mapped
    writer.close()


def test_index_commands_plan_rebuild_and_tune(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Index.create(tmp_path / "ix", INFO) as index:
        add_all(index, clustered(4000, 5))
        index.save()
    assert main(["index", "plan", "--vectors", "1000000", "--memory-budget", "1G", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["factory"] == "IVF4096,PQ256x4fs" and plan["estimated_bytes"] <= 1 << 30

    folder = str(tmp_path / "ix")
    assert main(["index", "rebuild", "--index", folder, "--index-factory", "IVF32,Flat", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["factory"] == "IVF32,Flat" and report["vectors"] == 4000 and report["recall_at_10"] >= 0.95
    assert main(["index", "tune", "--index", folder, "--recall", "0.99", "--json"]) == 0
    tuned = json.loads(capsys.readouterr().out)
    assert tuned["recall_at_10"] >= 0.99 and tuned["reached"]
    assert main(["info", "--index", folder, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["index_factory"] == "IVF32,Flat" and info["search_params"] == tuned["search_params"]
    assert not info["auto_factory"]

    # An operator sets nprobe by hand (the 10M guide's copy-search setting), and sees its recall:
    # one list of 32 misses neighbours that 32 lists find.
    assert (
        main(["index", "tune", "--index", folder, "--params", "nprobe=1", "--recall", "0.99", "--json"]) == 1
    )
    one = json.loads(capsys.readouterr().out)
    assert one["search_params"] == "nprobe=1" and not one["reached"] and one["recall_at_10"] < 0.99
    assert main(["info", "--index", folder, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["search_params"] == "nprobe=1"
    assert main(["index", "tune", "--index", folder, "--params", "nprobe=32", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["recall_at_10"] == 1.0
    assert main(["index", "tune", "--index", folder, "--params", "nprobe=lots"]) == 2
    assert "FAISS rejects search parameters 'nprobe=lots'" in capsys.readouterr().err


def test_multi_index_hashing_finds_what_a_flat_scan_finds_within_11_bits(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    n = EXACT_BELOW + 5000
    codes = rng.integers(0, 256, (n, 8), dtype=np.uint8)
    ids = np.arange(n, dtype=np.int64) * 7
    queries = codes[:300].copy()
    for row, flips in enumerate(rng.integers(0, 64, (300, 12))):
        for bit in flips[: row % 13]:  # 0 to 12 flipped bits
            queries[row, bit // 8] ^= 1 << (bit % 8)
    mih, flat = MultiIndexHashIndex(), HashIndex()
    for index in (mih, flat):
        index.add(ids[:-3000], codes[:-3000])
        index.remove(ids[1:300:2])  # every other planted original is gone
        index.add(ids[-3000:], codes[-3000:])  # a tail added after the tables were built

    def agree() -> None:
        got_d, got_i = mih.search(queries, 5)
        want_d, want_i = flat.search(queries, 5)
        near = want_d <= 11
        np.testing.assert_array_equal(got_d[near], want_d[near])
        assert (got_i[:, 0] == want_i[:, 0])[want_d[:, 0] <= 11].all()
        assert near[:, 0].sum() > 100

    mih.search(queries[:1], 1)
    agree()
    mih.write(tmp_path / "h.faissb")
    mih = MultiIndexHashIndex.read(tmp_path / "h.faissb")
    agree()


def test_a_refine_step_over_an_inverted_file_keeps_the_callers_ids() -> None:
    x = clustered(3000, 7)
    ids = np.arange(3000, dtype=np.int64) * 11 + 5
    # IndexRefine takes no ids of its own, though an inverted file sits inside it.
    store, _ = build_store("IVF16,PQ8x4fs,RFlat", DIM, batches(x, ids), 2000, search_params="k_factor_rf=8")
    store.set_search_params("nprobe=16")
    scores, found = store.search(x[:20], 5)
    np.testing.assert_array_equal(found[:, 0], ids[:20])
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-5)  # re-ranked by the exact vectors
