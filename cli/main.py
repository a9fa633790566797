"""``lookalike``: parse the command line and run one command.

The table below names every command and the module that defines it; the module is imported
only when its command is the one being run (or its own ``--help`` is asked for).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from ..errors import LookalikeError

__all__ = ["COMMANDS", "build_parser", "main"]

#: command -> (module under lookalike.cli, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "ingest": ("images", "add images (files or folders) to an index, creating it if needed"),
    "search": ("images", "top-K reference images for each query image"),
    "match": ("images", "pairwise: is TARGET a copy of SOURCE?"),
    "gate": ("images", "block, review or pass listing images against an index"),
    "cluster": ("review", "group listing images into clusters of copies (JSON or an HTML review page)"),
    "feedback": ("review", "record, list or undo a reviewer's verdict on (query image, reference id)"),
    "disable": ("review", "keep references but never return them from search or gate"),
    "enable": ("review", "return disabled references again"),
    "calibrate": ("calibrate", "fit the scoring anchors on an index's own catalog"),
    "info": ("catalog", "what an index holds and how it was built"),
    "delete": ("catalog", "remove images by id"),
    "rebuild-thumbnails": ("thumbnails", "store thumbnails for images ingested before they were kept"),
    "index": ("index", "plan, rebuild or tune the vector index"),
    "serve": ("serve", "serve the HTTP API over an index"),
    "bench": ("bench", "recall benchmark: make a DISC21-layout set, run methods on it"),
}


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser, with the arguments of the command named in ``argv`` (none: names only)."""
    parser = argparse.ArgumentParser(
        prog="lookalike", description="Find copied images in a local reference catalog."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            importlib.import_module(f".{module}", __package__).configure(name, p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_args(argv)
    try:
        code: int = args.func(args)
    except LookalikeError as exc:
        print(f"lookalike: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code
