"""Speed of the foundation: embedding ms/image per embedder, ingest images/s, ``match``
latency p50/p99. Run: ``python -m lookalike.benchmarks.speed --images DIR``.

Every figure is measured in the same process on the same images, so the ratios between
embedders hold even on a noisy machine.
"""

from __future__ import annotations

import argparse
import io
import itertools
import platform
import statistics
import tempfile
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import numpy as np

from ..embed.base import Embedder
from ..embed.decode import decode_image
from ..embed.factory import get_embedder
from ..embed.files import iter_image_files
from ..engine import IngestItem
from ..errors import LookalikeError
from ..factory import open_engine

__all__ = ["main", "percentile_ms"]


def percentile_ms(samples: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(samples) * 1000, q))


def _embedders(clip_checkpoint: Path | None) -> list[Embedder]:
    out = [get_embedder("sscd"), get_embedder("sscd-lite")]
    if clip_checkpoint is not None:
        out.append(get_embedder("clip", checkpoint=clip_checkpoint))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=Path, required=True, help="folder of photos")
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--matches", type=int, default=100, help="match calls for the latency figures")
    parser.add_argument(
        "--clip-checkpoint",
        type=Path,
        default=None,
        help="time CLIP too (speed only: any ViT-B-32 checkpoint, random weights will do)",
    )
    args = parser.parse_args(argv)

    files = [p for _, p in iter_image_files([str(args.images)])][: args.limit]
    decoded = []
    for f in files:
        try:
            decoded.append(decode_image(f))
        except LookalikeError:
            continue
    images = [d.image for d in decoded]
    print(
        f"# speed: {len(images)} images from {args.images}, {platform.machine()}, "
        f"{platform.python_version()}, {date.today()}"
    )
    print("\n| embedder | version | ms/img (batch 16) |\n|---|---|---|")
    for emb in _embedders(args.clip_checkpoint):
        emb.embed(images[:16])  # warm-up: first run allocates
        start = time.perf_counter()
        emb.embed(images)
        per = (time.perf_counter() - start) * 1000 / len(images)
        print(f"| {emb.info.name} | {emb.info.version} | {per:.1f} |")

    with tempfile.TemporaryDirectory() as tmp:
        engine = open_engine(Path(tmp) / "ix", create=True)
        start = time.perf_counter()
        for i in range(0, len(files), 32):
            engine.ingest([IngestItem(f"{j}", f) for j, f in enumerate(files[i : i + 32], start=i)])
        assert engine.index is not None
        engine.index.save()
        elapsed = time.perf_counter() - start
        print(
            f"\ningest (sscd; decode, embed, hash, commit, checkpoint): {len(files) / elapsed:.1f} images/s"
        )

        blobs = []
        for d in decoded[: args.matches + 1]:
            buf = io.BytesIO()
            d.image.save(buf, "JPEG", quality=90)
            blobs.append(buf.getvalue())
        engine.match(blobs[0], blobs[1])
        lat = []
        for a, b in itertools.pairwise(blobs):
            t = time.perf_counter()
            engine.match(a, b)
            lat.append(time.perf_counter() - t)
        print(
            f"match (two JPEGs <= 1024 px, sscd): p50 {percentile_ms(lat, 50):.1f} ms, "
            f"p99 {percentile_ms(lat, 99):.1f} ms, "
            f"mean {statistics.mean(lat) * 1000:.1f} ms, {len(lat)} calls"
        )
        engine.index.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
