"""`make run`: build (or reuse) a demo index of a folder of photos, look up an edited copy of
one of them the way a listing gate would, then serve the HTTP API over the index on
127.0.0.1:8000 with a fresh key printed in a ready-to-paste curl line.

The Makefile fills ``demo-photos/`` with scikit-image's bundled photos; any folder works.
"""

from __future__ import annotations

import argparse
import io
import secrets
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps

from .embed.files import iter_image_files
from .engine import Engine, IngestItem
from .factory import open_engine

__all__ = ["build_demo_index", "edited_copy", "main"]


def build_demo_index(path: Path, photos: Path) -> Engine:
    """Open the demo index, ingesting the photos in ``photos`` the first time."""
    engine = open_engine(path, create=True)
    index = engine.index
    assert index is not None
    if len(index) == 0:
        outcomes = engine.ingest(
            [IngestItem(ext_id, file, {"source": "demo"}) for ext_id, file in iter_image_files([photos])]
        )
        index.save()
        print(f"built {path}: {sum(o.ok for o in outcomes)} reference photos")
    else:
        print(f"reusing {path}: {len(index)} reference photos")
    return engine


def edited_copy(path: Path) -> bytes:
    """What a copying seller uploads: mirrored, cropped, stamped with text, re-encoded."""
    with Image.open(path) as im:
        img = ImageOps.mirror(im.convert("RGB"))
    w, h = img.size
    img = img.crop((w // 8, h // 10, w - w // 12, h - h // 8))
    ImageDraw.Draw(img).text(
        (10, 10), "BEST PRICE!", font=ImageFont.load_default(size=h // 10), fill="yellow"
    )
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=35)
    return buf.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--index", type=Path, default=Path("demo-index"))
    parser.add_argument("--photos", type=Path, default=Path("demo-photos"), help="folder of reference photos")
    parser.add_argument("--query", default="chelsea.png", help="which sample photo to copy and look up")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--no-serve", action="store_true", help="stop after the lookup")
    args = parser.parse_args(argv)

    engine = build_demo_index(args.index, args.photos)
    query = edited_copy(args.photos / args.query)
    print(f"\nquery: {args.query}, mirrored + cropped + text + JPEG q35 ({len(query)} bytes)")
    for rank, hit in enumerate(engine.search(query, args.k), 1):
        verdict = "MATCH" if hit.score.similarity >= engine.scorer.threshold else ""
        print(
            f"  {rank}. {hit.external_id:<24} similarity {hit.score.similarity:.4f}  "
            f"(cosine {hit.score.cosine:.3f}, pHash distance {hit.score.hash_distance:>2})  {verdict}"
        )
    assert engine.index is not None
    engine.index.close()  # the server opens the index for writing
    if args.no_serve:
        return 0
    from .api.serve import serve

    query_file = Path(tempfile.gettempdir()) / "lookalike-demo-query.jpg"
    query_file.write_bytes(query)
    print()
    serve(
        args.index,
        args.host,
        args.port,
        api_key=secrets.token_urlsafe(16),
        example_images=((args.photos / args.query).resolve(), query_file),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
