"""Decoded image -> descriptor: the neural vector and the mirror-aware pHash together."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .base import Embedder
from .hashes import phash_pair

__all__ = ["Descriptor", "Encoder"]


@dataclass(frozen=True)
class Descriptor:
    """Everything the scorer compares: ``vector`` (unit float32), ``phash`` of the image and
    ``phash_mirror`` of its horizontal mirror (8 packed bytes each)."""

    vector: np.ndarray
    phash: np.ndarray
    phash_mirror: np.ndarray


class Encoder:
    """Turns decoded images into descriptors with one embedder."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def encode(self, images: Sequence[Image.Image]) -> list[Descriptor]:
        vectors = self.embedder.embed(images)
        out = []
        for image, vector in zip(images, vectors, strict=True):
            ph, ph_mirror = phash_pair(image)
            out.append(Descriptor(vector=vector, phash=ph, phash_mirror=ph_mirror))
        return out
