"""``lookalike serve``: the HTTP API over an index (uvicorn)."""

from __future__ import annotations

import argparse

from ..api.serve import serve
from ..api.settings import get_settings
from .options import store_option

__all__ = ["configure"]


def _cmd_serve(args: argparse.Namespace) -> int:
    settings = get_settings()
    if args.store is not None:
        settings = settings.model_copy(update={"store": args.store})
    serve(args.index, args.host, args.port, no_auth=args.no_auth, settings=settings)
    return 0


def configure(command: str, p: argparse.ArgumentParser) -> None:
    p.description = (
        "Serve the HTTP API (uvicorn). Settings come from LOOKALIKE_* variables; "
        "API keys from LOOKALIKE_API_KEYS or LOOKALIKE_API_KEYS_FILE."
    )
    p.add_argument(
        "--index", default=None, help="index folder (default: LOOKALIKE_INDEX); created if missing"
    )
    p.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default 8000)")
    p.add_argument("--no-auth", action="store_true", help="no API keys: local demos only (prints a warning)")
    store_option(p)
    p.set_defaults(func=_cmd_serve)
