"""Options and output helpers shared by the commands."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..embed.registry import MODELS

__all__ = ["engine_options", "model_options", "print_json", "store_option"]


def print_json(data: object) -> None:
    print(json.dumps(data, default=str), flush=True)


def model_options(p: argparse.ArgumentParser, embedder: bool = True) -> None:
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


def engine_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of :func:`lookalike.factory.open_engine` that ``args`` carries."""
    names = ("embedder", "store", "threads", "index_factory", "threshold")
    options = {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}
    options.update(
        checkpoint=args.clip_checkpoint, pretrained=args.clip_pretrained, allow_download=args.allow_download
    )
    return options
