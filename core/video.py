"""Video as a media type on the same engine: decode -> sampled frames -> descriptors ->
alignment -> the calibrated scale.

A video is a sequence of (timestamp, descriptor): frames sampled by
:func:`lookalike.embed.video.decode_video`, each described by the engine's embedder
(batched) and the mirror-aware pHash. Two videos are compared through their frame-to-frame
cosine matrix (:func:`lookalike.score.align.align`); a segment's mean frame cosine goes
through the engine's scorer with the video anchors
(:data:`lookalike.score.calibration.VIDEO_ANCHORS`), so 0.85 and 0.97 mean what they mean
for images.

In an index, each sampled frame is one record: external id ``<video id>#t=<seconds>``,
metadata ``{"video": <video id>, "t": <seconds>, "duration": ..., ...}``. No catalog
change was needed: deleting a video deletes the records with its id prefix, a search
groups frame hits per video, and an image query finds the frames (timestamps) of a video
it was taken from.
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .embed.descriptor import Descriptor, LocalFeatures
from .embed.hashes import phash_pair
from .embed.video import DEFAULT_FPS, DecodedVideo, VideoLimits, decode_video, is_video
from .engine import Engine, Hit, IngestOutcome
from .errors import EmptyVideoError, LookalikeError
from .index.catalog import NewItem, Record
from .index.frames import FRAME_SEP, frame_id, frames_of, per_reference
from .index.reference import ReferenceIndex
from .index.results import AddResult
from .score.align import Alignment, AlignParams, align
from .score.calibration import video_calibration_for
from .score.decision import MatchResult
from .score.scorer import Scorer
from .video_descriptor import Described, FrameBatches, VideoDescriptor

__all__ = [
    "FRAME_SEP",
    "VideoDescriptor",
    "VideoFlow",
    "VideoHit",
    "VideoIngestItem",
    "frame_id",
    "is_video",
]

Source = bytes | str | Path


@dataclass(frozen=True)
class VideoHit:
    """A reference video found for a query: its best segment's score and the segments
    (``source_*`` in the reference, ``target_*`` in the query video), or for an image
    query the ``timestamps`` of the reference frames it matches."""

    external_id: str
    similarity: float
    segments: list[dict[str, float]]
    record: Record
    timestamps: list[float] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.external_id

    @property
    def score(self) -> float:
        return self.similarity

    @property
    def metadata(self) -> dict[str, Any]:
        return {k: v for k, v in self.record.metadata.items() if k not in ("t", "video")}

    @property
    def source(self) -> str | None:
        return self.record.source


@dataclass(frozen=True)
class VideoIngestItem:
    external_id: str
    source: Source
    metadata: dict[str, Any] = field(default_factory=dict)
    origin: str | None = None


class VideoFlow:
    """Video verbs over an :class:`Engine`: ``describe``, ``match``, ``ingest``, ``search``
    and ``search_image`` (an image query whose hits may be videos)."""

    def __init__(
        self,
        engine: Engine,
        *,
        fps: float = DEFAULT_FPS,
        limits: VideoLimits | None = None,
        params: AlignParams | None = None,
    ) -> None:
        self.engine = engine
        self.fps = fps
        self.limits = limits or VideoLimits()
        self.params = params or AlignParams()
        name = engine.embedder.info.name
        self.scorer = Scorer(video_calibration_for(name), engine.scorer.threshold)
        self.size = int(getattr(engine.embedder, "size", 224))

    # -- describing ----------------------------------------------------------------------

    def decode(self, source: Source) -> DecodedVideo:
        return decode_video(source, fps=self.fps, size=self.size, limits=self.limits)

    def describe(self, source: Source | DecodedVideo, query: bool = False) -> VideoDescriptor:
        """A video's sampled frames, described; a ``query`` keeps its frames, in case its
        views are wanted. Frames are described in batches on a worker thread while
        the rest of the video decodes: FFmpeg and the model both release the GIL."""
        if isinstance(source, DecodedVideo):
            video, (vectors, hashes) = source, self._described(source.frames)
        else:
            batches = FrameBatches(self._described, self._describer)
            try:
                video = decode_video(
                    source, fps=self.fps, size=self.size, limits=self.limits, on_frame=batches.add
                )
            except BaseException:
                batches.cancel()
                raise
            vectors, hashes = batches.result()
        return VideoDescriptor(
            times=video.times,
            vectors=vectors,
            phashes=np.stack([h[0] for h in hashes]),
            phashes_mirror=np.stack([h[1] for h in hashes]),
            informative=video.informative,
            duration=video.duration,
            fps=video.fps,
            width=video.width,
            height=video.height,
            sha256=video.sha256,
            n_bytes=video.n_bytes,
            frames=video.frames if query else (),
        )

    def _described(self, frames: Sequence[Image.Image]) -> Described:
        return self.engine.embedder.embed(frames), [phash_pair(frame) for frame in frames]

    @functools.cached_property
    def _describer(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(1, thread_name_prefix="frames")

    # -- pairwise ------------------------------------------------------------------------

    def align(self, source: VideoDescriptor, target: VideoDescriptor) -> list[Alignment]:
        """Segments of ``source`` copied in ``target``, best first: a target frame matches a
        source frame by its whole picture or, once described, by its best view."""
        sim = target.vectors @ source.vectors.T
        for view in target.views or ():
            sim = np.maximum(sim, view @ source.vectors.T)
        sim[~target.informative, :] = 0.0
        sim[:, ~source.informative] = 0.0
        return align(
            sim,
            target.times,
            source.times,
            dur_tgt=target.duration,
            dur_src=source.duration,
            params=self.params,
        )

    def segments(self, found: Sequence[Alignment]) -> list[dict[str, float]]:
        out = [
            {
                "source_start": a.source_start,
                "source_end": a.source_end,
                "target_start": a.target_start,
                "target_end": a.target_end,
                "similarity_score": self.scorer.similarity(a.cosine, a.cosine, a.cosine),
            }
            for a in found
        ]
        out.sort(key=lambda s: -s["similarity_score"])
        return out

    def wants_views(self, found: Sequence[Alignment], sim_max: float, pair: bool) -> bool:
        """The image rule (:meth:`Scorer.wants_views`) on a video: its evidence is the best
        segment's cosine, or where no segment was found the best frame cosine."""
        best = max((a.cosine for a in found), default=sim_max)
        return self.scorer.wants_views(np.array([best]), pair)

    def match(self, source: Source, target: Source) -> MatchResult:
        start = time.perf_counter()
        reference, query = self.describe(source), self.describe(target, query=True)
        found = self.align(reference, query)
        if self.wants_views(found, float((query.vectors @ reference.vectors.T).max()), pair=True):
            found = self.align(reference, query.with_views(self.engine.embedder))
        segments = self.segments(found)
        score = segments[0]["similarity_score"] if segments else 0.0
        elapsed_ms = (time.perf_counter() - start) * 1000
        return self.scorer.decide(score, elapsed_ms, media_type="video", segments=segments)

    # -- the index -------------------------------------------------------------------------

    def _index(self) -> ReferenceIndex:
        if self.engine.index is None:
            raise LookalikeError("this engine has no index")
        return self.engine.index

    def frames_of(self, video_id: str) -> list[Record]:
        return frames_of(self._index(), video_id)

    def delete(self, ids: Sequence[str]) -> list[str]:
        """Delete references by id, an image or a whole video (all its frames); the ids
        that existed."""
        return per_reference(self._index(), ids, self._index().delete)

    def set_enabled(self, ids: Sequence[str], enabled: bool) -> list[str]:
        """Enable or disable references by id, an image or a whole video (all its frames);
        the ids that existed."""
        index = self._index()
        return per_reference(index, ids, lambda some: index.set_enabled(some, enabled))

    def ingest(
        self, items: Sequence[VideoIngestItem], progress: Callable[[int], None] | None = None
    ) -> list[IngestOutcome]:
        """Describe and add videos, one batch (one commit) per video; an existing video id
        is replaced (its old frames removed); a bad video is reported and skipped."""
        index = self._index()
        outcomes = []
        for item in items:
            try:
                desc = self.describe(item.source)
                keep = desc.informative if desc.informative.any() else np.ones(len(desc), dtype=bool)
                if not keep.any():
                    raise EmptyVideoError(f"{item.external_id}: no frame to index")
                old = [r.external_id for r in self.frames_of(item.external_id)]
                origin = item.origin or (None if isinstance(item.source, bytes) else str(item.source))
                new_items = [
                    NewItem(
                        external_id=frame_id(item.external_id, float(t)),
                        descriptor=Descriptor(
                            vector=desc.vectors[i],
                            phash=desc.phashes[i],
                            phash_mirror=desc.phashes_mirror[i],
                            local=LocalFeatures.empty((self.size, self.size)),
                        ),
                        sha256=hashlib.sha256(f"{desc.sha256}{FRAME_SEP}{t:.3f}".encode()).hexdigest(),
                        width=desc.width,
                        height=desc.height,
                        source=origin,
                        metadata={
                            **item.metadata,
                            "video": item.external_id,
                            "t": round(float(t), 3),
                            "duration": desc.duration,
                            "video_sha256": desc.sha256,
                        },
                    )
                    for i, t in enumerate(desc.times)
                    if keep[i]
                ]
                if old:
                    index.delete(old)
                added = index.add(new_items)
                outcomes.append(
                    IngestOutcome(
                        item.external_id,
                        ok=True,
                        result=AddResult(item.external_id, added[0].iid, replaced=bool(old)),
                    )
                )
            except LookalikeError as exc:
                outcomes.append(IngestOutcome(item.external_id, ok=False, error=exc))
            if progress is not None:
                progress(1)
        return outcomes

    def search(self, query: Source | VideoDescriptor, k: int = 10, shortlist: int = 20) -> list[VideoHit]:
        """Reference videos that ``query`` (a video) copies, best first: each query frame
        nominates the videos of its nearest stored frames, and each nominee is aligned
        with the whole query; without a confident copy, the frames' views (their centre, and
        an inset where the clip shows one) are described and nominate and align too (as an
        image query's views do)."""
        desc = query if isinstance(query, VideoDescriptor) else self.describe(query, query=True)
        nominees = self._nominees(desc, shortlist)
        found = self._aligned(desc, sorted(nominees, key=lambda v: -nominees[v])[: max(2 * k, 10)])
        evidence = [a for _, _, aligned in found for a in aligned]
        if self.wants_views(evidence, max(nominees.values(), default=-1.0), pair=False):
            desc = desc.with_views(self.engine.embedder)
            nominees = self._nominees(desc, shortlist)
            found = self._aligned(desc, sorted(nominees, key=lambda v: -nominees[v])[: max(2 * k, 10)])
        hits = []
        for vid, records, aligned in found:
            segments = self.segments(aligned)
            if segments:
                hits.append(VideoHit(vid, segments[0]["similarity_score"], segments, records[0]))
        hits.sort(key=lambda h: (-h.similarity, h.external_id))
        return hits[:k]

    def _nominees(self, desc: VideoDescriptor, shortlist: int) -> dict[str, float]:
        """Stored videos near some frame of ``desc`` (by its whole picture or one of its
        views), with the best frame cosine."""
        index = self._index()
        nominees: dict[str, float] = {}
        looks = [desc.vectors, *(desc.views or ())]
        for i in np.flatnonzero(desc.informative):
            for vectors in looks:
                frame = Descriptor(vectors[i], desc.phashes[i], desc.phashes_mirror[i], LocalFeatures.empty())
                for rec in index.candidates(frame, shortlist):
                    vid = rec.metadata.get("video")
                    if isinstance(vid, str):
                        cos = float(np.dot(vectors[i], rec.descriptor.vector))
                        nominees[vid] = max(nominees.get(vid, -1.0), cos)
        return nominees

    def _aligned(
        self, desc: VideoDescriptor, videos: Sequence[str]
    ) -> list[tuple[str, list[Record], list[Alignment]]]:
        out = []
        for vid in videos:
            records = self.frames_of(vid)
            if records:
                out.append((vid, records, self.align(VideoDescriptor.from_records(records), desc)))
        return out

    def search_image(self, query: Source, k: int = 10) -> list[Hit | VideoHit]:
        """Top-``k`` references for an image query, where a video counts once: its score is
        its best frame's, and ``timestamps`` are the frames that match (at or above the
        threshold; the best frame if none does)."""
        hits = self.engine.search(query, k)
        if any("video" in h.record.metadata for h in hits):
            # frames of one video crowd the list: look further, then group
            hits = self.engine.search(query, max(4 * k, 50))
        out: list[Hit | VideoHit] = []
        videos: dict[str, list[Hit]] = {}
        for hit in hits:
            vid = hit.record.metadata.get("video")
            if isinstance(vid, str):
                if vid not in videos:
                    videos[vid] = []
                    out.append(hit)  # placeholder, replaced below
                videos[vid].append(hit)
            else:
                out.append(hit)
        result: list[Hit | VideoHit] = []
        for item in out:
            vid = item.record.metadata.get("video") if isinstance(item, Hit) else None
            if not isinstance(vid, str):
                result.append(item)
                continue
            frames = videos[vid]
            good = [h for h in frames if h.score.similarity >= self.engine.scorer.threshold] or frames[:1]
            result.append(
                VideoHit(
                    vid,
                    frames[0].score.similarity,
                    [],
                    frames[0].record,
                    timestamps=sorted(float(h.record.metadata["t"]) for h in good),
                )
            )
        return result[:k]
