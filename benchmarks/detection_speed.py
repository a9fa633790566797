"""Speed of the detection path in units of one raw SSCD forward pass (224 px, batch 1),
measured in one run so that the ratios hold on a noisy machine.

    python -m lookalike.benchmarks.detection_speed [--requests 30 --rounds 5]
        [--ingest DIR --limit 1000 --races 3 --immaculate PATH/TO/immaculate]

The machine is shared, so the unit and the paths take turns in rounds (and the two ingest
tools in races), and each ratio is reported as its median and range over them.

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
import os
import platform
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
from PIL import Image, ImageOps
from pydantic import SecretStr

from ..api.app import create_app
from ..api.settings import Settings
from ..embed.factory import get_embedder
from ..engine import Engine, IngestItem
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


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f}x ({min(values):.2f}-{max(values):.2f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lookalike.benchmarks.detection_speed")
    parser.add_argument("--requests", type=int, default=30, help="calls per path and round")
    parser.add_argument(
        "--rounds", type=int, default=5, help="rounds of the unit and every path, interleaved"
    )
    parser.add_argument("--ingest", type=Path, default=None, help="folder of JPEGs for the ingest race")
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--races", type=int, default=3, help="ingest races, the two tools taking turns")
    parser.add_argument("--immaculate", default=None, help="the immaculate executable (Python >= 3.12)")
    args = parser.parse_args(argv)

    _, photos = _samples()
    chelsea = Image.open(photos[1]).convert("RGB")
    big = chelsea.resize((1224, 816), Image.Resampling.LANCZOS)  # 1.0 MP
    source, copy = _jpeg(big, 90), _jpeg(ImageOps.mirror(big), 75)
    unit_image = big.resize((224, 224))
    when = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    print(f"# detection speed, {platform.machine()}, {os.cpu_count()} cores, {when}")
    print(f"load average at the start: {os.getloadavg()[0]:.1f}")

    with tempfile.TemporaryDirectory() as tmp:
        key = secrets.token_urlsafe(16)
        app = create_app(Settings(index=Path(tmp) / "index", api_keys=[SecretStr(key)]))
        files = {"source_image": ("source.jpg", source), "target_image": ("copy.jpg", copy)}
        with (
            BackgroundServer(app) as server,
            httpx.Client(base_url=server.url, headers={"x-api-key": key}, timeout=60) as client,
        ):
            engine: Engine = app.state.service.engine
            engine.ingest([IngestItem(p.name, p) for p in photos])
            near = _jpeg(ImageOps.mirror(Image.open(photos[0]).convert("RGB")), 80)
            pasted = _jpeg(_template(Image.open(photos[3]).convert("RGB")), 85)
            model = get_embedder("sscd")  # the unit: a model of its own, as a user would load it
            paths: list[tuple[str, Callable[[], object]]] = [
                ("search, near-identical query (no extra view)", lambda: engine.search(near, 10)),
                ("search, template paste (centre view + keypoints)", lambda: engine.search(pasted, 10)),
                ("Engine.match in process, two ~1 MP JPEGs", lambda: engine.match(source, copy)),
                (
                    "POST /image/match over HTTP, two ~1 MP JPEG uploads",
                    lambda: client.post("/image/match", files=files).raise_for_status(),
                ),
            ]
            units: list[float] = []
            ms: dict[str, list[float]] = {name: [] for name, _ in paths}
            ratios: dict[str, list[float]] = {name: [] for name, _ in paths}
            for _ in range(args.rounds):
                units.append(_p50(lambda: model.embed([unit_image]), args.requests))
                for name, fn in paths:
                    ms[name].append(_p50(fn, args.requests))
                    ratios[name].append(ms[name][-1] / units[-1])

    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    print(
        f"\n{args.rounds} rounds of {args.requests} calls each; p50 per round, median and range over rounds"
    )
    print("\n| path | p50 ms | / one forward, median (range) |\n|---|---:|---:|")
    print(f"| one raw SSCD forward, 224 px, batch 1 (the unit) | {statistics.median(units):.1f} | 1.00x |")
    for name, _ in paths:
        print(f"| {name} | {statistics.median(ms[name]):.1f} | {_spread(ratios[name])} |")

    if args.ingest is not None:
        _ingest_race(args.ingest, args.limit, args.immaculate, args.races)
    return 0


def _ingest_race(folder: Path, limit: int, immaculate: str | None, races: int) -> None:
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))[:limit]
    with tempfile.TemporaryDirectory() as tmp:
        images = Path(tmp) / "images"
        images.mkdir()
        for i, f in enumerate(files):
            shutil.copy(f, images / f"{i:05d}.jpg")
        exe = Path(sys.executable).with_name("lookalike")
        ours: list[tuple[float, float]] = []
        theirs: list[tuple[float, float]] = []
        for race in range(races):
            index = Path(tmp) / f"ix{race}"
            ours.append(_run([str(exe), "ingest", "--index", str(index), "--quiet", str(images)]))
            if immaculate:
                theirs.append(_run([immaculate, "--method", "sscd", "--json", str(images)]))
            shutil.rmtree(index)
    print(
        f"\ningest of {len(files)} JPEGs from {folder}, {races} races, load average {os.getloadavg()[0]:.1f}"
    )
    print(f"lookalike ingest: {_times(ours)}")
    if theirs:
        print(f"immaculate --method sscd: {_times(theirs)}")
        pairs = list(zip(ours, theirs, strict=True))
        print(f"lookalike is {_spread([b[0] / a[0] for a, b in pairs])} as fast")
        print(f"CPU time, immaculate / lookalike: {_spread([b[1] / a[1] for a, b in pairs])}")


def _times(runs: list[tuple[float, float]]) -> str:
    return ", ".join(f"{wall:.1f} s ({cpu:.1f} s CPU)" for wall, cpu in runs)


def _run(command: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of ``command`` (CPU time depends little on the VM's load)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


if __name__ == "__main__":
    sys.exit(main())
