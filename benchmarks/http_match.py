"""Latency of ``POST /image/match`` over loopback, against the engine called in-process.

Two ~1 MP JPEG uploads per request (a photo and its mirrored, recompressed copy), sent
one at a time by an httpx client to a real uvicorn server; the same pair is then matched
by the server's own engine without HTTP, so the table shows what the service adds.

    python -m lookalike.benchmarks.http_match --requests 100 [--embedder sscd] [--images A B]

Needs scikit-image for the default photos (``pip install scikit-image``).
"""

from __future__ import annotations

import argparse
import io
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
from PIL import Image, ImageOps
from pydantic import SecretStr

from ..api.app import create_app
from ..api.service import Service
from ..api.settings import Settings
from .server import BackgroundServer

__all__ = ["main", "timed"]


def _megapixel_pair(paths: list[str] | None) -> tuple[bytes, bytes]:
    if paths:
        return Path(paths[0]).read_bytes(), Path(paths[1]).read_bytes()
    import skimage.data

    with Image.open(Path(skimage.data.__file__).parent / "chelsea.png") as im:
        photo = im.convert("RGB").resize((1224, 816), Image.Resampling.LANCZOS)  # 1.0 MP
    source, copy = io.BytesIO(), io.BytesIO()
    photo.save(source, "JPEG", quality=90)
    ImageOps.mirror(photo).save(copy, "JPEG", quality=75)
    return source.getvalue(), copy.getvalue()


def timed(fn: Callable[[], object], n: int) -> list[float]:
    """Wall milliseconds of ``n`` calls of ``fn``."""
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return times


def _row(name: str, ms: list[float]) -> str:
    p50, p99 = np.percentile(ms, [50, 99])
    return f"| {name} | {len(ms)} | {p50:.0f} | {p99:.0f} | {statistics.fmean(ms):.0f} |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lookalike.benchmarks.http_match", description="/image/match latency"
    )
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--embedder", default="sscd")
    parser.add_argument("--images", nargs=2, default=None, metavar=("SOURCE", "TARGET"))
    args = parser.parse_args(argv)

    source, copy = _megapixel_pair(args.images)
    key = secrets.token_urlsafe(16)
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(index=Path(folder) / "index", embedder=args.embedder, api_keys=[SecretStr(key)])
        app = create_app(settings)
        with (
            BackgroundServer(app) as server,
            httpx.Client(base_url=server.url, headers={"x-api-key": key}, timeout=60) as client,
        ):
            service: Service = app.state.service
            files = {"source_image": ("source.jpg", source), "target_image": ("copy.jpg", copy)}
            server_ms: list[float] = []

            def over_http() -> None:
                response = client.post("/image/match", files=files)
                response.raise_for_status()
                server_ms.append(float(response.json()["processing_time_ms"]))

            def in_process() -> None:
                service.engine.match(source, copy)

            timed(over_http, args.warmup)
            server_ms.clear()
            http_ms = timed(over_http, args.requests)
            engine_ms = timed(in_process, args.requests)
            verdict = client.post("/image/match", files=files).json()

    sizes = [Image.open(io.BytesIO(b)).size for b in (source, copy)]
    print(f"images: {sizes[0]} {len(source)} B and {sizes[1]} {len(copy)} B; embedder {args.embedder}")
    print(f"answer: {verdict}")
    print("| path | requests | p50 ms | p99 ms | mean ms |")
    print("| --- | --- | --- | --- | --- |")
    print(_row("HTTP round trip (client wall time)", http_ms))
    print(_row("processing_time_ms reported by the server", server_ms))
    print(_row("Engine.match in-process (baseline, same engine)", engine_ms))
    ratio = statistics.median(http_ms) / statistics.median(engine_ms)
    print(f"\nHTTP p50 / in-process p50 = {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
