"""Searches run in parallel; writes exclude them, so a search sees whole batches or none.

Descriptors are synthetic (no pixels, no keypoints), so each test takes well under a second.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from lookalike.embed.base import EmbedderInfo
from lookalike.embed.descriptor import Descriptor, LocalFeatures
from lookalike.index.catalog import NewItem
from lookalike.index.manifest import Manifest
from lookalike.index.rwlock import ReadWriteLock
from lookalike.index.store import Index
from lookalike.index.vectors import MemoryVectorStore

DIM = 16
BARRIER_S = 10.0
INFO = EmbedderInfo(name="fake", dim=DIM, version="1", weights_digest="none")


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def item(name: str, vector: np.ndarray, seed: int) -> NewItem:
    h = np.random.default_rng(seed).integers(0, 256, (2, 8), dtype=np.uint8)
    return NewItem(name, Descriptor(vector, h[0], h[1], LocalFeatures.empty()), f"sha-{name}", 1, 1)


def query(vector: np.ndarray) -> Descriptor:
    h = np.zeros(8, dtype=np.uint8)
    return Descriptor(vector, h, h, LocalFeatures.empty())


class GatedStore(MemoryVectorStore):
    """A store whose searches wait at ``gate`` (a barrier or an event) before answering."""

    def __init__(self, dim: int) -> None:
        super().__init__(dim)
        self.gate: threading.Barrier | threading.Event | None = None
        self.entered = threading.Event()

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        self.entered.set()
        if isinstance(self.gate, threading.Barrier):
            self.gate.wait()
        elif self.gate is not None:
            assert self.gate.wait(10)
        return super().search(queries, k)


def gated_index(folder: Path, writable: bool) -> tuple[Index, GatedStore]:
    x = unit(np.random.default_rng(0), 50)
    with Index.create(folder, INFO) as index:
        index.add([item(f"img-{i}", v, i) for i, v in enumerate(x)])
        index.save()
    store = GatedStore(DIM)
    return Index(folder, Manifest.load(folder), writable=writable, vectors=store), store


def test_two_searches_overlap(tmp_path: Path) -> None:
    """Each search waits inside the vector store until the other has entered it too: under
    one lock around searches the first would hold it and the barrier would time out."""
    index, store = gated_index(tmp_path / "ix", writable=False)
    store.gate = threading.Barrier(2, timeout=BARRIER_S)
    q = query(unit(np.random.default_rng(0), 50)[7])
    found: list[list[str]] = []
    errors: list[BaseException] = []

    def search() -> None:
        try:
            found.append([r.external_id for r in index.candidates(q, 1)])
        except BaseException as exc:  # a broken barrier shows up here
            errors.append(exc)

    threads = [threading.Thread(target=search) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    index.close()
    assert not errors, errors
    assert len(found) == 2 and all("img-7" in f for f in found)


def test_a_write_waits_for_searches_in_flight_and_searches_wait_for_it(tmp_path: Path) -> None:
    index, store = gated_index(tmp_path / "ix", writable=True)
    release = threading.Event()
    store.gate, store.entered = release, threading.Event()
    new = unit(np.random.default_rng(1), 1)[0]
    searcher = threading.Thread(target=index.candidates, args=(query(new), 3))
    searcher.start()
    assert store.entered.wait(10)
    writer = threading.Thread(target=index.add, args=([item("new", new, 99)],))
    writer.start()
    time.sleep(0.3)
    # The batch is in the catalog's transaction, but the in-memory indexes wait for the search.
    assert writer.is_alive() and len(store) == 50
    release.set()
    searcher.join(10)
    writer.join(10)
    assert not writer.is_alive() and len(store) == 51
    store.gate = None
    assert "new" in {r.external_id for r in index.candidates(query(new), 1)}
    index.close()


def test_searches_during_writes_see_whole_batches(tmp_path: Path) -> None:
    """Each batch replaces the previous one's three items by three new ones sharing a vector:
    a search for that vector must always see exactly three of them, from one batch."""
    rng = np.random.default_rng(2)
    v = unit(rng, 1)[0]
    background = unit(rng, 200)
    index = Index.create(tmp_path / "ix", INFO, index_factory="IDMap2,Flat")
    index.add([item(f"bg-{i}", b, i) for i, b in enumerate(background)])
    index.add([item(f"slot-{j}", v, 1000 + j) for j in range(3)])
    stop = threading.Event()
    seen: list[tuple[str, ...]] = []
    errors: list[BaseException] = []

    def search() -> None:
        try:
            while not stop.is_set():
                recs = index.candidates(query(v), 3)
                seen.append(
                    tuple(
                        sorted(r.metadata.get("batch", "0") for r in recs if r.external_id.startswith("slot"))
                    )
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=search) for _ in range(4)]
    for t in threads:
        t.start()
    for n in range(1, 40):
        index.add(
            [
                NewItem(
                    f"slot-{j}",
                    item("x", v, 0).descriptor,
                    f"sha-{n}-{j}",
                    1,
                    1,
                    metadata={"batch": str(n)},
                )
                for j in range(3)
            ]
        )
    stop.set()
    for t in threads:
        t.join(30)
    index.close()
    assert not errors, errors
    assert seen
    for batches in seen:
        assert len(batches) == 3 and len(set(batches)) == 1, batches


def test_readers_writer_lock() -> None:
    lock = ReadWriteLock()
    with lock.shared(), lock.shared():
        pass  # readers share
    with lock.exclusive(), lock.exclusive(), lock.shared():
        pass  # the writer's thread may take either side again
    order: list[str] = []
    reading = threading.Event()
    done_reading = threading.Event()

    def reader() -> None:
        with lock.shared():
            reading.set()
            done_reading.wait(10)
            order.append("first reader leaves")

    def writer() -> None:
        with lock.exclusive():
            order.append("writer")

    def late_reader() -> None:
        with lock.shared():
            order.append("late reader")

    r = threading.Thread(target=reader)
    r.start()
    assert reading.wait(10)
    w = threading.Thread(target=writer)
    w.start()
    time.sleep(0.1)
    late = threading.Thread(target=late_reader)
    late.start()  # queues behind the waiting writer
    time.sleep(0.1)
    assert order == []
    done_reading.set()
    for t in (r, w, late):
        t.join(10)
    assert order == ["first reader leaves", "writer", "late reader"]


@pytest.mark.parametrize("threads", [8])
def test_parallel_searches_agree_with_serial_ones(tmp_path: Path, threads: int) -> None:
    rng = np.random.default_rng(3)
    x = unit(rng, 3000)
    with Index.create(tmp_path / "ix", INFO, index_factory="IDMap2,HNSW32") as index:
        for lo in range(0, 3000, 500):
            index.add([item(f"img-{i}", x[i], i) for i in range(lo, lo + 500)])
        index.save()
    with Index.open(tmp_path / "ix") as index:
        queries = [query(v) for v in x[:200]]
        serial = [sorted(r.external_id for r in index.candidates(q, 5)) for q in queries]
        results: dict[int, list[str]] = {}

        def run(part: int) -> None:
            for i in range(part, len(queries), threads):
                results[i] = sorted(r.external_id for r in index.candidates(queries[i], 5))

        workers = [threading.Thread(target=run, args=(p,)) for p in range(threads)]
        for t in workers:
            t.start()
        for t in workers:
            t.join(60)
        assert [results[i] for i in range(len(queries))] == serial
