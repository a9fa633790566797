"""Ten million references on one machine: an inverted file with 4-bit PQ fast-scan codes,
built by streaming the vectors in chunks, searched from another process.

Run: ``python -m lookalike.benchmarks.scale10m run --n 10000000 --real PHOTOS DEV
--cache /work/scale-data/real.npz --out /work/scale-data/10m``.

The base is the real photos' SSCD descriptors at evenly spread ids, the rest synthetic:
nested clusters whose noise has the real descriptors' spectrum (``--synthetic shaped``,
:class:`~lookalike.benchmarks.realistic.Fitted`), the same with full-rank noise (``mixture``,
the worst case) or the fitted Gaussian alone (``gaussian``). Queries are held out: fresh
synthetic rows, and an edited copy (mirror, crop, JPEG) of every real photo.

``run`` does the steps in their own processes, so that each peak of memory is its own:
``--parts`` processes ``write`` the descriptor store (float16 on disk, what the catalog keeps
and re-scores shortlists from) and the exact top 10 of a sample of queries among their rows
(``faiss.contrib``'s chunked brute force), while ``train`` trains the empty index on the first
rows; then ``build`` adds the store to it a chunk at a time (memory: the index plus one
chunk), and ``search`` loads the index and, for each rung of the tuning ladder, measures
recall@10 against exact search, the share of the true top 10 in the 50 (and 200) that
``Engine.search`` would re-score exactly, the copy-detection operating point (the original of
each edited copy among the 10 found), and single-query latency on one thread, with and
without re-scoring 50 candidates from the store.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import faiss
import numpy as np

from ..index.build import train_store
from ..index.choose import index_kind
from ..index.tune import exact_neighbours, recall_at_k, search_ladder
from ..index.vectors import FaissVectorStore
from .fastscan import merge_lists
from .memory import anon_rss_bytes, peak_rss_bytes
from .realistic import Fitted, RealSet, real_descriptors
from .scale import CHUNK, DIM, Base, Mixture, Rows

__all__ = ["BuildFigures", "Rung", "build", "main", "search"]

K = 10
SHORTLIST = 50  # what Engine.search re-scores exactly
LONG_SHORTLIST = 200  # what a longer re-scored shortlist would recover
LATENCY_QUERIES = 300
#: A rung slower than this ends the ladder (the goal is 10 ms), and so does the twelfth
#: (nprobe 2048: an eighth of 16,384 lists, past any single-digit-millisecond budget).
SLOWEST_MS = 60.0
MAX_RUNGS = 12
FACTORY = "IVF16384_HNSW32,PQ64x4fs"


@dataclass(frozen=True)
class BuildFigures:
    n: int
    factory: str
    synthetic: str
    real_photos: int
    train_size: int
    train_s: float
    #: Seconds spent adding, summed over the parts, and the wall time of adding them in
    #: parallel then merging.
    add_s: float
    add_wall_s: float
    index_bytes: int
    bytes_per_vector: float
    store_bytes: int
    #: The larger of the training and the adding process's peaks.
    peak_rss: int
    #: A process writing part of the descriptor store and its exact neighbours (benchmark
    #: work, not build work).
    writer_peak_rss: int


@dataclass(frozen=True)
class Rung:
    params: str
    recall_at_10: float
    #: Share of the true top 10 inside the top 50: recall@10 once they are re-scored exactly.
    recall_10_in_50: float
    recall_10_in_200: float
    real_recall_at_10: float
    real_recall_10_in_50: float
    #: Edited copies whose original photo is among the 10 found (copy detection's recall).
    original_at_10: float
    p50_ms: float
    p99_ms: float
    rescored_p50_ms: float
    rescored_p99_ms: float


class Layout:
    """The files of one run under ``out``."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.index = out / "index.faiss"
        self.store = out / "descriptors.f16"
        self.truth = out / "truth.npz"
        self.build = out / "build.json"
        self.search = out / "search.json"
        self.trained = out / "trained.faiss"
        self.trained_json = out / "trained.json"
        self.leaves = out / "leaves.npy"

    def truth_part(self, part: int) -> Path:
        return self.out / f"truth-{part}.npz"

    def shard(self, part: int) -> Path:
        return self.out / f"shard-{part}.faiss"


#: The synthetic sets: nested clusters shaped by the real spectrum, the same with full-rank
#: noise (the worst case), and the fitted Gaussian alone (no neighbourhoods at all).
SYNTHETIC = ("shaped", "mixture", "gaussian")


