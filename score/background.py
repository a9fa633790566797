"""Score normalisation against a background of unrelated images (the ISC 2021 / SSCD practice).

Some queries sit close to everything: a product on white, a flat graphic, a dark scene. Their
raw cosine to any reference is high, and so is their false-alarm rate. Subtracting how close
the query sits to images it certainly does not copy (the mean of its ``k`` best cosines over
a fixed background set) puts every query on the same footing: measured on real photos, it
lifted µAP by 0.005-0.014 and let the match anchor drop at the same false-alarm budget
(data/README.md).

The background sets ship with the package, one per embedder (``background-sets/<name>.npy``,
float16 unit vectors): 357 images of the dev corpus (clip art, sprites and photos; disjoint
from the photo benchmark), described by ``lookalike bench background``. An embedder without
one (CLIP, the test fake) is not normalised.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np

__all__ = ["BACKGROUND_DIR", "Background"]

BACKGROUND_DIR = Path(__file__).parent / "background-sets"


class Background:
    """A background set and how many of its best cosines make a query's offset."""

    def __init__(self, vectors: np.ndarray, k: int = 3) -> None:
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.k = max(1, min(k, len(self.vectors)))

    @classmethod
    def bundled(cls, embedder: str, k: int = 3) -> Background | None:
        """The set shipped for ``embedder``, or None when there is none."""
        vectors = _load(embedder)
        return None if vectors is None else cls(vectors, k)

    def offsets(self, queries: np.ndarray) -> np.ndarray:
        """Per query row: the mean of its ``k`` best cosines over the background."""
        sims = np.asarray(queries, dtype=np.float32) @ self.vectors.T
        top = np.partition(sims, len(self.vectors) - self.k, axis=1)[:, -self.k :]
        return np.asarray(top.mean(axis=1), dtype=np.float32)


@cache
def _load(embedder: str) -> np.ndarray | None:
    path = BACKGROUND_DIR / f"{embedder}.npy"
    return np.load(path).astype(np.float32) if path.is_file() else None
