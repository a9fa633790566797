"""Decoded image -> descriptor: the neural vector, the mirror-aware pHash and the local
features, computed together so that every channel describes the same pixels."""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image, ImageOps

from .base import Embedder
from .descriptor import Descriptor
from .hashes import phash_pair
from .local import extract_local

__all__ = ["Encoder"]


class Encoder:
    """Turns decoded images into descriptors with one embedder."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def encode(self, images: Sequence[Image.Image], query: bool = True) -> list[Descriptor]:
        """Descriptors of ``images``; ``query=False`` (references being stored) skips the
        mirrored keypoints."""
        vectors = self.embedder.embed(images)
        out = []
        for image, vector in zip(images, vectors, strict=True):
            ph, ph_mirror = phash_pair(image)
            out.append(
                Descriptor(
                    vector=vector,
                    phash=ph,
                    phash_mirror=ph_mirror,
                    local=extract_local(image),
                    local_mirror=extract_local(ImageOps.mirror(image)) if query else None,
                )
            )
        return out
