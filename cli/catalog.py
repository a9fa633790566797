"""``lookalike info`` and ``lookalike delete``: the catalog itself, without a model."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from ..index.frames import per_reference
from ..index.opener import open_index
from .options import print_json, store_option

__all__ = ["configure"]


def cmd_info(args: argparse.Namespace) -> int:
    with open_index(args.index, store=args.store) as index:
        stats = asdict(index.stats())
    if args.json:
        print_json(stats)
    else:
        for key, value in stats.items():
            print(f"{key:>16}: {value}")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    with open_index(args.index, writable=True, store=args.store) as index:
        # A video id stands for its frame records (<id>#t=<seconds>).
        deleted = per_reference(index, args.ids, index.delete)
        index.save()
    missing = sorted(set(args.ids) - set(deleted))
    if args.json:
        print_json({"deleted": deleted, "missing": missing})
    else:
        print(f"deleted {len(deleted)} image(s)" + (f"; not found: {', '.join(missing)}" if missing else ""))
    return 1 if missing else 0


def configure(command: str, p: argparse.ArgumentParser) -> None:
    p.add_argument("--index", required=True, help="index folder")
    if command == "delete":
        p.add_argument("ids", nargs="+")
    p.add_argument("--json", action="store_true")
    store_option(p)
    p.set_defaults(func=cmd_info if command == "info" else cmd_delete)
