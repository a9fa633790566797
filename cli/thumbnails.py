"""``lookalike rebuild-thumbnails``: thumbnails for an index built before they were stored,
made from the source files recorded at ingest (where still on disk and unchanged)."""

from __future__ import annotations

import argparse

from ..index.opener import open_index
from ..index.thumbnails import thumbnail_of_file
from .options import print_json, store_option

__all__ = ["configure"]


def cmd_rebuild_thumbnails(args: argparse.Namespace) -> int:
    rebuilt: list[str] = []
    skipped: dict[str, str] = {}
    with open_index(args.index, writable=True, store=args.store) as index:
        total = len(index)
        todo = index.thumbnail_rows(missing_only=not args.force)
        for start in range(0, len(todo), 64):
            made = {}
            for iid, record in index.records(todo[start : start + 64]).items():
                result = thumbnail_of_file(record.source, record.sha256)
                if isinstance(result, bytes):
                    made[iid] = result
                    rebuilt.append(record.external_id)
                else:
                    skipped[record.external_id] = result
            index.put_thumbnails(made)
    already = total - len(todo)
    if args.json:
        print_json({"rebuilt": len(rebuilt), "already": already, "skipped": skipped})
    else:
        print(f"rebuilt {len(rebuilt)} thumbnail(s); {already} already had one; {len(skipped)} skipped")
        for external_id, why in sorted(skipped.items()):
            print(f"  skipped {external_id}: {why}")
    return 1 if skipped else 0


def configure(command: str, p: argparse.ArgumentParser) -> None:
    p.add_argument("--index", required=True, help="index folder")
    p.add_argument("--force", action="store_true", help="remake every thumbnail, not only the missing ones")
    p.add_argument("--json", action="store_true")
    store_option(p)
    p.set_defaults(func=cmd_rebuild_thumbnails)
