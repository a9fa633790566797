"""Decoded image -> descriptor. A reference is described once, completely, as it is stored
(:class:`~lookalike.embed.descriptor.Descriptor`); a query is described as little as its
answer needs (:class:`Query`): the whole image first, and its other views and its keypoints
only when the scorer asks for them."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from .base import Embedder
from .descriptor import Descriptor, LocalFeatures
from .foreground import object_mask
from .hashes import phash_pair
from .local import QUERY, REFERENCE, extract_local
from .views import FULL, Box, query_views

__all__ = ["Encoder", "Prepared", "Query", "shrunk"]


def shrunk(image: Image.Image, side: int) -> Image.Image:
    """``image`` with its longer side at most ``side`` (whole-factor reduction first: cheap)."""
    w, h = image.size
    scale = side / max(w, h)
    if scale >= 1:
        return image
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return image.resize(size, Image.Resampling.BILINEAR, reducing_gap=1.0)


@dataclass(frozen=True)
class Prepared:
    """One side of a pair, described on any thread: ``image`` as decoded, ``work`` (the
    working copy a reference is described from), its descriptor and its pHash pair."""

    image: Image.Image
    work: Image.Image
    vector: np.ndarray
    phashes: tuple[np.ndarray, np.ndarray]


class Query:
    """An image being matched: the full view's descriptor, the views described so far
    (``names``, ``boxes``, ``vectors`` row by row: the full view first), and what scorers
    have worked out about them (``offsets``: per background set, one offset per view).

    A query built from a descriptor alone (no pixels) has only its full view and the
    descriptor's keypoints.
    """

    #: Quality of the JPEG a compacted query keeps its pixels in.
    COMPACT_QUALITY = 95

    def __init__(
        self, descriptor: Descriptor, image: Image.Image | None = None, embedder: Embedder | None = None
    ):
        self.descriptor = descriptor
        self.image = image
        self._embedder = embedder
        self.names = ["full"]
        self.boxes: list[Box] = [FULL]
        self.vectors = descriptor.vector[None, :]
        self.offsets: dict[int, np.ndarray] = {}
        self.has_views = image is None or embedder is None
        self._keypoints: tuple[LocalFeatures, LocalFeatures | None] | None = None
        self._object: tuple[np.ndarray | None] | None = None
        self._jpeg: bytes | None = None

    def compact(self) -> None:
        """Keep the pixels as a JPEG until views or keypoints need them (decoded then, for
        that call only): a batch of 10,000 queries held at once, as clustering holds them,
        takes ~0.1 MB each instead of ~1 MB at 640 px."""
        if self.image is not None and not (
            self.has_views and self._keypoints is not None and self._object is not None
        ):
            buf = io.BytesIO()
            self.image.convert("RGB").save(buf, "JPEG", quality=self.COMPACT_QUALITY)
            self._jpeg = buf.getvalue()
        self.image = None

    def _pixels(self) -> Image.Image | None:
        if self.image is None and self._jpeg is not None:
            with Image.open(io.BytesIO(self._jpeg)) as im:
                return im.convert("RGB")
        return self.image

    def add_views(self) -> bool:
        """Describe the other views (once); whether any vector was added."""
        if self.has_views:
            return False
        self.has_views = True
        image = self._pixels()
        assert image is not None and self._embedder is not None
        views = query_views(image, self._object_in(image))
        if not views:
            return False
        self.names += [v.name for v in views]
        self.boxes += [v.box for v in views]
        self.vectors = np.concatenate([self.vectors, self._embedder.embed([v.image for v in views])])
        return True

    def object_mask(self) -> np.ndarray | None:
        """The query's object told from its surround (:func:`.foreground.object_mask`), found
        once; None when it has none or the query has no pixels."""
        return self._object_in(self._pixels() if self._object is None else None)

    def _object_in(self, image: Image.Image | None) -> np.ndarray | None:
        """The object mask, found in ``image`` (the query's pixels) unless already known."""
        if self._object is None:
            self._object = (None if image is None else object_mask(image),)
        return self._object[0]

    def keypoints(self) -> tuple[LocalFeatures, LocalFeatures | None]:
        """The query's keypoints and its mirror's (ORB is not mirror-invariant), found once."""
        if self._keypoints is None:
            image = self._pixels()
            if image is None:
                self._keypoints = (self.descriptor.local, None)
            else:
                self._keypoints = (extract_local(image, QUERY), extract_local(ImageOps.mirror(image), QUERY))
        return self._keypoints


class Encoder:
    """Turns decoded images into descriptors with one embedder."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def encode(self, images: Sequence[Image.Image]) -> list[Descriptor]:
        """References: the vector, the pHash pair and the stored keypoints of each image,
        all from one working copy no larger than the stored keypoints need."""
        work = [shrunk(image, REFERENCE.side) for image in images]
        vectors = self.embedder.embed(work)  # described from the same copy as in pair()
        return [
            Descriptor(vector, *phash_pair(image), extract_local(image, REFERENCE))
            for image, vector in zip(work, vectors, strict=True)
        ]

    def query(self, images: Sequence[Image.Image]) -> list[Query]:
        """Queries: the full view and the pHash pair now; views and keypoints on demand. The
        full view is described from the same working copy as a reference, so an image
        matches itself exactly; views and keypoints use the whole image."""
        work = [shrunk(image, REFERENCE.side) for image in images]
        return self._queries(images, work, self.embedder.embed(work))

    def _queries(
        self, images: Sequence[Image.Image], work: Sequence[Image.Image], vectors: np.ndarray
    ) -> list[Query]:
        return [
            Query(Descriptor(vector, *phash_pair(small), LocalFeatures.empty()), image, self.embedder)
            for image, small, vector in zip(images, work, vectors, strict=True)
        ]

    def prepare(self, image: Image.Image) -> Prepared:
        """What :meth:`pair` needs of one image. The two sides of a pair are prepared at once
        on two threads, each through the embedder's :meth:`~.Embedder.lane`: Pillow and the
        model release the GIL, so one side's decoding overlaps the other's forward."""
        work = shrunk(image, REFERENCE.side)
        (vector,) = self.embedder.lane().embed([work])
        return Prepared(image, work, vector, phash_pair(work))

    def pair(self, reference: Prepared, query: Prepared) -> tuple[Descriptor, Query]:
        """A reference and a query from their prepared sides; the reference's keypoints are
        left for :meth:`keypoints` (a pair needs them only when its score is uncertain)."""
        described = Descriptor(reference.vector, *reference.phashes, LocalFeatures.empty())
        return described, Query(
            Descriptor(query.vector, *query.phashes, LocalFeatures.empty()), query.image, self.embedder
        )

    @staticmethod
    def keypoints(reference: Image.Image) -> LocalFeatures:
        """The keypoints a reference keeps."""
        return extract_local(shrunk(reference, REFERENCE.side), REFERENCE)
