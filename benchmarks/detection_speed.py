"""Speed of the detection path in units of one raw SSCD forward pass (224 px, batch 1),
measured in one run so that the ratios hold on a noisy machine.

    python -m lookalike.benchmarks.detection_speed [--requests 60] [--ingest DIR --limit 1000]
        [--immaculate PATH/TO/immaculate]

- the unit: ``OnnxEmbedder`` forward of one 224 px image (model time only);
- ``/image/match`` over HTTP: two ~1 MP JPEG uploads (a photo and its mirrored, recompressed
  copy), client wall time, against a real uvicorn server;
- ``/image/search`` over the demo-sized catalog of scikit-image photos: a near-identical
  query (no extra view is described) and a listing-template paste (the centre view and
  keypoints are);
- ingest: ``lookalike ingest`` of the first ``--limit`` JPEGs of ``--ingest DIR`` against
  ``immaculate --method sscd`` on the same folder (wall time, as each CLI is run).
"""

from __future__ import annotations

import argparse
import io
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import httpx
from PIL import Image, ImageOps
from pydantic import SecretStr

from ..api.app import create_app
from ..api.settings import Settings
from ..embed.factory import get_embedder
from ..engine import IngestItem
from ..factory import open_engine
from .http_match import timed
from .server import BackgroundServer

__all__ = ["main"]


def _p50(fn: Callable[[], object], n: int, warmup: int = 3) -> float:
    timed(fn, warmup)
    return statistics.median(timed(fn, n))


def _jpeg(image: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _samples() -> tuple[Path, list[Path]]:
    import skimage.data  # the benchmark's sample photos, as the tests use

    folder = Path(skimage.data.__file__).parent
    names = (
        "astronaut.png chelsea.png coffee.png rocket.jpg motorcycle_left.png hubble_deep_field.jpg retina.jpg"
    )
    return folder, [folder / n for n in names.split()]


def _template(photo: Image.Image) -> Image.Image:
    """A listing: the photo at 70 % on a flat canvas with a banner."""
    w, h = photo.size
    canvas = Image.new("RGB", (w, int(h * 1.25)), (240, 236, 228))
    canvas.paste((200, 30, 40), (0, 0, w, h // 8))
    small = photo.resize((int(w * 0.7), int(h * 0.7)))
    canvas.paste(small, ((w - small.width) // 2, h // 6))
    return canvas


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lookalike.benchmarks.detection_speed")
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--ingest", type=Path, default=None, help="folder of JPEGs for the ingest race")
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--immaculate", default=None, help="the immaculate executable (Python >= 3.12)")
    args = parser.parse_args(argv)

    _, photos = _samples()
    chelsea = Image.open(photos[1]).convert("RGB")
    big = chelsea.resize((1224, 816), Image.Resampling.LANCZOS)  # 1.0 MP
    source, copy = _jpeg(big, 90), _jpeg(ImageOps.mirror(big), 75)

    model = get_embedder("sscd")
    unit_image = big.resize((224, 224))
    unit = _p50(lambda: model.embed([unit_image]), args.requests * 2)
    rows: list[tuple[str, float]] = [("one raw SSCD forward, 224 px, batch 1 (the unit)", unit)]

    with tempfile.TemporaryDirectory() as tmp:
        index = Path(tmp) / "index"
        engine = open_engine(index, create=True)
        assert engine.index is not None
        engine.ingest([IngestItem(p.name, p) for p in photos])
        engine.index.save()
        near = _jpeg(ImageOps.mirror(Image.open(photos[0]).convert("RGB")), 80)
        pasted = _jpeg(_template(Image.open(photos[3]).convert("RGB")), 85)
        rows.append(
            (
                "search, near-identical query (no extra view)",
                _p50(lambda: engine.search(near, 10), args.requests),
            )
        )
        rows.append(
            (
                "search, template paste (centre view + keypoints)",
                _p50(lambda: engine.search(pasted, 10), args.requests),
            )
        )
        rows.append(
            (
                "Engine.match in process, two ~1 MP JPEGs",
                _p50(lambda: engine.match(source, copy), args.requests),
            )
        )
        engine.index.close()

        key = secrets.token_urlsafe(16)
        settings = Settings(index=index, api_keys=[SecretStr(key)])
        files = {"source_image": ("source.jpg", source), "target_image": ("copy.jpg", copy)}
        with (
            BackgroundServer(create_app(settings)) as server,
            httpx.Client(base_url=server.url, headers={"x-api-key": key}, timeout=60) as client,
        ):
            rows.append(
                (
                    "POST /image/match over HTTP, two ~1 MP JPEG uploads",
                    _p50(lambda: client.post("/image/match", files=files).raise_for_status(), args.requests),
                )
            )

    print(f"# detection speed, {platform.machine()}, {platform.python_version()}, {date.today()}")
    print("\n| path | p50 ms | / one forward |\n|---|---:|---:|")
    for name, ms in rows:
        print(f"| {name} | {ms:.1f} | {ms / unit:.2f}x |")

    if args.ingest is not None:
        _ingest_race(args.ingest, args.limit, args.immaculate)
    return 0


def _ingest_race(folder: Path, limit: int, immaculate: str | None) -> None:
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))[:limit]
    with tempfile.TemporaryDirectory() as tmp:
        images = Path(tmp) / "images"
        images.mkdir()
        for i, f in enumerate(files):
            shutil.copy(f, images / f"{i:05d}.jpg")
        exe = Path(sys.executable).with_name("lookalike")
        start = time.perf_counter()
        subprocess.run(
            [str(exe), "ingest", "--index", str(Path(tmp) / "ix"), "--quiet", str(images)], check=True
        )
        ours = time.perf_counter() - start
        print(f"\ningest of {len(files)} JPEGs from {folder}: lookalike {ours:.1f} s", end="")
        if immaculate:
            start = time.perf_counter()
            subprocess.run(
                [immaculate, "--method", "sscd", "--json", str(images)], check=True, capture_output=True
            )
            theirs = time.perf_counter() - start
            print(f", immaculate --method sscd {theirs:.1f} s: lookalike is {theirs / ours:.2f}x as fast")
        else:
            print()


if __name__ == "__main__":
    sys.exit(main())