def _source(kind: str, n: int, real: RealSet, seed: int, leaves: Path) -> Rows:
    if kind == "mixture":
        return Mixture(n, seed, cache=leaves)
    fitted = Fitted(np.concatenate([real.base, real.copies]), seed)
    return fitted if kind == "gaussian" else Mixture(n, seed, fitted, leaves)


def _queries(base: Base, real: RealSet, count: int) -> np.ndarray:
    """The queries whose exact neighbours are computed: ``count`` synthetic rows, then up to
    ``count`` edited copies (spread over the edits)."""
    step = max(1, len(real.copies) // count)
    return np.concatenate([base.queries(count), real.copies[::step][:count]])


def _setup(args: argparse.Namespace) -> tuple[RealSet, Base]:
    real = real_descriptors(args.real, args.cache) if args.real else RealSet.empty(DIM)
    leaves = Layout(args.out).leaves
    return real, Base(args.n, _source(args.synthetic, args.n, real, args.seed, leaves), real.base)


def _part_range(n: int, part: int, parts: int) -> tuple[int, int]:
    """Rows of part ``part`` of ``parts``: whole chunks, since rows depend on their chunk."""
    chunks = -(-n // CHUNK)
    lo, hi = part * chunks // parts, (part + 1) * chunks // parts
    return lo * CHUNK, min(n, hi * CHUNK)


def write_part(args: argparse.Namespace) -> None:
    """Rows of one part into the descriptor store (float16: what the vectors are from then
    on), and the exact top 10 of the queries among them."""
    layout = Layout(args.out)
    real, base = _setup(args)
    lo, hi = _part_range(args.n, args.part, args.parts)
    descriptors = np.load(layout.store, mmap_mode="r+")

    def written() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for ids, rows in base.batches(hi, lo):
            descriptors[ids[0] : ids[-1] + 1] = rows
            yield ids, descriptors[ids[0] : ids[-1] + 1].astype(np.float32)

    scores, ids = exact_neighbours(_queries(base, real, args.truth_queries), written(), K)
    descriptors.flush()
    np.savez(layout.truth_part(args.part), scores=scores, ids=ids, peak_rss=peak_rss_bytes())


def train(args: argparse.Namespace) -> None:
    """Train the empty index on the first rows. Synthetic rows are drawn independently and
    real ones are spread evenly, so the first rows are a uniform sample."""
    _, base = _setup(args)
    sample = np.concatenate([rows for _, rows in base.batches(args.train)])
    store = FaissVectorStore(DIM, args.factory)
    start = time.perf_counter()
    train_store(store, sample)
    seconds = time.perf_counter() - start
    store.write(Layout(args.out).trained)
    Layout(args.out).trained_json.write_text(json.dumps({"train_s": seconds, "peak_rss": peak_rss_bytes()}))


def add_part(args: argparse.Namespace) -> None:
    """Add one part of the descriptor store to a copy of the trained index, a chunk at a
    time, and write it as a shard (the parts add in parallel processes, then merge)."""
    layout = Layout(args.out)
    store = FaissVectorStore.read(layout.trained, args.factory)
    lo, hi = _part_range(args.n, args.part, args.parts)
    offset = np.load(layout.store, mmap_mode="r").offset
    add_s = 0.0
    # Read, not mapped: mapped pages would count in this process's peak memory (VmHWM).
    with layout.store.open("rb") as fh:
        fh.seek(offset + lo * DIM * 2)
        for start in range(lo, hi, CHUNK):
            count = min(CHUNK, hi - start)
            rows = np.fromfile(fh, np.float16, count * DIM).reshape(count, DIM).astype(np.float32)
            t = time.perf_counter()
            store.add(np.arange(start, start + count, dtype=np.int64), rows)
            add_s += time.perf_counter() - t
    store.write(layout.shard(args.part))
    layout.shard(args.part).with_suffix(".json").write_text(
        json.dumps({"add_s": add_s, "peak_rss": peak_rss_bytes()})
    )


def build(args: argparse.Namespace) -> BuildFigures:
    """Merge the shards into one index, and the parts' exact neighbours into one top 10."""
    layout = Layout(args.out)
    # Not _setup(): merging crashed FAISS in a process that had fitted the synthetic set.
    real = real_descriptors(args.real, args.cache) if args.real else RealSet.empty(DIM)
    trained = json.loads(layout.trained_json.read_text())
    shards = sorted(args.out.glob("shard-*.faiss"))
    added = [json.loads(p.with_suffix(".json").read_text()) for p in shards]
    start = time.perf_counter()
    store = FaissVectorStore.read(layout.trained, args.factory)
    filled = [faiss.read_index(str(shard)) for shard in shards]
    if index_kind(args.factory) == "ivf":
        merge_lists(store.faiss_index, filled)
    else:
        for part in filled:
            store.faiss_index.merge_from(part, 0)
    merge_s = time.perf_counter() - start
    store.write(layout.index)
    parts = [np.load(p) for p in sorted(args.out.glob("truth-*.npz"))]
    scores = np.concatenate([p["scores"] for p in parts], axis=1)
    ids = np.concatenate([p["ids"] for p in parts], axis=1)
    best = np.argsort(-scores, axis=1, kind="stable")[:, :K]
    np.savez(layout.truth, truth=np.take_along_axis(ids, best, axis=1), synthetic=args.truth_queries)
    size = layout.index.stat().st_size
    figures = BuildFigures(
        args.n,
        args.factory,
        args.synthetic,
        len(real.base),
        min(args.train, args.n),
        trained["train_s"],
        sum(a["add_s"] for a in added),
        max(a["add_s"] for a in added) + merge_s,
        size,
        size / args.n,
        layout.store.stat().st_size,
        max([peak_rss_bytes(), trained["peak_rss"], *(a["peak_rss"] for a in added)]),
        max(int(p["peak_rss"]) for p in parts),
    )
    layout.build.write_text(json.dumps(asdict(figures), indent=1))
    return figures


class Rescorer:
    """Re-scores a shortlist exactly against the descriptor store (memory-mapped from disk)."""

    def __init__(self, store: FaissVectorStore, path: Path) -> None:
        self.store = store
        self.descriptors = np.load(path, mmap_mode="r")

    def search(self, queries: np.ndarray, k: int) -> np.ndarray:
        _, ids = self.store.search(queries, SHORTLIST)
        out = np.full((len(queries), k), -1, dtype=np.int64)
        for row, (q, found) in enumerate(zip(queries, ids, strict=True)):
            found = found[found >= 0]
            order = np.sort(found)  # sorted reads: fewer seeks on a cold store
            scores = self.descriptors[order].astype(np.float32) @ q
            out[row, : min(k, len(order))] = order[np.argsort(-scores)[:k]]
        return out


def _timed(call: object, queries: np.ndarray) -> tuple[float, float]:
    """p50 and p99 ms of single queries on one thread."""
    assert callable(call)
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    seconds = []
    for q in queries[:LATENCY_QUERIES]:
        t = time.perf_counter()
        call(q[None, :], K)
        seconds.append(time.perf_counter() - t)
    faiss.omp_set_num_threads(threads)
    ms = np.asarray(seconds) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def search(args: argparse.Namespace) -> list[Rung]:
    layout = Layout(args.out)
    figures = json.loads(layout.build.read_text())
    real = real_descriptors(args.real, args.cache) if args.real else RealSet.empty(DIM)
    n = figures["n"]
    base = Base(n, _source(figures["synthetic"], n, real, args.seed, layout.leaves), real.base)
    saved = np.load(layout.truth)
    synthetic = int(saved["synthetic"])
    queries = _queries(base, real, synthetic)
    truth = saved["truth"]
    store = FaissVectorStore.read(layout.index, figures["factory"])
    rescorer = Rescorer(store, layout.store)
    originals = base.real_ids[real.owner]
    rungs: list[Rung] = []
    for params in search_ladder(store):
        store.set_search_params(params)
        found = store.search(queries, LONG_SHORTLIST)[1]
        synth, rl = slice(0, synthetic), slice(synthetic, None)
        copies_found = store.search(real.copies, K)[1]
        hit = float(np.mean([o in row for o, row in zip(originals, copies_found, strict=True)]))
        p50, p99 = _timed(store.search, real.copies)
        r50, r99 = _timed(rescorer.search, real.copies)
        rung = Rung(
            params,
            recall_at_k(found[synth, :K], truth[synth], K),
            recall_at_k(found[synth, :SHORTLIST], truth[synth], K),
            recall_at_k(found[synth], truth[synth], K),
            recall_at_k(found[rl, :K], truth[rl], K) if len(real.copies) else float("nan"),
            recall_at_k(found[rl, :SHORTLIST], truth[rl], K) if len(real.copies) else float("nan"),
            hit if len(real.copies) else float("nan"),
            p50,
            p99,
            r50,
            r99,
        )
        rungs.append(rung)
        print(json.dumps(asdict(rung)), flush=True)
        if (
            rung.recall_10_in_50 >= args.stop_at
            or rung.rescored_p50_ms > SLOWEST_MS
            or len(rungs) == MAX_RUNGS
        ):
            break
    report = {"peak_rss": peak_rss_bytes(), "anon_rss": anon_rss_bytes(), "rungs": [asdict(r) for r in rungs]}
    layout.search.write_text(json.dumps(report, indent=1))
    return rungs


def table(figures: dict[str, float], rungs: Sequence[dict[str, float]]) -> str:
    lines = [
        "| params | R@10 | 10@50 | 10@200 | real R@10 | real 10@50 | orig@10 "
        "| p50 ms | p99 ms | re-scored p50 ms | re-scored p99 ms |",
        "|" + "---|" * 11,
    ]
    for r in rungs:
        lines.append(
            f"| `{r['params']}` | {r['recall_at_10']:.3f} | {r['recall_10_in_50']:.3f} "
            f"| {r['recall_10_in_200']:.3f} "
            f"| {r['real_recall_at_10']:.3f} | {r['real_recall_10_in_50']:.3f} | {r['original_at_10']:.3f} "
            f"| {r['p50_ms']:.2f} | {r['p99_ms']:.2f} "
            f"| {r['rescored_p50_ms']:.2f} | {r['rescored_p99_ms']:.2f} |"
        )
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("step", choices=("write", "train", "add", "build", "search", "run"))
    parser.add_argument("--out", type=Path, required=True, help="folder for the index and the figures")
    parser.add_argument("--n", type=int, default=10_000_000)
    parser.add_argument("--factory", default=FACTORY)
    parser.add_argument("--train", type=int, default=262_144, help="training rows (the first ones)")
    parser.add_argument("--synthetic", choices=SYNTHETIC, default=SYNTHETIC[0])
    parser.add_argument("--real", type=Path, nargs="*", default=[], help="folders of real photos (SSCD)")
    parser.add_argument("--cache", type=Path, required=True, help="where the real descriptors are cached")
    parser.add_argument(
        "--truth-queries", type=int, default=300, help="synthetic and real queries with exact truth"
    )
    parser.add_argument(
        "--stop-at", type=float, default=0.99, help="end the ladder at this 10@50 (synthetic)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--parts", type=int, default=4, help="processes writing the store, then adding it")
    parser.add_argument("--part", type=int, default=0, help="(write) which part")
    return parser


def _step(step: str, raw: Sequence[str], *more: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "lookalike.benchmarks.scale10m", step, *raw, *more])


def prepare(args: argparse.Namespace) -> None:
    """The empty descriptor store, and the synthetic set's leaves made once for every process."""
    args.out.mkdir(parents=True, exist_ok=True)
    np.lib.format.open_memmap(Layout(args.out).store, "w+", np.float16, (args.n, DIM)).flush()
    _setup(args)


def run(args: argparse.Namespace, raw: Sequence[str]) -> None:
    """The store's parts and the training in parallel processes, then the adding ones, then
    the merge, then the search."""
    layout = Layout(args.out)
    prepare(args)
    first = [_step("write", raw, "--part", str(p)) for p in range(args.parts)] + [_step("train", raw)]
    for step in first:
        if step.wait():
            raise SystemExit(f"{step.args!r} failed")
    for step in [_step("add", raw, "--part", str(p)) for p in range(args.parts)]:
        if step.wait():
            raise SystemExit(f"{step.args!r} failed")
    for name in ("build", "search"):
        if _step(name, raw).wait():
            raise SystemExit(f"{name} failed")
    figures = json.loads(layout.build.read_text())
    report = json.loads(layout.search.read_text())
    print(json.dumps(figures))
    print(f"search peak RSS {report['peak_rss'] / 2**20:.0f} MiB, own {report['anon_rss'] / 2**20:.0f} MiB")
    print(table(figures, report["rungs"]))


def main(argv: Sequence[str] | None = None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(raw)
    steps = {"write": write_part, "train": train, "add": add_part, "build": build, "search": search}
    if args.step == "run":
        run(args, raw[1:])
    else:
        steps[args.step](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
