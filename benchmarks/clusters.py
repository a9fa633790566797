"""Cluster purity and speed of ``lookalike.review.cluster_images`` on a batch built from a
photo corpus: each of ``originals`` photos with ``copies`` seeded marketplace edits of it
(``lookalike.benchmarks.edits``), plus the rest of the photos as unrelated singletons.

    python -m lookalike.benchmarks.clusters --images /work/corpora/photo/images \\
        --originals 100 --copies 8 [--embedder sscd] [--json]

Reports B-cubed precision and recall of the clusters (a photo and its copies are one true
group; every other photo its own), the batch size, the wall time of ``cluster_images``
(decode, describe, candidates, scores, clustering; not the making of the edits) and, as the
baseline measured in the same run, the time it spent decoding and describing the images
(what any use of the batch costs), and the process's peak resident memory.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import time
from pathlib import Path

import numpy as np
from PIL import Image

from ..embed.decode import IMAGE_SUFFIXES
from ..factory import open_engine
from ..review import ReviewItem, b_cubed, cluster_images
from .edits import EDITS, MARKETPLACE, apply_edit

__all__ = ["make_batch", "run"]

#: Edits that keep the photo recognisable as a copy (no background swap: it needs cut-outs).
COPY_EDITS = tuple(e.name for e in MARKETPLACE if not e.needs_cutout)


def _jpeg(image: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def make_batch(
    images: Path, originals: int, copies: int, seed: int = 0, max_side: int = 1024
) -> tuple[list[ReviewItem], dict[str, str]]:
    """The batch and its truth (id -> true group)."""
    rng = np.random.default_rng(seed)
    files = sorted(p for p in images.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    order = rng.permutation(len(files))
    items: list[ReviewItem] = []
    truth: dict[str, str] = {}
    for rank, pos in enumerate(order):
        path = files[int(pos)]
        name = path.relative_to(images).as_posix()
        with Image.open(path) as im:
            im.thumbnail((max_side, max_side))
            photo = im.convert("RGBA") if im.mode in ("RGBA", "LA", "P") else im.convert("RGB")
        items.append(ReviewItem(name, _jpeg(photo)))
        truth[name] = name
        if rank < originals:
            for c, edit in enumerate(rng.choice(COPY_EDITS, size=copies, replace=copies > len(COPY_EDITS))):
                copy_id = f"{name}~{c}-{edit}"
                items.append(ReviewItem(copy_id, _jpeg(apply_edit(str(edit), photo, rng)[0])))
                truth[copy_id] = name
    assert set(COPY_EDITS) <= set(EDITS)
    return items, truth


def run(
    images: Path, originals: int, copies: int, embedder: str = "sscd", seed: int = 0
) -> dict[str, object]:
    items, truth = make_batch(images, originals, copies, seed)
    engine = open_engine(embedder=embedder)
    described: list[float] = []
    start = time.perf_counter()
    report = cluster_images(engine, items, progress=lambda _: described.append(time.perf_counter() - start))
    seconds = time.perf_counter() - start
    precision, recall = b_cubed(truth, [[m.id for m in c.members] for c in report.clusters])
    wrong = [[m.id for m in c.members] for c in report.clusters if len({truth[m.id] for m in c.members}) > 1]
    return {
        "images": len(items),
        "originals": originals,
        "copies_each": copies,
        "embedder": embedder,
        "clusters": len(report.clusters),
        "singletons": len(report.singletons),
        "failed": len(report.failed),
        "bcubed_precision": round(precision, 4),
        "bcubed_recall": round(recall, 4),
        "seconds": round(seconds, 1),
        "describe_seconds": round(described[0], 1),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "impure_clusters": len(wrong),
        "impure_examples": wrong[:5],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--images", type=Path, required=True)
    p.add_argument("--originals", type=int, default=100)
    p.add_argument("--copies", type=int, default=8)
    p.add_argument("--embedder", default="sscd")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    print(json.dumps(run(args.images, args.originals, args.copies, args.embedder, args.seed), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
