"""The background sets the scorer normalises against (:mod:`lookalike.score.background`).

    lookalike bench background --images DIR --embedder sscd [--stride 2 --offset 1]

describes every ``stride``-th image of ``DIR`` (sorted by path, starting at ``offset``) and
writes the unit vectors as float16 to ``score/background-sets/<embedder>.npy``, or to ``--out``.
The shipped sets: the dev corpus (``shared/corpus/fetch-dev-corpus``) with ``--stride 2
--offset 1``, 357 images that share nothing with the photo benchmark the anchors are
fitted and checked on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..embed.factory import get_embedder
from ..errors import InputError
from ..score.background import BACKGROUND_DIR
from .dataset import load_image

__all__ = ["write_background"]


def write_background(
    images: Path, embedder: str, stride: int = 1, offset: int = 0, out: Path | None = None
) -> tuple[Path, int]:
    """Describe the chosen images and save them; the file and how many rows it holds."""
    files = sorted(p for p in images.iterdir() if p.is_file())[offset::stride]
    if not files:
        raise InputError(f"{images}: no images chosen (stride {stride}, offset {offset})")
    model = get_embedder(embedder)
    vectors = np.concatenate(
        [model.embed([load_image(p) for p in files[i : i + 32]]) for i in range(0, len(files), 32)]
    )
    path = out or BACKGROUND_DIR / f"{embedder}.npy"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors.astype(np.float16))
    return path, len(vectors)
