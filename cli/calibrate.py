"""``lookalike calibrate --index DIR``: fit the scoring anchors on the index's own catalog."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..benchmarks.catalog_calibration import calibrate_catalog
from ..factory import open_engine
from .options import print_json, store_option

__all__ = ["configure"]


def cmd_calibrate(args: argparse.Namespace) -> int:
    engine = open_engine(args.index, writable=True, store=args.store, threads=args.threads)
    index = engine.index
    assert index is not None
    try:
        if args.reset:
            index.set_calibration(None)
            print_json({"index": args.index, "calibration": "built-in"}) if args.json else print(
                f"{args.index}: back to the built-in anchors"
            )
            return 0
        fit = calibrate_catalog(engine, sample=args.sample, images=args.images, seed=args.seed)
        index.set_calibration(fit.manifest_entry())
    finally:
        index.close()
    held = fit.held_out
    report = {
        "index": args.index,
        "references": fit.references,
        "copies": fit.copies,
        "score_match": fit.calibration.score_match,
        "cos_identical": fit.calibration.cos_identical,
        "previous": {
            "score_match": fit.previous.score_match,
            "cos_identical": fit.previous.cos_identical,
        },
        "expected_fpr_at_085": round(held.distractor_fpr, 4),
        "expected_recall_at_085": round(held.recall_at_match, 4),
        "near_identical_at_097": round(held.near_identical_at_identical, 4),
        "partial_at_097": round(held.partial_at_identical, 4),
    }
    if args.json:
        print_json(report)
    else:
        print(
            f"{args.index}: anchors fitted on {fit.references} references ({fit.copies} edited copies): "
            f"score_match {fit.calibration.score_match} (was {fit.previous.score_match}), "
            f"cos_identical {fit.calibration.cos_identical} (was {fit.previous.cos_identical})\n"
            f"expected on held-out copies: false alarms at 0.85 {held.distractor_fpr:.2%}, "
            f"recall at 0.85 {held.recall_at_match:.2%}, near-identical edits at 0.97 "
            f"{held.near_identical_at_identical:.2%}, partial copies at 0.97 {held.partial_at_identical:.2%}"
        )
    return 0


def configure(command: str, p: argparse.ArgumentParser) -> None:
    p.add_argument("--index", required=True, help="index folder")
    p.add_argument("--sample", type=int, default=200, help="references to edit (default 200)")
    p.add_argument(
        "--images",
        type=Path,
        default=None,
        help="folder the references were ingested from (default: their sources)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--reset", action="store_true", help="forget fitted anchors: use the built-in ones")
    p.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads")
    p.add_argument("--json", action="store_true")
    store_option(p)
    p.set_defaults(func=cmd_calibrate)
