"""The ``lookalike`` command line: ingest, search, match, info, delete (and the commands
other subpackages register: serve, bench, index)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tqdm import tqdm

from .embed.decode import IMAGE_SUFFIXES
from .embed.registry import MODELS, get_embedder
from .engine import Engine, IngestItem
from .errors import LookalikeError
from .index.store import Index

__all__ = ["iter_image_files", "main", "store_option"]

Handler = Callable[[argparse.Namespace], int]


def iter_image_files(paths: Sequence[str]) -> Iterator[tuple[str, Path]]:
    """(id, file) for every image argument: a folder's images recursively, ids relative to
    the folder with POSIX separators; a file argument's id is its name."""
    for arg in paths:
        p = Path(arg)
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES:
                    yield f.relative_to(p).as_posix(), f
        else:
            yield p.name, p


def _embedder_options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "threads": args.threads,
        "checkpoint": args.clip_checkpoint,
        "pretrained": args.clip_pretrained,
        "allow_download": args.allow_download,
    }


def _engine(args: argparse.Namespace, writable: bool = False) -> Engine:
    options = _embedder_options(args)
    if writable:
        embedder = get_embedder(args.embedder, **options)
        return Engine(
            embedder, Index.open_or_create(args.index, embedder.info, args.index_factory, args.store)
        )
    return Engine.for_index(args.index, store=args.store, **options)


def _print_json(data: object) -> None:
    print(json.dumps(data, default=str), flush=True)


def cmd_ingest(args: argparse.Namespace) -> int:
    engine = _engine(args, writable=True)
    index = engine.index
    assert index is not None
    files = list(iter_image_files(args.paths))
    failed: list[dict[str, str]] = []
    added = replaced = duplicates = 0
    bar = tqdm(total=len(files), unit="img", desc="ingest", disable=args.quiet, file=sys.stderr)
    try:
        for start in range(0, len(files), args.batch_size):
            batch = files[start : start + args.batch_size]
            for outcome, (_, path) in zip(
                engine.ingest([IngestItem(ext_id, path) for ext_id, path in batch]), batch, strict=True
            ):
                if outcome.result is None:
                    failed.append({"path": str(path), "error": str(outcome.error)})
                    if not args.json:
                        tqdm.write(f"skipped {path}: {outcome.error}", file=sys.stderr)
                    continue
                added += 1
                replaced += outcome.result.replaced
                duplicates += outcome.result.duplicate_of is not None
            bar.update(len(batch))
        index.save()
    finally:
        bar.close()
        index.close()
    report = {
        "index": args.index,
        "ingested": added,
        "replaced": replaced,
        "byte_duplicates": duplicates,
        "failed": failed,
    }
    if args.json:
        _print_json(report)
    else:
        print(
            f"ingested {added} image(s) into {args.index} "
            f"({replaced} replaced, {duplicates} byte-duplicates, "
            f"{len(failed)} failed)"
        )
    return 1 if failed else 0


def cmd_search(args: argparse.Namespace) -> int:
    engine = _engine(args)
    errors = 0
    try:
        for _, path in iter_image_files(args.paths):
            try:
                hits = engine.search(path, args.k)
            except LookalikeError as exc:
                errors += 1
                _print_json({"query": str(path), "error": str(exc), "code": exc.code})
                continue
            results = [{"id": h.external_id, "score": h.score.similarity} for h in hits]
            if args.json:
                _print_json({"query": str(path), "results": results})
            else:
                print(str(path))
                for rank, r in enumerate(results, 1):
                    print(f"  {rank:>3}. {r['score']:.4f}  {r['id']}")
    finally:
        if engine.index is not None:
            engine.index.close()
    return 1 if errors else 0


def cmd_match(args: argparse.Namespace) -> int:
    engine = Engine(get_embedder(args.embedder, **_embedder_options(args)), threshold=args.threshold)
    result = engine.match(args.source, args.target).to_dict()
    if args.json:
        _print_json(result)
    else:
        verdict = "MATCH" if result["match"] else "no match"
        print(f"{verdict}: similarity {result['similarity_score']:.4f} ({result['confidence']} confidence)")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    with Index.open(args.index, store=args.store) as index:
        stats = asdict(index.stats())
    if args.json:
        _print_json(stats)
    else:
        for key, value in stats.items():
            print(f"{key:>16}: {value}")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    with Index.open(args.index, writable=True, store=args.store) as index:
        deleted = index.delete(args.ids)
        index.save()
    missing = sorted(set(args.ids) - set(deleted))
    if args.json:
        _print_json({"deleted": deleted, "missing": missing})
    else:
        print(f"deleted {len(deleted)} image(s)" + (f"; not found: {', '.join(missing)}" if missing else ""))
    return 1 if missing else 0


def _model_options(p: argparse.ArgumentParser, embedder: bool = True) -> None:
    if embedder:
        p.add_argument(
            "--embedder", default="sscd", choices=sorted(MODELS), help="neural descriptor (default sscd)"
        )
    p.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads (default: all cores)")
    p.add_argument("--clip-checkpoint", default=None, help="clip: local open_clip checkpoint file")
    p.add_argument(
        "--clip-pretrained", default=None, help="clip: pretrained tag (downloads; needs --allow-download)"
    )
    p.add_argument("--allow-download", action="store_true", help="clip: allow downloading weights (online)")


def store_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--store",
        default=None,
        help="where the vectors live: faiss (default for a new index), milvus:///path/file.db (Milvus Lite) "
        "or milvus://host:19530; default: the one the index records",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lookalike", description="Find copied images in a local reference catalog."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="add images (files or folders) to an index, creating it if needed")
    p.add_argument("--index", required=True, help="index folder")
    p.add_argument("paths", nargs="+")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument(
        "--index-factory",
        default="auto",
        help="FAISS factory string for a new index (default: chosen by size)",
    )
    p.add_argument("--json", action="store_true")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _model_options(p)
    store_option(p)
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("search", help="top-K reference images for each query image")
    p.add_argument("--index", required=True)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("paths", nargs="+")
    p.add_argument("--json", action="store_true")
    _model_options(p, embedder=False)
    store_option(p)
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("match", help="pairwise: is TARGET a copy of SOURCE?")
    p.add_argument("source")
    p.add_argument("target")
    p.add_argument("--threshold", type=float, default=0.85)
    p.add_argument("--json", action="store_true")
    _model_options(p)
    p.set_defaults(func=cmd_match)

    p = sub.add_parser("info", help="what an index holds and how it was built")
    p.add_argument("--index", required=True)
    p.add_argument("--json", action="store_true")
    store_option(p)
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("delete", help="remove images by id")
    p.add_argument("--index", required=True)
    p.add_argument("ids", nargs="+")
    p.add_argument("--json", action="store_true")
    store_option(p)
    p.set_defaults(func=cmd_delete)

    for register in _plugins():
        register(sub)
    return parser


def _plugins() -> list[Callable[[Any], None]]:
    """Commands defined next to the code they drive (service, benchmark, index tools)."""
    from .api.serve import register as serve
    from .benchmarks.cli import register as bench
    from .index.cli import register as index_tools

    return [bench, serve, index_tools]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except LookalikeError as exc:
        print(f"lookalike: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
