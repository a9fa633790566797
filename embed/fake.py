"""A tiny in-memory embedder for tests of everything that is not the model itself.

It describes an image by its 16x16 grey thumbnail, centred and normalised: exact for
identical pixels, weak for real edits, instant, and needs no weights.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from .base import Embedder, EmbedderInfo

__all__ = ["FakeEmbedder"]


class FakeEmbedder(Embedder):
    def __init__(self, side: int = 16, version: str = "1") -> None:
        self.side = side
        self.info = EmbedderInfo(name="fake", dim=side * side, version=version, weights_digest="none")

    def _forward(self, batch: list[Image.Image]) -> np.ndarray:
        rows = []
        for im in batch:
            thumb = np.asarray(im.convert("L").resize((self.side, self.side)), dtype=np.float32).ravel()
            thumb -= thumb.mean()
            rows.append(thumb if thumb.any() else np.ones_like(thumb))
        return np.stack(rows)
