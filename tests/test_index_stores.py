"""Every vector store honours the interface the index relies on: FAISS (exact, graph,
inverted file), Milvus Lite, and the NumPy reference; and the index folder runs each of them
through the same lifecycle (add, delete, save, reopen, rebuild) without knowing its kind."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from lookalike.embed.base import EmbedderInfo
from lookalike.embed.descriptor import Descriptor, LocalFeatures
from lookalike.errors import IndexStoreError
from lookalike.index.base import StoreStats, VectorStore
from lookalike.index.catalog import Catalog, NewItem
from lookalike.index.faiss_lifecycle import GrowingFaissStore
from lookalike.index.manifest import Manifest
from lookalike.index.store import Index
from lookalike.index.uri import parse_store
from lookalike.index.vectors import MemoryVectorStore

DIM = 16
N = 400
INFO = EmbedderInfo(name="fake", dim=DIM, version="1", weights_digest="none")
HAS_MILVUS = importlib.util.find_spec("pymilvus") is not None
milvus_only = pytest.mark.skipif(not HAS_MILVUS, reason="pymilvus (the milvus extra) is not installed")


def unit(n: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _milvus(tmp_path: Path) -> VectorStore:
    from lookalike.index.milvus import MilvusVectorStore

    return MilvusVectorStore(parse_store(f"milvus://{tmp_path}/conf.db"), DIM, "conformance", create=True)


def _ivf(tmp_path: Path) -> VectorStore:
    store = GrowingFaissStore(DIM, "IVF8,Flat", "nprobe=8")
    store.train(unit(2000, 9))
    return store


STORES: dict[str, Callable[[Path], VectorStore]] = {
    "numpy": lambda _: MemoryVectorStore(DIM),
    "faiss-flat": lambda _: GrowingFaissStore(DIM, "IDMap2,Flat"),
    "faiss-hnsw": lambda _: GrowingFaissStore(DIM, "IDMap2,HNSW32", "efSearch=128"),
    "faiss-ivf": _ivf,
    "milvus-lite": _milvus,
}
PARAMS = [pytest.param(name, marks=milvus_only) if "milvus" in name else name for name in STORES]


@pytest.fixture(params=PARAMS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorStore]:
    made = STORES[request.param](tmp_path)
    yield made
    made.close()


def test_a_store_declares_its_metric_and_dimension(store: VectorStore) -> None:
    assert store.metric == "inner_product" and store.dim == DIM and store.is_trained


def test_a_store_adds_searches_removes_and_resets(store: VectorStore) -> None:
    x = unit(N, 0)
    ids = np.arange(N, dtype=np.int64) * 3 + 7  # ids are the caller's, not positions
    store.add(ids, x)
    assert len(store) == N
    scores, found = store.search(x[:20], 5)
    assert found.shape[0] == 20 and scores.shape == found.shape
    np.testing.assert_array_equal(found[:, 0], ids[:20])  # each finds itself first
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-4)  # inner product of unit vectors
    assert (np.diff(scores, axis=1) <= 1e-6).all()  # best first
    assert store.remove(np.array([ids[0], ids[1]])) == 2
    store.remove(np.array([10**9]))  # absent ids are ignored
    assert len(store) == N - 2
    _, found = store.search(x[:2], 3)
    assert not np.isin(found, ids[:2]).any()
    one = store.search(x[:1], N + 50)[1][0]  # more than there are: the rest is -1
    live = one[one >= 0]
    assert len(set(live.tolist())) == len(live) and not np.isin(live, ids[:2]).any()
    assert len(live) >= N - 10  # all of them, but for what a graph walk may miss
    stats = store.stats()
    assert isinstance(stats, StoreStats) and stats.vectors == N - 2
    store.reset()
    assert len(store) == 0


def test_a_store_runs_the_lifecycle_the_index_drives(store: VectorStore, tmp_path: Path) -> None:
    n = 1200  # enough to train IVF8 (min_training_size)
    x = unit(n, 1)
    ids = np.arange(n, dtype=np.int64)
    manifest = Manifest(embedder=INFO)

    def batches() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for lo in range(0, n, 500):
            yield ids[lo : lo + 500], x[lo : lo + 500]

    store.add(ids[:10], x[:10])
    # A rebuild on request, into the same kind: the FAISS store retrains, others refill.
    factory = store.factory if isinstance(store, GrowingFaissStore) else manifest.index_factory
    report, changes = store.rebuild(batches, n, manifest, factory)
    assert report.vectors == len(store) == n and isinstance(changes, dict)
    assert changes.get("index_factory", factory) == factory
    np.testing.assert_array_equal(store.search(x[:5], 1)[1][:, 0], ids[:5])
    # Nothing for a save to do: no growth asked for, no tombstones.
    assert store.maintain(batches, n, manifest.with_changes(**changes)) is None
    name = store.checkpoint(tmp_path, 12)
    assert name is None or (tmp_path / name).is_file()
    if isinstance(store, GrowingFaissStore):
        assert store.tune(batches, 0.9).recall >= 0.9
    else:
        with pytest.raises(IndexStoreError, match="only a FAISS index"):
            store.tune(batches, 0.9)


def _descriptor(v: np.ndarray, seed: int) -> Descriptor:
    h = np.random.default_rng(seed).integers(0, 256, (2, 8), dtype=np.uint8)
    return Descriptor(v, h[0], h[1], LocalFeatures.empty())


@pytest.mark.parametrize("kind", [pytest.param("milvus", marks=milvus_only), "faiss"])
def test_the_index_drives_each_store_alike(tmp_path: Path, kind: str) -> None:
    store = f"milvus://{tmp_path}/ix.db" if kind == "milvus" else "faiss"
    x = unit(300, 2)
    with Index.create(tmp_path / "ix", INFO, store=store) as index:
        index.add([NewItem(f"i{i}", _descriptor(v, i), f"s{i}", 1, 1) for i, v in enumerate(x[:200])])
        index.save()
        index.add([NewItem(f"i{i}", _descriptor(v, i), f"s{i}", 1, 1) for i, v in enumerate(x[200:], 200)])
        index.delete(["i0", "i1"])
        assert index.stats().vectors == 298
    # Reopened: the checkpoint plus the replayed catalog changes.
    with Index.open(tmp_path / "ix", writable=True) as index:
        assert index.stats().vectors == index.stats().images == 298
        top = [r.external_id for r in index.candidates(_descriptor(x[250], 250), 1)]
        assert "i250" in top
        report = index.rebuild()
        assert report.vectors == 298


def test_iter_vectors_reads_only_ids_vectors_and_hashes(tmp_path: Path) -> None:
    x = unit(30, 3)
    with Index.create(tmp_path / "ix", INFO) as index:
        index.add([NewItem(f"i{i}", _descriptor(v, i), f"s{i}", 1, 1) for i, v in enumerate(x)])
        index.delete(["i4"])
    catalog = Catalog(tmp_path / "ix" / "catalog.sqlite")
    batches = list(catalog.iter_vectors(batch=7, phashes=True))
    assert [len(b.ids) for b in batches] == [7, 7, 7, 7, 1]
    ids = np.concatenate([b.ids for b in batches])
    records = {r.iid: r for batch in catalog.iter_records() for r in batch}
    np.testing.assert_array_equal(ids, sorted(records))
    for b in batches:
        assert b.phashes is not None
        for iid, v, h in zip(b.ids, b.vectors, b.phashes, strict=True):
            np.testing.assert_array_equal(v, records[int(iid)].descriptor.vector)
            np.testing.assert_array_equal(h, records[int(iid)].descriptor.phash)
    some = list(catalog.iter_vectors([3, 5, 999, 1]))
    assert len(some) == 1 and some[0].ids.tolist() == [1, 3] and some[0].phashes is None
    catalog.close()
