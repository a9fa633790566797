"""The image commands: ``ingest``, ``search``, ``match`` and ``gate``. Their JSON answers
are the HTTP service's models (:mod:`lookalike.api.models`), so both edges say the same."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ..api.models import GateResponse, MatchResponse, SearchHit, VideoMatchResponse
from ..embed.files import iter_image_files
from ..embed.formats import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from ..embed.video import is_video
from ..engine import Engine, IngestItem, IngestOutcome
from ..errors import LookalikeError
from ..factory import open_engine
from ..score.decision import IDENTICAL_THRESHOLD, MATCH_THRESHOLD
from ..score.gate import GateRule
from ..video import VideoFlow, VideoIngestItem
from .options import engine_options, model_options, print_json, store_option

MEDIA_SUFFIXES = IMAGE_SUFFIXES | VIDEO_SUFFIXES


def _is_video_file(path: str | Path) -> bool:
    """By suffix, else by the first bytes (a video saved without its suffix)."""
    if is_video(path):
        return True
    try:
        with open(path, "rb") as f:
            return is_video(f.read(64))
    except OSError:
        return False


__all__ = ["configure"]


def cmd_ingest(args: argparse.Namespace) -> int:
    found = list(iter_image_files(args.paths, MEDIA_SUFFIXES))
    videos = [(ext_id, path) for ext_id, path in found if _is_video_file(path)]
    files = [item for item in found if item not in videos]
    # Images go through the model a batch per worker at once, so each forward needs one
    # thread (measured: less CPU per image than one forward on every core); a video's frames
    # go one batch at a time and use every core.
    defaults: dict[str, Any] = {} if videos else {"threads": 1}
    engine = open_engine(
        args.index, create=True, workers=args.workers, **{**defaults, **engine_options(args)}
    )
    index = engine.index
    assert index is not None
    failed: list[dict[str, str]] = []
    counts = {"added": 0, "replaced": 0, "duplicates": 0}

    def tally(path: Path, outcome: IngestOutcome) -> None:
        if outcome.result is None:
            failed.append({"path": str(path), "error": str(outcome.error)})
            if not args.json:
                tqdm.write(f"skipped {path}: {outcome.error}", file=sys.stderr)
            return
        counts["added"] += 1
        counts["replaced"] += outcome.result.replaced
        counts["duplicates"] += outcome.result.duplicate_of is not None

    bar = tqdm(total=len(found), unit="file", desc="ingest", disable=args.quiet, file=sys.stderr)
    try:
        flow = VideoFlow(engine)
        video_items = [VideoIngestItem(ext_id, path) for ext_id, path in videos]
        for (_, path), outcome in zip(videos, flow.ingest(video_items, progress=bar.update), strict=True):
            tally(path, outcome)
        image_items = (IngestItem(ext_id, path) for ext_id, path in files)
        outcomes = engine.ingest_stream(image_items, batch_size=args.batch_size)
        for (_, path), outcome in zip(files, outcomes, strict=True):
            tally(path, outcome)
            bar.update()
        index.save()
    finally:
        bar.close()
        index.close()
    report = {
        "index": args.index,
        "ingested": counts["added"],
        "replaced": counts["replaced"],
        "byte_duplicates": counts["duplicates"],
        "failed": failed,
    }
    if args.json:
        print_json(report)
    else:
        print(
            f"ingested {counts['added']} image(s) or video(s) into {args.index} "
            f"({counts['replaced']} replaced, {counts['duplicates']} byte-duplicates, "
            f"{len(failed)} failed)"
        )
    return 1 if failed else 0


def _each_query(args: argparse.Namespace, answer: Callable[[Engine, Path], None]) -> int:
    """Run ``answer(engine, path)`` for every query file; one JSON line (or an error line)
    per query; exit code 1 if any query failed."""
    engine = open_engine(args.index, **engine_options(args))
    errors = 0
    try:
        for _, path in iter_image_files(args.paths, MEDIA_SUFFIXES):
            try:
                answer(engine, path)
            except LookalikeError as exc:
                errors += 1
                print_json({"query": str(path), "error": str(exc), "code": exc.code})
    finally:
        if engine.index is not None:
            engine.index.close()
    return 1 if errors else 0


def cmd_search(args: argparse.Namespace) -> int:
    def answer(engine: Engine, path: Path) -> None:
        flow = VideoFlow(engine)
        results: list[dict[str, object]]
        if _is_video_file(path):
            results = [
                {"id": h.external_id, "score": h.similarity, "segments": h.segments}
                for h in flow.search(path, args.k)
            ]
        else:
            results = [
                SearchHit.model_validate(h, from_attributes=True).model_dump(
                    mode="json", include={"id", "score", "cosine", "timestamps"}, exclude_none=True
                )
                for h in flow.search_image(path, args.k)
            ]
        if args.json:
            print_json({"query": str(path), "results": results})
        else:
            print(str(path))
            for rank, r in enumerate(results, 1):
                print(f"  {rank:>3}. {r['score']:.4f}  {r['id']}")

    return _each_query(args, answer)


def cmd_gate(args: argparse.Namespace) -> int:
    rule = GateRule(args.block_threshold, args.review_threshold)

    def answer(engine: Engine, path: Path) -> None:
        verdict = GateResponse.model_validate(engine.gate(path, rule, args.k), from_attributes=True)
        if args.json:
            print_json({"query": str(path), **verdict.model_dump(mode="json", exclude_none=True)})
        else:
            best = (
                f" (best {verdict.matches[0].id} at {verdict.matches[0].score:.4f})"
                if verdict.matches
                else ""
            )
            print(f"{verdict.decision:<10} {path}{best}")

    return _each_query(args, answer)


def cmd_match(args: argparse.Namespace) -> int:
    engine = open_engine(**engine_options(args))
    if _is_video_file(args.source) or _is_video_file(args.target):
        video = VideoMatchResponse.model_validate(
            VideoFlow(engine).match(args.source, args.target), from_attributes=True
        )
        if args.json:
            print_json(video.model_dump(mode="json"))
        else:
            verdict = "MATCH" if video.match else "no match"
            print(f"{verdict}: similarity {video.similarity_score:.4f} ({video.confidence} confidence)")
            for seg in video.matched_segments:
                print(
                    f"  source {seg.source_start:.2f}-{seg.source_end:.2f} s  "
                    f"target {seg.target_start:.2f}-{seg.target_end:.2f} s  {seg.similarity_score:.4f}"
                )
        return 0
    answer = engine.match(args.source, args.target, explain=args.explain)
    result = MatchResponse.model_validate(answer, from_attributes=True)
    if args.json:
        print_json(result.model_dump(mode="json", exclude_none=True))
    else:
        verdict = "MATCH" if result.match else "no match"
        print(f"{verdict}: similarity {result.similarity_score:.4f} ({result.confidence} confidence)")
        if result.explain is not None:
            for key, value in result.explain.model_dump().items():
                print(f"  {key:>13}: {value}")
    return 0


def configure(command: str, p: argparse.ArgumentParser) -> None:
    if command == "match":
        p.add_argument("source")
        p.add_argument("target")
        p.add_argument("--threshold", type=float, default=MATCH_THRESHOLD)
        p.add_argument("--explain", action="store_true", help="add the evidence: cosine, view, boxes...")
        p.add_argument("--json", action="store_true")
        model_options(p)
        p.set_defaults(func=cmd_match)
        return
    p.add_argument("--index", required=True, help="index folder")
    p.add_argument("paths", nargs="+", help="image or video files, or folders")
    p.add_argument("--json", action="store_true")
    if command == "ingest":
        p.add_argument(
            "--batch-size", type=int, default=256, help="images committed per transaction (default 256)"
        )
        p.add_argument(
            "--workers", type=int, default=None, help="images described in parallel threads (default: cores)"
        )
        p.add_argument(
            "--index-factory",
            default="auto",
            help="FAISS factory string for a new index (default: chosen by size)",
        )
        p.add_argument("--quiet", action="store_true", help="no progress bar")
        model_options(p)
        p.set_defaults(func=cmd_ingest)
    else:
        p.add_argument("--k", type=int, default=10, help="references to consider per query (default 10)")
        if command == "gate":
            p.add_argument("--block-threshold", type=float, default=IDENTICAL_THRESHOLD)
            p.add_argument("--review-threshold", type=float, default=MATCH_THRESHOLD)
        model_options(p, embedder=False)
        p.set_defaults(func=cmd_search if command == "search" else cmd_gate)
    store_option(p)
