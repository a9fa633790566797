"""Recall and single-query latency at every rung of the search-parameter ladder, for a build
the scale benchmark saved (``scale --save FOLDER``), so that its latency can be measured
again later (on a quiet machine) without rebuilding or recomputing exact neighbours.

Run: ``python -m lookalike.benchmarks.ladder /work/scale-data/1m-shards`` (every rung), or with
``--params efSearch=128 efSearch=256`` (those rungs only); ``--json`` appends the rows to a file.

The folder holds the index (``shard-<i>.faiss``, one file per shard: :mod:`.shards`),
``probe.npz`` (the held-out queries and their exact top 10, the real edited copies, their
exact top 10 and their originals' ids) and ``build.json`` (what was built, how long it took).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import faiss
import numpy as np

from ..index.tune import Tunable, recall_at_k, search_ladder
from ..index.vectors import FaissVectorStore
from .shards import ShardedStore, read_build
from .speed import percentile_ms

__all__ = ["Probe", "Rung", "main", "original_hits", "rungs", "save_build", "single_seconds"]

K = 10
SHORTLIST = 50
#: Single queries timed per rung: at most this many, or this many seconds.
TIMED = 500
TIME_BOX = 30.0


@dataclass(frozen=True)
class Probe:
    """Queries with known answers: synthetic held-out ``queries`` and their exact top 10
    ``truth``; real edited copies, their exact top 10 and the id of each one's original."""

    queries: np.ndarray
    truth: np.ndarray
    real_queries: np.ndarray
    real_truth: np.ndarray
    originals: np.ndarray

    def save(self, path: Path) -> None:
        np.savez(path, **asdict(self))

    @classmethod
    def load(cls, path: Path) -> Self:
        with np.load(path) as data:
            return cls(**{name: data[name] for name in data.files})


@dataclass(frozen=True)
class Rung:
    params: str
    recall_at_10: float
    recall_10_in_50: float
    real_recall_at_10: float | None
    real_original_at_10: float | None
    p50_ms: float
    p99_ms: float
    timed: int


def single_seconds(store: Tunable, queries: np.ndarray) -> list[float]:
    """Seconds per single query, the caller on one thread (a service answers one request per
    worker; a sharded store's shards still search in their own threads), for up to
    :data:`TIMED` queries or :data:`TIME_BOX` seconds."""
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    single: list[float] = []
    for q in queries[:TIMED]:
        t = time.perf_counter()
        store.search(q[None, :], K)
        single.append(time.perf_counter() - t)
        if sum(single) > TIME_BOX:
            break
    faiss.omp_set_num_threads(threads)
    return single


def original_hits(found: np.ndarray, originals: np.ndarray) -> float:
    """Share of the rows of ``found`` holding their query's original."""
    return float(np.mean([o in row for o, row in zip(originals, found, strict=True)]))


def rungs(store: Tunable, probe: Probe, ladder: Sequence[str] | None = None) -> list[Rung]:
    """Every rung of ``ladder`` (default :func:`search_ladder`): recall@10, the true top 10's
    share of the first 50, the same for the real copies with the share finding their
    original, and single-query latency."""
    out = []
    for params in ladder if ladder is not None else search_ladder(store):
        store.set_search_params(params)
        real = original = None
        if len(probe.real_queries):
            found = store.search(probe.real_queries, K)[1]
            real, original = recall_at_k(found, probe.real_truth, K), original_hits(found, probe.originals)
        single = single_seconds(store, probe.queries)
        out.append(
            Rung(
                params,
                recall_at_k(store.search(probe.queries, K)[1], probe.truth, K),
                recall_at_k(store.search(probe.queries, SHORTLIST)[1], probe.truth, K),
                real,
                original,
                percentile_ms(single, 50),
                percentile_ms(single, 99),
                len(single),
            )
        )
    return out


def table(rows: Sequence[Rung]) -> str:
    lines = ["| params | R@10 | 10@50 | real R@10 | real orig@10 | p50 ms | p99 ms |", "|" + "---|" * 7]
    for r in rows:
        real = "-" if r.real_recall_at_10 is None else f"{r.real_recall_at_10:.3f}"
        orig = "-" if r.real_original_at_10 is None else f"{r.real_original_at_10:.3f}"
        lines.append(
            f"| `{r.params}` | {r.recall_at_10:.3f} | {r.recall_10_in_50:.3f} | {real} | {orig} "
            f"| {r.p50_ms:.2f} | {r.p99_ms:.2f} |"
        )
    return "\n".join(lines)


def save_build(
    folder: Path, store: FaissVectorStore | ShardedStore, probe: Probe, meta: dict[str, Any]
) -> None:
    """Write ``store`` (one file per shard), ``probe`` and ``meta`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(store, ShardedStore):
        store.write(folder)
    else:
        store.write(folder / "shard-0.faiss")
    probe.save(folder / "probe.npz")
    (folder / "build.json").write_text(json.dumps(meta, indent=1) + "\n")


def conditions() -> str:
    """When and under what load a measurement ran (latency depends on both)."""
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"{when}, load average {load}, {os.cpu_count()} cores, faiss {faiss.__version__}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("folder", type=Path, help="a build saved by scale --save")
    parser.add_argument(
        "--params", nargs="*", default=None, help="rungs to measure (default: the whole ladder)"
    )
    parser.add_argument("--mmap", action="store_true", help="map the index files instead of loading them")
    parser.add_argument("--json", type=Path, default=None, help="append the rows here as JSON lines")
    args = parser.parse_args(argv)
    meta = json.loads((args.folder / "build.json").read_text())
    store = read_build(args.folder, meta["factory"], mmap=args.mmap)
    probe = Probe.load(args.folder / "probe.npz")
    built = f"{meta['n']:,} x `{meta['factory']}`, {meta['shards']} shard(s)"
    header = f"# ladder: {args.folder} ({built}); {conditions()}"
    print(header, flush=True)
    rows = rungs(store, probe, args.params)
    if args.json:
        with args.json.open("a") as fh:
            for row in rows:
                fh.write(json.dumps({"measured": header, **asdict(row)}) + "\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
