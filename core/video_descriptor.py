"""A video as its descriptors: what :class:`~lookalike.video.VideoFlow` compares, stores and
searches, and the batches its sampled frames are described in while the clip decodes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np
from PIL import Image

from .embed.base import Embedder
from .embed.box import crop
from .embed.inset import inset_box
from .embed.views import query_views
from .index.catalog import Record

__all__ = ["Described", "FrameBatches", "VideoDescriptor"]

#: Frames described: their vectors and their pHash pairs, in frame order.
Described = tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]


@dataclass(frozen=True)
class VideoDescriptor:
    """A video as sampled frames: times (s), unit vectors, pHashes, which frames carry
    content, and the stream's facts."""

    times: np.ndarray
    vectors: np.ndarray
    phashes: np.ndarray
    phashes_mirror: np.ndarray
    informative: np.ndarray
    duration: float
    fps: float = 0.0
    width: int = 0
    height: int = 0
    sha256: str = ""
    n_bytes: int = 0
    #: The frames' views, once described (:meth:`with_views`): their centre, and the clip's
    #: picture-in-picture inset where it has one; a copy shown inside another picture sits
    #: there. Each is a [n, dim] array, row for row with ``vectors``.
    views: tuple[np.ndarray, ...] | None = None
    #: The sampled frames, kept by a query (:meth:`~lookalike.video.VideoFlow.describe`) until its views are
    #: described.
    frames: Sequence[Image.Image] = field(default=(), repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.times)

    def with_views(self, embedder: Embedder) -> VideoDescriptor:
        """This video with its frames' views described: the centre of each frame
        (:mod:`lookalike.embed.views`) and, where the clip shows one, its inset
        (:mod:`lookalike.embed.inset`). Once; a stored video, which keeps no pixels, stays as
        it is."""
        if self.views is not None or not self.frames:
            return self
        views = [embedder.embed([query_views(frame)[0].image for frame in self.frames])]
        box = inset_box(self.frames)
        if box is not None:
            views.append(embedder.embed([crop(frame, box) for frame in self.frames]))
        return replace(self, views=tuple(views), frames=())

    @classmethod
    def from_records(cls, records: Sequence[Record]) -> VideoDescriptor:
        """A stored video, from its frame records."""
        records = sorted(records, key=lambda r: float(r.metadata.get("t", 0.0)))
        meta = records[0].metadata if records else {}
        return cls(
            times=np.array([float(r.metadata["t"]) for r in records]),
            vectors=np.stack([r.descriptor.vector for r in records]) if records else np.zeros((0, 1)),
            phashes=np.stack([r.descriptor.phash for r in records])
            if records
            else np.zeros((0, 8), np.uint8),
            phashes_mirror=np.stack([r.descriptor.phash_mirror for r in records])
            if records
            else np.zeros((0, 8), np.uint8),
            informative=np.ones(len(records), dtype=bool),
            duration=float(meta.get("duration", 0.0)),
            sha256=str(meta.get("video_sha256", "")),
        )


class FrameBatches:
    """Sampled frames handed to ``describe`` on ``pool`` in batches as they are decoded, in
    order. A batch is smaller than a model batch so that the model starts early on a short
    clip (a 5 s clip at 2 fps has 11 frames); batches of 8 cost the model what 16 do per
    frame."""

    SIZE = 8

    def __init__(
        self,
        describe: Callable[[Sequence[Image.Image]], Described],
        pool: ThreadPoolExecutor,
    ) -> None:
        self._describe, self._pool = describe, pool
        self._batch: list[Image.Image] = []
        self._pending: list[Future[Described]] = []

    def add(self, frame: Image.Image) -> None:
        self._batch.append(frame)
        if len(self._batch) == self.SIZE:
            self._submit()

    def _submit(self) -> None:
        if self._batch:
            self._pending.append(self._pool.submit(self._describe, self._batch))
            self._batch = []

    def cancel(self) -> None:
        for pending in self._pending:
            pending.cancel()

    def result(self) -> Described:
        self._submit()
        parts = [pending.result() for pending in self._pending]
        return np.concatenate([p[0] for p in parts]), [h for p in parts for h in p[1]]
