"""``lookalike index``: plan, rebuild and tune the vector index of an index folder."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..errors import ConfigError
from ..index.choose import choose_index, estimate_bytes
from ..index.manifest import DEFAULT_MEMORY_BUDGET
from ..index.opener import open_index
from .options import store_option

__all__ = ["configure", "parse_size"]

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str) -> int:
    """``"8G"``, ``"512M"``, ``"1073741824"`` -> bytes."""
    body = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = body[-1:] if body[-1:] in _UNITS else ""
    try:
        return int(float(body[: len(body) - len(unit)]) * _UNITS[unit])
    except ValueError:
        raise ConfigError(f"not a size: {text!r} (e.g. 8G, 512M)") from None


def _emit(args: argparse.Namespace, data: dict[str, Any]) -> None:
    if args.json:
        print(json.dumps(data, default=str), flush=True)
    else:
        for key, value in data.items():
            print(f"{key:>16}: {value}")


def cmd_plan(args: argparse.Namespace) -> int:
    dim = args.dim
    n = args.vectors
    if args.index:
        with open_index(args.index, store=args.store) as index:
            n = len(index) if n is None else n
            dim = index.manifest.dim
    if n is None:
        raise ConfigError("give --index or --vectors")
    choice = choose_index(n, dim, args.memory_budget)
    _emit(
        args,
        {
            "vectors": n,
            "dim": dim,
            "memory_budget": args.memory_budget,
            "factory": choice.factory,
            "train_size": choice.train_size,
            "bytes_per_vector": round(choice.bytes_per_vector, 1),
            "estimated_bytes": round(estimate_bytes(choice.factory, n, dim)),
            "reason": choice.reason,
        },
    )
    return 0


def cmd_rebuild(args: argparse.Namespace) -> int:
    with open_index(args.index, writable=True, store=args.store) as index:
        report = index.rebuild(args.index_factory, args.memory_budget)
        tuning = report.tuning
        _emit(
            args,
            {
                "factory": report.factory,
                "vectors": report.vectors,
                "train_size": report.train_size,
                "search_params": report.search_params,
                "recall_at_10": round(tuning.recall, 4) if tuning else None,
                "recall_target": tuning.target if tuning else None,
                "seconds": round(report.seconds, 2),
                "waiting_for_training": index.manifest.target_factory,
            },
        )
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    with open_index(args.index, writable=True, store=args.store) as index:
        tuning = index.tune(args.recall, args.params)
    _emit(
        args,
        {
            "search_params": tuning.search_params,
            "recall_at_10": round(tuning.recall, 4),
            "recall_target": tuning.target,
            "queries": tuning.queries,
            "reached": tuning.reached,
        },
    )
    return 0 if tuning.reached else 1


def configure(command: str, parser: argparse.ArgumentParser) -> None:
    group = parser.add_subparsers(dest="index_command", required=True)

    p = group.add_parser("plan", help="which FAISS index a catalog of this size needs, and its memory")
    p.add_argument("--index", default=None, help="index folder (its size and dim)")
    p.add_argument("--vectors", type=int, default=None, help="catalog size to plan for")
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--memory-budget", type=parse_size, default=DEFAULT_MEMORY_BUDGET, help="e.g. 8G")
    p.add_argument("--json", action="store_true")
    store_option(p)
    p.set_defaults(func=cmd_plan)

    p = group.add_parser(
        "rebuild", help="rebuild the vector index from the catalog: retrain, re-tune, compact"
    )
    p.add_argument("--index", required=True)
    p.add_argument(
        "--index-factory",
        default=None,
        help="'auto' or a FAISS factory string (default: keep the current choice)",
    )
    p.add_argument("--memory-budget", type=parse_size, default=None, help="e.g. 8G (default: as recorded)")
    p.add_argument("--json", action="store_true")
    store_option(p)
    p.set_defaults(func=cmd_rebuild)

    p = group.add_parser("tune", help="re-tune nprobe/efSearch to a recall@10 target against exact search")
    p.add_argument("--index", required=True)
    p.add_argument("--recall", type=float, default=None, help="target recall@10 (default: as recorded, 0.95)")
    p.add_argument(
        "--params",
        default=None,
        help="set these search parameters instead of climbing (e.g. nprobe=256), and report their recall",
    )
    p.add_argument("--json", action="store_true")
    store_option(p)
    p.set_defaults(func=cmd_tune)
