"""Scale of the vector index: build time, bytes per vector, top-10 latency and recall@10
against exact search, for each kind of FAISS index lookalike may choose, at several sizes.

Run: ``python -m lookalike.benchmarks.scale --sizes 100000 1000000 --real /tmp/devcorpus/images
--out benchmarks/RESULTS-scale.md``.

The base is synthetic clustered unit vectors (512-d, generated in chunks from a seed), with
the SSCD descriptors of real photos mixed in when ``--real`` names folders. Queries are
held out (not in the index): fresh points of the same clusters, and SSCD descriptors of
three edited copies of each real photo (mirror, crop, JPEG: :mod:`.realistic`), whose
recall is reported apart. ``--build-params`` sets FAISS parameters before the vectors are
added (``efConstruction=200`` for a graph, ``k_factor_rf=8`` for a refine step). Each
approximate index's search parameter is the cheapest rung of the tuning ladder that reaches
the recall target on the synthetic queries; every figure is measured in the same process
against the exact index built from the same vectors.

``--shards N`` builds each factory as N indexes over contiguous id ranges, searched as one
by ``faiss.IndexShards`` (:mod:`.shards`; one thread per shard inside each single query,
whose latency is still timed one query at a time). ``--save FOLDER`` (one size, one
``--only`` factory) keeps the build with its queries and exact answers, and measures recall
and latency at every rung of the ladder; ``python -m lookalike.benchmarks.ladder FOLDER``
measures them again from those files (:mod:`.ladder`), e.g. on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Protocol, TypeAlias

import faiss
import numpy as np

from ..embed.base import l2_normalise
from ..index.build import build_store
from ..index.choose import choose_index
from ..index.tune import climb, exact_neighbours, recall_at_k
from ..index.vectors import FaissVectorStore
from .ladder import (
    SHORTLIST,
    TIME_BOX,
    K,
    Probe,
    conditions,
    original_hits,
    rungs,
    save_build,
    single_seconds,
)
from .ladder import table as rung_table
from .realistic import Fitted, RealSet, real_descriptors
from .shards import ShardedStore, build_shards
from .speed import percentile_ms

__all__ = ["Mixture", "ScaleRow", "main"]

#: An unsharded store or shards searched as one (:mod:`.shards`).
Store: TypeAlias = FaissVectorStore | ShardedStore

DIM = 512
CHUNK = 50_000
COPY_TARGET = 0.99  # what Engine.search asks the vector index for before exact re-scoring


@dataclass(frozen=True)
class ScaleRow:
    n: int
    factory: str
    build_s: float
    train_size: int
    bytes_per_vector: float
    search_params: str
    recall_at_10: float
    recall_10_in_50: float
    real_recall_at_10: float | None
    #: Real queries whose original photo is among the 10 found (what copy detection needs).
    real_original_at_10: float | None
    #: The cheapest rung that reaches the target on the real queries, and its recall.
    real_params: str | None
    real_params_recall: float | None
    p50_ms: float
    p99_ms: float
    batch64_p50_ms: float
    batch64_p99_ms: float
    load_s: float
    mmap_load_s: float
    #: Copy detection's operating point: the cheapest rung finding the original of
    #: :data:`COPY_TARGET` of the real edited copies, and the single-query p50 there.
    copy_params: str | None = None
    copy_original_at_10: float | None = None
    copy_p50_ms: float | None = None


class Mixture:
    """Synthetic descriptors with nested structure, as real ones have: n/1000 themes, n/100
    topics within them, n/10 products within those, and each vector a noisy view of a
    product. The spreads were set so that the ten nearest neighbours are about as far
    (cosine ~0.3) as those of real SSCD descriptors of unrelated photos, and an inverted file
    needs tens of probes for 0.95 recall@10 (isotropic blobs make IVF trivially exact).

    The noise is full-rank (every direction as likely) unless ``shape`` is given: then the
    themes are drawn from it and every step's noise has its covariance (the real
    descriptors' spectrum, :class:`~lookalike.benchmarks.realistic.Fitted`)."""

    SPREADS = (3.0, 2.0, 1.0)

    def __init__(self, n: int, seed: int, shape: Fitted | None = None, cache: Path | None = None) -> None:
        self.shape = shape
        self.seed = seed
        if cache is not None and cache.exists():
            # Processes generating one set in parallel share the leaves through the page cache.
            self.leaves: np.ndarray = np.load(cache, mmap_mode="r")
            return
        rng = np.random.default_rng(seed)
        themes = max(1, n // 1000)
        centres = shape.rows(themes, 2**62) if shape else l2_normalise(self._noise(rng, themes))
        for count, spread in zip((max(1, n // 100), max(1, n // 10)), self.SPREADS, strict=False):
            parents = rng.integers(0, len(centres), count)
            # Half precision, a block at a time: the million leaves of a 10M set take 1 GB.
            level = np.empty((count, DIM), dtype=np.float16)
            for lo in range(0, count, CHUNK):
                block = parents[lo : lo + CHUNK]
                noise = spread / np.sqrt(DIM) * self._noise(rng, len(block))
                level[lo : lo + CHUNK] = l2_normalise(centres[block].astype(np.float32) + noise)
            centres = level
        self.leaves = centres.astype(np.float16)
        if cache is not None:
            np.save(cache, self.leaves)

    def _noise(self, rng: np.random.Generator, count: int) -> np.ndarray:
        if self.shape is not None:
            return self.shape.noise(rng, count)
        return rng.standard_normal((count, DIM), dtype=np.float32)

    def rows(self, count: int, start: int) -> np.ndarray:
        """Rows ``start .. start+count``; they depend on (seed, start) only, so chunks compose."""
        rng = np.random.default_rng([self.seed, start])
        leaves = self.leaves[rng.integers(0, len(self.leaves), count)].astype(np.float32)
        return l2_normalise(leaves + self._noise(rng, count) * np.float32(self.SPREADS[2] / np.sqrt(DIM)))


class Rows(Protocol):
    """A synthetic source: rows ``start .. start+count`` that depend on (seed, start) only."""

    def rows(self, count: int, start: int) -> np.ndarray: ...


class Base:
    """The indexed vectors: synthetic chunks, with real descriptors spread through them."""

    def __init__(self, n: int, synthetic: Rows, real: np.ndarray) -> None:
        self.n = n
        self.mixture = synthetic
        self.real = real
        # Real rows take evenly spread ids so that every IVF sample and chunk sees some.
        self.real_ids = np.linspace(0, n - 1, len(self.real)).astype(np.int64)

    def batches(self, stop: int | None = None, first: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids, vectors) chunks of rows ``first`` (a multiple of :data:`CHUNK`) to ``stop``
        (the end by default)."""
        end = self.n if stop is None else min(stop, self.n)
        for start in range(first, end, CHUNK):
            count = min(CHUNK, end - start)
            rows = self.mixture.rows(count, start)
            ids = np.arange(start, start + count, dtype=np.int64)
            inside = (self.real_ids >= start) & (self.real_ids < start + count)
            rows[self.real_ids[inside] - start] = self.real[inside]
            yield ids, rows

    def queries(self, count: int) -> np.ndarray:
        """Held-out rows of the synthetic source (past every indexed row)."""
        return self.mixture.rows(count, self.n + 10**9)


def _latencies(store: Store, queries: np.ndarray) -> tuple[float, float, float, float]:
    """Single queries (:func:`~.ladder.single_seconds`), and batches of 64 on all threads."""
    single = single_seconds(store, queries)
    batched: list[float] = []
    for start in range(0, len(queries) - 63, 64):
        t = time.perf_counter()
        store.search(queries[start : start + 64], K)
        batched.append(time.perf_counter() - t)
        if sum(batched) > TIME_BOX:
            break
    return (
        percentile_ms(single, 50),
        percentile_ms(single, 99),
        percentile_ms(batched, 50),
        percentile_ms(batched, 99),
    )


def _load_times(store: Store, factory: str, params: str) -> tuple[int, float, float]:
    """File size (all shards'), and seconds to load it copied and memory-mapped."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "v"
        store.write(path)
        times = []
        for mmap in (False, True):
            t = time.perf_counter()
            type(store).read(path, factory, params, mmap=mmap)
            times.append(time.perf_counter() - t)
        size = sum(f.stat().st_size for f in [path, *path.glob("*")] if f.is_file())
        return size, times[0], times[1]


def measure(
    base: Base,
    factory: str,
    train_size: int,
    build_params: str,
    queries: np.ndarray,
    truth: np.ndarray,
    real_queries: np.ndarray,
    real_truth: np.ndarray,
    originals: np.ndarray,
    target: float,
    shards: int = 1,
) -> tuple[ScaleRow, Store]:
    """The row of ``factory`` built over ``base`` (in ``shards`` id ranges searched as one when
    more than one), and the store."""
    start = time.perf_counter()
    store: Store
    if shards > 1:
        store, trained_on = build_shards(factory, DIM, base.batches, base.n, shards, train_size, build_params)
    else:
        store, report = build_store(factory, DIM, base.batches, train_size, search_params=build_params)
        trained_on = report.train_size
    build_s = time.perf_counter() - start
    params, recall = climb(store, lambda: recall_at_k(store.search(queries, K)[1], truth, K), target)
    in50 = recall_at_k(store.search(queries, SHORTLIST)[1], truth, K)
    real = original = real_params = real_recall = copy_params = copy_hit = copy_p50 = None

    def originals_found() -> float:
        return original_hits(store.search(real_queries, K)[1], originals)

    if len(real_queries):
        real = recall_at_k(store.search(real_queries, K)[1], real_truth, K)
        original = originals_found()
        real_params, real_recall = climb(
            store, lambda: recall_at_k(store.search(real_queries, K)[1], real_truth, K), target
        )
        copy_params, copy_hit = climb(store, originals_found, COPY_TARGET)
        copy_p50 = percentile_ms(single_seconds(store, queries), 50)
        store.set_search_params(params)
    p50, p99, b50, b99 = _latencies(store, queries)
    size, load, mmap_load = _load_times(store, factory, params)
    row = ScaleRow(
        base.n,
        factory if shards == 1 else f"{shards} x {factory}",
        build_s,
        trained_on,
        size / base.n,
        params,
        recall,
        in50,
        real,
        original,
        real_params,
        real_recall,
        p50,
        p99,
        b50,
        b99,
        load,
        mmap_load,
        copy_params,
        copy_hit,
        copy_p50,
    )
    return row, store


def factories(n: int) -> list[tuple[str, int]]:
    """(factory, training size): exact, the automatic choice at a roomy and at a tight
    memory budget, and the inverted-file indexes between them."""
    roomy = choose_index(n, DIM, 8 << 30)
    tight = choose_index(n, DIM, n * 128)  # the compressed mode: <= 128 bytes per vector
    nlist = int(tight.factory.split("IVF")[1].split(",")[0].split("_")[0])
    ivf_train = min(n, 64 * nlist)
    out = [("IDMap2,Flat", 0), (roomy.factory, roomy.train_size), (f"IVF{nlist},Flat", ivf_train)]
    out += [(f"IVF{nlist},SQ8", ivf_train), (tight.factory, tight.train_size)]
    return list(dict.fromkeys(out))


def _train_size(factory: str, n: int) -> int:
    """64 vectors per inverted list, or 65,536 for a code that trains without lists (SQ, PQ)."""
    nlist = re.findall(r"IVF(\d+)", factory)
    return min(n, 64 * int(nlist[0]) if nlist else 65_536)


def main(argv: Sequence[str] | None = None) -> int:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--target", type=float, default=0.95)
    parser.add_argument(
        "--real", type=Path, nargs="*", default=[], help="folders of real photos to mix in (SSCD)"
    )
    cache = Path(tempfile.gettempdir()) / "lookalike-scale-real-sscd.npz"
    parser.add_argument("--cache", type=Path, default=cache, help="where the real descriptors are cached")
    parser.add_argument("--only", nargs="*", default=None, help="factories to run (default: all)")
    parser.add_argument("--extra", nargs="*", default=[], help="more factories to run, trained on 64 x nlist")
    parser.add_argument(
        "--build-params",
        default="",
        help="FAISS parameters set before adding (e.g. efConstruction=200 for HNSW graphs)",
    )
    parser.add_argument("--out", type=Path, default=None, help="append a markdown table here")
    parser.add_argument("--json", type=Path, default=None, help="append JSON rows here")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--max-train", type=int, default=None, help="cap training samples (k-means time grows with them)"
    )
    parser.add_argument(
        "--shards", type=int, default=1, help="split the vectors into this many indexes searched as one"
    )
    parser.add_argument(
        "--save",
        type=Path,
        default=None,
        help="write the build, its queries and their exact answers here, and measure every rung "
        "(one size and one --only factory); re-measure later with python -m lookalike.benchmarks.ladder",
    )
    args = parser.parse_args(argv)
    if args.save and (len(args.sizes) != 1 or not args.only or len(args.only) != 1):
        parser.error("--save takes one size and one --only factory")

    real = real_descriptors(args.real, args.cache) if args.real else RealSet.empty(DIM)
    real_edited = real.copies
    command = sys.argv[1:] if argv is None else argv
    header = (
        f"# scale: `python -m lookalike.benchmarks.scale {' '.join(command)}`; "
        f"2-core {platform.machine()} VM, 24 GiB; faiss {faiss.__version__}, "
        f"{faiss.omp_get_max_threads()} threads; "
        f"{date.today()}; {len(real_edited)} real SSCD queries"
    )
    print(header, flush=True)
    rows: list[ScaleRow] = []
    for n in args.sizes:
        base = Base(n, Mixture(n, args.seed), real.base)
        queries = base.queries(args.queries)
        _, truth = exact_neighbours(queries, base.batches(), K)
        real_truth = exact_neighbours(real_edited, base.batches(), K)[1] if len(real_edited) else truth[:0]
        extra = [(f, _train_size(f, n)) for f in args.extra]
        for factory, train in factories(n) + extra:
            if args.only and factory not in args.only:
                continue
            train = min(train, args.max_train or train)
            originals = base.real_ids[real.owner]
            row, store = measure(
                base,
                factory,
                train,
                args.build_params,
                queries,
                truth,
                real_edited,
                real_truth,
                originals,
                args.target,
                args.shards,
            )
            rows.append(row)
            print(json.dumps(asdict(row)), flush=True)
            if args.json:
                with args.json.open("a") as fh:
                    fh.write(json.dumps(asdict(row)) + "\n")
            if args.save:
                probe = Probe(queries, truth, real_edited, real_truth, originals)
                _save_and_climb(args.save, store, probe, row, args, header)
    if args.out:
        with args.out.open("a") as fh:
            fh.write(header + "\n\n" + table(rows) + "\n")
    print(table(rows))
    return 0


def _save_and_climb(
    folder: Path, store: Store, probe: Probe, row: ScaleRow, args: argparse.Namespace, header: str
) -> None:
    """Save the build for :mod:`.ladder` and measure every rung of it now (rungs.jsonl)."""
    meta = {"factory": args.only[0], "n": row.n, "shards": args.shards, "seed": args.seed}
    save_build(
        folder, store, probe, meta | {"build_params": args.build_params, "row": asdict(row), "run": header}
    )
    measured = f"{header}; {conditions()}"
    steps = rungs(store, probe)
    with (folder / "rungs.jsonl").open("a") as fh:
        fh.writelines(json.dumps({"measured": measured, **asdict(step)}) + "\n" for step in steps)
    print(rung_table(steps), flush=True)


def table(rows: Sequence[ScaleRow]) -> str:
    lines = [
        "| n | factory | build s | B/vec | params | R@10 | 10@50 | real R@10 | real orig@10 "
        "| real params (R@10) | copy params (orig@10, p50 ms) | p50 ms | p99 ms | batch64 p50 ms "
        "| batch64 p99 ms | load s | mmap load s |",
        "|" + "---|" * 17,
    ]
    for r in rows:
        real = orig = tuned = copy = "-"
        if r.real_recall_at_10 is not None:
            real, orig = f"{r.real_recall_at_10:.3f}", f"{r.real_original_at_10:.3f}"
            tuned = f"`{r.real_params}` ({r.real_params_recall:.3f})"
        if r.copy_p50_ms is not None:
            copy = f"`{r.copy_params}` ({r.copy_original_at_10:.3f}, {r.copy_p50_ms:.2f})"
        lines.append(
            f"| {r.n:,} | `{r.factory}` | {r.build_s:.1f} | {r.bytes_per_vector:.0f} | `{r.search_params}` "
            f"| {r.recall_at_10:.3f} | {r.recall_10_in_50:.3f} | {real} | {orig} | {tuned} | {copy} "
            f"| {r.p50_ms:.2f} | {r.p99_ms:.2f} "
            f"| {r.batch64_p50_ms:.1f} | {r.batch64_p99_ms:.1f} | {r.load_s:.2f} | {r.mmap_load_s:.3f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
