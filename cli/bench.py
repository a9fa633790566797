"""``lookalike bench make``, ``run``, ``calibrate``, ``make-video`` and ``run-video``."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from ..benchmarks.background import write_background
from ..benchmarks.calibrate import calibrate, to_markdown
from ..benchmarks.dataset import SPLITS, Benchmark
from ..benchmarks.make import make_benchmark
from ..benchmarks.methods import DEFAULT_METHODS, METHODS, MethodOptions
from ..benchmarks.report import write_report
from ..benchmarks.runner import run_method
from ..benchmarks.video_make import make_video_benchmark
from ..benchmarks.video_run import run_video_benchmark, speed_markdown, video_speed
from ..embed.registry import MODELS
from ..embed.video import DEFAULT_FPS
from ..factory import open_engine
from ..video import VideoFlow

__all__ = ["configure"]


def _edit_count(text: str) -> tuple[str, int]:
    name, sep, times = text.partition("=")
    if not sep or not times.isdigit():
        raise argparse.ArgumentTypeError(f"expected EDIT=N (e.g. template=2), got {text!r}")
    return name, int(times)


def cmd_make(args: argparse.Namespace) -> int:
    manifest = make_benchmark(
        args.originals,
        args.out,
        seed=args.seed,
        sources=args.sources,
        distractors=args.distractors,
        distractor_queries=args.distractor_queries,
        queries_per_image=args.queries_per_image,
        extra_edits=dict(args.extra),
        extra_references=args.extra_references,
        extra_stride=args.extra_stride,
    )
    counts = manifest["counts"]
    print(
        f"wrote {args.out}: {counts['references']} references ({counts['sources']} sources, "
        f"{counts['distractor_references']} distractors), {counts['queries']} queries "
        f"({len(manifest['skipped'])} originals skipped)"
    )
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    bench = Benchmark.load(args.bench)
    queries = bench.select(args.split)
    options = MethodOptions(threads=args.threads, clip_checkpoint=args.clip_checkpoint)
    runs = []
    for name in args.method or DEFAULT_METHODS:
        run = run_method(name, bench, queries, k=args.k, options=options, verbose=not args.quiet)
        if run.skipped and not args.quiet:
            print(f"{name}: not run: {run.skipped}", file=sys.stderr, flush=True)
        runs.append(run)
    command = (
        "lookalike " + shlex.join(sys.argv[1:]) if sys.argv[1:2] == ["bench"] else "lookalike bench run ..."
    )
    report = write_report(runs, bench, queries, args.out, args.split, command)
    print(report.read_text())
    return 0


def cmd_background(args: argparse.Namespace) -> int:
    path, rows = write_background(Path(args.images), args.embedder, args.stride, args.offset, args.out)
    print(f"wrote {path}: {rows} background vectors ({args.embedder})")
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    fit = calibrate(Benchmark.load(args.bench), args.embedder, threads=args.threads)
    text = to_markdown(fit)
    if args.out:
        Path(args.out).write_text(text)
    print(text)
    return 0


def cmd_make_video(args: argparse.Namespace) -> int:
    manifest = make_video_benchmark(
        args.originals,
        args.out,
        seed=args.seed,
        queries_per_ref=args.queries_per_ref,
        unrelated=args.unrelated,
    )
    print(f"wrote {args.out}: {json.dumps(manifest['counts'])}")
    return 0


def cmd_run_video(args: argparse.Namespace) -> int:
    run = run_video_benchmark(
        args.bench,
        args.out,
        split=args.split,
        peers=not args.no_peers,
        threads=args.threads,
        fps=args.fps,
        log=lambda line: print(line, file=sys.stderr, flush=True),
    )
    print(run.text)
    return 0


def cmd_video_speed(args: argparse.Namespace) -> int:
    flow = VideoFlow(open_engine(embedder=args.embedder, threads=args.threads), fps=args.fps or DEFAULT_FPS)
    print("\n".join(speed_markdown(video_speed(flow, [Path(c) for c in args.clips], args.repeat))))
    return 0


def configure(command: str, parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="bench_command", required=True)

    p = sub.add_parser(
        "make", help="write a benchmark (references, edited queries, ground truth) from originals"
    )
    p.add_argument("--originals", required=True, help="folder of original images")
    p.add_argument("--out", required=True, help="new benchmark folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--sources",
        type=int,
        default=None,
        help="originals copied by queries (default: min(300, half the folder))",
    )
    p.add_argument(
        "--distractors", type=int, default=None, help="references no query copies (default: half the rest)"
    )
    p.add_argument(
        "--distractor-queries",
        type=int,
        default=None,
        help="originals edited into queries that match nothing",
    )
    p.add_argument("--queries-per-image", type=int, default=2, help="edited queries per source (default 2)")
    p.add_argument(
        "--extra",
        type=_edit_count,
        action="append",
        default=[],
        metavar="EDIT=N",
        help="N more queries of EDIT per source and distractor query image (repeat for several)",
    )
    p.add_argument("--extra-references", default=None, help="folder of unrelated images added as references")
    p.add_argument("--extra-stride", type=int, default=1, help="take every N-th of them (sorted by path)")
    p.set_defaults(func=cmd_make)

    p = sub.add_parser("run", help="run methods and peers on a benchmark; write a report folder")
    p.add_argument("--bench", required=True, help="benchmark folder (lookalike bench make)")
    p.add_argument(
        "--method",
        action="append",
        choices=sorted(METHODS),
        help="repeat for several (default: all but proto-*)",
    )
    p.add_argument("--out", required=True, help="report folder")
    p.add_argument(
        "--split", choices=SPLITS, default="all", help="queries to evaluate (calibration uses fit)"
    )
    p.add_argument("--k", type=int, default=10, help="predictions per query (default 10)")
    p.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads")
    p.add_argument("--clip-checkpoint", default=None, help="clip: local open_clip checkpoint file")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "calibrate", help="fit an embedder's calibration anchors on the fit split, check on test"
    )
    p.add_argument("--bench", required=True, help="benchmark folder (lookalike bench make)")
    p.add_argument("--embedder", default="sscd", choices=sorted(MODELS))
    p.add_argument("--out", default=None, help="also write the Markdown table here")
    p.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads")
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser("background", help="describe the background set the scorer normalises against")
    p.add_argument("--images", required=True, help="folder of unrelated images")
    p.add_argument("--embedder", default="sscd", choices=sorted(MODELS))
    p.add_argument("--stride", type=int, default=1, help="take every STRIDE-th image (sorted by path)")
    p.add_argument("--offset", type=int, default=0, help="starting at this one")
    p.add_argument("--out", type=Path, default=None, help="default: the package's score/background-sets/")
    p.set_defaults(func=cmd_background)

    p = sub.add_parser("make-video", help="write a video benchmark (references, edited queries, segments)")
    p.add_argument(
        "--originals",
        required=True,
        nargs="+",
        help="folders of reference clips (each with a manifest.csv or not), e.g. the corpus' and "
        "data/fetch-more-video's",
    )
    p.add_argument("--out", required=True, help="new benchmark folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--queries-per-ref", type=int, default=8, help="edited queries per reference (default 8)")
    p.add_argument("--unrelated", type=int, default=12, help="unrelated clips (default 12)")
    p.set_defaults(func=cmd_make_video)

    p = sub.add_parser("run-video", help="video benchmark: µAP (video, segment), recall, FPs, speed, vPDQ")
    p.add_argument("--bench", required=True, help="benchmark folder (lookalike bench make-video)")
    p.add_argument("--out", required=True, help="report folder")
    p.add_argument("--split", choices=("fit", "test", "all"), default="test")
    p.add_argument("--fps", type=float, default=None, help="frames a second sampled (default: the library's)")
    p.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads")
    p.add_argument("--no-peers", action="store_true", help="skip vPDQ")
    p.set_defaults(func=cmd_run_video)

    p = sub.add_parser(
        "video-speed", help="time describing clips against PyAV decoding every frame (best of --repeat)"
    )
    p.add_argument("clips", nargs="+", help="video files")
    p.add_argument("--fps", type=float, default=None, help="frames a second sampled (default: the library's)")
    p.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads")
    p.add_argument("--repeat", type=int, default=3, help="runs per clip, taken in turns (default 3)")
    p.add_argument("--embedder", default="sscd", choices=sorted(MODELS), help="frame descriptor")
    p.set_defaults(func=cmd_video_speed)
