"""Two replicas over one shared catalog in a Milvus server: ingest throughput, how soon one
replica sees what the other wrote, and search latency against a local folder.

Start a server first (the embedded one that ``make install`` brings, or any Milvus 2.3+)::

    python -c "from milvus import default_server as s; s.set_base_dir('/tmp/mv'); \\
        s.listen_port = 19530; s.start(); input('serving; Enter stops it')"
    python -m lookalike.benchmarks.replicas --server 127.0.0.1:19530 --n 5000

Replica A ingests ``--n`` synthetic descriptors (the scale benchmark's nested clusters, 512-d,
random hashes, no keypoints) in batches of 100; a local FAISS folder gets the same. Then:

* **visibility**: ``--probes`` single-image writes through A, each followed at once by a read
  of that id through B, at ``Strong`` and at ``Bounded`` consistency: how many reads missed the
  write, and how long until B saw it;
* **search**: ``Index.candidates(query, 50)`` (vector top-50, hash top-50, their rows) from
  one thread through B (Strong, Bounded) and through the local folder, p50/p99 over
  ``--queries`` held-out queries.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np

from ..embed.descriptor import Descriptor, LocalFeatures
from ..errors import ItemNotFoundError
from ..index.catalog import NewItem
from ..index.opener import create_index
from ..index.reference import ReferenceIndex
from .concurrency import INFO, SEED, K
from .scale import Mixture

__all__ = ["main"]


def _descriptor(vector: np.ndarray, hashes: np.ndarray) -> Descriptor:
    return Descriptor(vector, hashes[0], hashes[1], LocalFeatures.empty())


def _items(vectors: np.ndarray, hashes: np.ndarray, start: int, prefix: str = "r") -> list[NewItem]:
    return [
        NewItem(f"{prefix}{start + i}", _descriptor(v, h), f"sha{prefix}{start + i}", 1, 1)
        for i, (v, h) in enumerate(zip(vectors, hashes, strict=True))
    ]


def _fill(index: ReferenceIndex, mixture: Mixture, n: int, rng: np.random.Generator) -> float:
    """Seconds to add ``n`` descriptors in batches of 100."""
    start = time.perf_counter()
    for lo in range(0, n, 100):
        vectors = mixture.rows(min(100, n - lo), lo)
        hashes = rng.integers(0, 256, (len(vectors), 2, 8), dtype=np.uint8)
        index.add(_items(vectors, hashes, lo))
    return time.perf_counter() - start


def _visibility(writer: ReferenceIndex, reader: ReferenceIndex, probes: int, tag: str) -> dict[str, float]:
    rng = np.random.default_rng(SEED)
    missed, waits = 0, []
    for p in range(probes):
        v = rng.standard_normal((1, 512)).astype(np.float32)
        v /= np.linalg.norm(v)
        item = _items(v, rng.integers(0, 256, (1, 2, 8), dtype=np.uint8), p, prefix=f"probe-{tag}-")[0]
        writer.add([item])
        acked = time.perf_counter()
        first = True
        while True:
            try:
                reader.get(item.external_id)
                break
            except ItemNotFoundError:
                missed += first
                first = False
                time.sleep(0.005)
        waits.append(time.perf_counter() - acked)
    return {"probes": probes, "missed_first_read": missed, "max_s_to_visible": round(max(waits), 3)}


def _latency(index: ReferenceIndex, queries: np.ndarray) -> dict[str, float]:
    rng = np.random.default_rng(SEED + 1)
    times = []
    for q in queries:
        d = _descriptor(q, rng.integers(0, 256, (2, 8), dtype=np.uint8))
        start = time.perf_counter()
        index.candidates(d, K)
        times.append(time.perf_counter() - start)
    ms = np.array(times) * 1000
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--server", required=True, help="host:port of a Milvus server")
    p.add_argument("--n", type=int, default=5000)
    p.add_argument("--probes", type=int, default=50)
    p.add_argument("--queries", type=int, default=200)
    args = p.parse_args(argv)
    name = f"bench{uuid.uuid4().hex[:8]}"
    mixture = Mixture(args.n, SEED)
    queries = mixture.rows(args.queries, args.n + 10**9)
    report: dict[str, object] = {"n": args.n, "catalog": name}
    with TemporaryDirectory() as tmp:
        root = Path(tmp)
        strong = f"milvus://{args.server}/{name}"
        with (
            create_index(root / "a", INFO, store=strong) as a,
            create_index(root / "b", INFO, store=strong) as b,
            create_index(root / "b-bounded", INFO, store=f"{strong}?consistency=Bounded") as bounded,
            create_index(root / "local", INFO) as local,
        ):
            report["ingest_shared_s"] = round(_fill(a, mixture, args.n, np.random.default_rng(SEED)), 2)
            report["ingest_local_s"] = round(_fill(local, mixture, args.n, np.random.default_rng(SEED)), 2)
            local.save()
            report["visibility_strong"] = _visibility(a, b, args.probes, "strong")
            report["visibility_bounded"] = _visibility(a, bounded, args.probes, "bounded")
            report["search_strong"] = _latency(b, queries)
            report["search_bounded"] = _latency(bounded, queries)
            report["search_local"] = _latency(local, queries)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
