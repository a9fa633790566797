"""Concurrent search throughput of an index: requests/s and latency at 1, 8 and 32 clients.

Run (builds the index folder on first use, ~2-3 min on a 2-core VM, then measures)::

    python -m lookalike.benchmarks.concurrency --index /tmp/conc-ix --n 100000 --seconds 8

To compare with another version of lookalike on the same index folder (the on-disk format is
the same), run this file by path under that version, e.g. the main branch installed with
``pip install --no-deps --target /tmp/before <main checkout>``::

    PYTHONPATH=/tmp/before python benchmarks/concurrency.py --index /tmp/conc-ix --seconds 8

Each client is a thread calling ``Index.candidates(query, 50)`` (vector top-50, hash top-50,
their catalog rows) in a loop on a read-only open, as the service's worker threads do; the
figures are measured at the Index level, with no HTTP in between. The catalog holds ``--n``
512-d unit vectors drawn from the scale benchmark's nested clusters (real-looking
neighbourhoods), random 64-bit hashes and no keypoints, so that building it needs no pixels;
at 100k vectors the automatic index is HNSW32, as it would be in production. Queries are
held-out points of the same clusters. ``--store milvus:///tmp/conc.db`` measures the Milvus
(Lite) store instead, whose searches are round trips to a server process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import threading
import time
from pathlib import Path

import numpy as np
from lookalike.benchmarks.scale import DIM, Mixture
from lookalike.embed.base import EmbedderInfo
from lookalike.embed.descriptor import Descriptor, LocalFeatures
from lookalike.index.catalog import NewItem
from lookalike.index.opener import open_index
from lookalike.index.reference import ReferenceIndex
from lookalike.index.store import Index

__all__ = ["build", "main", "measure"]

INFO = EmbedderInfo(name="synthetic", dim=DIM, version="1", weights_digest="none")
K = 50
SEED = 7
_NO_KEYPOINTS = LocalFeatures.empty()


def _descriptor(vector: np.ndarray, hashes: np.ndarray) -> Descriptor:
    return Descriptor(vector, hashes[0], hashes[1], _NO_KEYPOINTS)


def build(folder: Path, n: int, batch: int = 5000) -> None:
    """An index of ``n`` synthetic descriptors, added through :meth:`Index.add` and saved
    (which grows the automatic index into the kind its size calls for)."""
    mixture = Mixture(n, SEED)
    start = time.perf_counter()
    with Index.create(folder, INFO) as index:
        for lo in range(0, n, batch):
            rows = mixture.rows(min(batch, n - lo), lo)
            hashes = np.random.default_rng([SEED, lo]).integers(0, 256, (len(rows), 2, 8), dtype=np.uint8)
            index.add(
                [
                    NewItem(f"img-{lo + i}", _descriptor(v, h), f"sha-{lo + i}", 1, 1)
                    for i, (v, h) in enumerate(zip(rows, hashes, strict=True))
                ]
            )
        index.save()
        stats = index.stats()
    print(
        f"built {stats.images} vectors, {stats.index_factory} {stats.search_params} "
        f"in {time.perf_counter() - start:.0f} s"
    )


def measure(
    index: ReferenceIndex, queries: list[Descriptor], clients: int, seconds: float
) -> dict[str, float]:
    """``clients`` threads searching for ``seconds``: requests/s, p50 and p99 in ms."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    stop = threading.Event()
    go = threading.Barrier(clients + 1)

    def client(c: int) -> None:
        mine = latencies[c]
        i = c
        go.wait()
        while not stop.is_set():
            t0 = time.perf_counter()
            index.candidates(queries[i % len(queries)], K)
            mine.append(time.perf_counter() - t0)
            i += clients

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    go.wait()
    t0 = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    every = np.concatenate([np.asarray(x) for x in latencies]) * 1000
    return {
        "clients": clients,
        "requests": len(every),
        "rps": len(every) / wall,
        "p50_ms": float(np.percentile(every, 50)),
        "p99_ms": float(np.percentile(every, 99)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index", required=True, type=Path, help="index folder (built when missing)")
    parser.add_argument("--n", type=int, default=100_000, help="catalog size when building")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--seconds", type=float, default=8.0, help="per client count")
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--label", default="", help="a name for this run in the JSON output")
    parser.add_argument(
        "--store",
        default=None,
        help="search another vector store (e.g. milvus:///tmp/conc.db): the index is opened writable "
        "with it, which fills the store from the catalog in this process, and then searched",
    )
    args = parser.parse_args(argv)
    if not (args.index / "manifest.json").exists():
        build(args.index, args.n)
    opened = open_index(args.index, writable=True, store=args.store) if args.store else open_index(args.index)
    with opened as index:
        stats = index.stats()
        rows = Mixture(stats.images, SEED).rows(args.queries, 10**9)  # held out: not in the index
        hashes = np.random.default_rng(SEED + 1).integers(0, 256, (len(rows), 2, 8), dtype=np.uint8)
        queries = [_descriptor(v, h) for v, h in zip(rows, hashes, strict=True)]
        for q in queries[:50]:  # warm the caches and the memory map
            index.candidates(q, K)
        print(
            f"{args.label or 'run'}: {stats.images} vectors, {stats.index_factory} {stats.search_params}, "
            f"{os.cpu_count()} CPUs, {platform.python_version()}"
        )
        results = []
        for clients in args.clients:
            row = measure(index, queries, clients, args.seconds)
            results.append(row)
            print(
                f"  {clients:>3} clients: {row['rps']:8.1f} req/s  p50 {row['p50_ms']:7.2f} ms  "
                f"p99 {row['p99_ms']:7.2f} ms  ({row['requests']} requests)",
                flush=True,
            )
    print(json.dumps({"label": args.label, "index": stats.index_factory, "results": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
