"""The whole flow in one object: bytes -> decoded image -> descriptor -> index -> candidates
-> pairwise score -> decision. The CLI, the service and the benchmark all call these verbs
(``encode``, ``match``, ``ingest``, ``search``), so each ships the same behaviour.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from .embed.base import Embedder
from .embed.decode import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, DRAFT_SIDE, DecodedImage, decode_image
from .embed.descriptor import Descriptor
from .embed.encode import Encoder, Prepared, Query, shrunk
from .embed.local import REFERENCE
from .errors import LookalikeError
from .index.catalog import NewItem, Record
from .index.feedback import FeedbackRecord, Verdict
from .index.reference import ReferenceIndex
from .index.results import AddResult
from .index.thumbnails import make_thumbnail
from .score.decision import IDENTICAL_THRESHOLD, MatchResult
from .score.flood import FloodGuard
from .score.gate import GateDecision, GateRule
from .score.scorer import PairScore, Scorer

__all__ = ["Engine", "GateMatch", "GateVerdict", "Hit", "IngestItem", "IngestOutcome"]

ImageSource = bytes | str | Path
T = TypeVar("T")
A = TypeVar("A")
R = TypeVar("R")


@dataclass(frozen=True)
class IngestItem:
    external_id: str
    source: ImageSource
    metadata: dict[str, Any] = field(default_factory=dict)
    #: Where the image came from (path or URL) when ``source`` is raw bytes.
    origin: str | None = None


@dataclass(frozen=True)
class IngestOutcome:
    external_id: str
    ok: bool
    result: AddResult | None = None
    error: LookalikeError | None = None


@dataclass(frozen=True)
class Hit:
    """One search result: a reference image and how the query scores against it."""

    external_id: str
    score: PairScore
    record: Record


@dataclass(frozen=True)
class GateMatch:
    """A reference image at or above the review threshold, and what it alone would decide."""

    hit: Hit
    decision: GateDecision
    #: Quarantined: this reference floods the gate, so its match goes to review.
    flood: bool = False

    # The answer's field names, so the edges validate their JSON models from this object.
    @property
    def id(self) -> str:
        return self.hit.external_id

    @property
    def score(self) -> float:
        return self.hit.score.similarity

    @property
    def cosine(self) -> float:
        return self.hit.score.full_cosine

    @property
    def metadata(self) -> dict[str, Any]:
        return self.hit.record.metadata

    @property
    def source(self) -> str | None:
        return self.hit.record.source


@dataclass(frozen=True)
class GateVerdict:
    """The listing gate's answer: the best match's decision and the evidence, best first."""

    decision: GateDecision
    matches: list[GateMatch]
    rule: GateRule
    processing_time_ms: int

    @property
    def flood(self) -> bool:
        return any(m.flood for m in self.matches)

    @property
    def block_threshold(self) -> float:
        return self.rule.block_threshold

    @property
    def review_threshold(self) -> float:
        return self.rule.review_threshold


class Engine:
    """The flow over one embedder and its scorer; ``index`` is needed by ingest, search and
    gate only. Build one with :func:`lookalike.factory.open_engine`."""

    def __init__(
        self,
        embedder: Embedder,
        scorer: Scorer,
        index: ReferenceIndex | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        flood: FloodGuard | None = None,
        workers: int | None = None,
    ) -> None:
        """``workers``: threads that describe images for ingest (default: the cores)."""
        self.embedder = embedder
        self.encoder = Encoder(embedder)
        self.scorer = scorer
        self.index = index
        self.max_bytes = max_bytes
        self.max_pixels = max_pixels
        self.flood = flood
        # Long-lived pools: their threads keep their OpenCV detectors and catalog connections.
        #: Threads that prepare one side of a pair while the caller prepares the other.
        self._helpers = ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix="pair")
        self.workers = workers or os.cpu_count() or 1
        self._describers = ThreadPoolExecutor(self.workers, thread_name_prefix="ingest")

    def decode(self, source: ImageSource, reference: bool = False) -> DecodedImage:
        """``reference``: the image is only described as a stored reference (model, stored
        keypoints, thumbnail), so a JPEG may be decoded at a smaller scale."""
        side = REFERENCE.side if reference else DRAFT_SIDE
        return decode_image(source, max_bytes=self.max_bytes, max_pixels=self.max_pixels, draft_side=side)

    def compare(self, source: ImageSource, target: ImageSource) -> PairScore:
        """The evidence that ``target`` copies ``source``: ``source`` is described as a
        reference is stored, ``target`` as a query (its views and mirror are tried).

        The two images are decoded and described at once, the source on a helper thread."""
        pending = self._helpers.submit(self._prepare, source, True)
        try:
            target_side = self._prepare(target, False)
        except LookalikeError:
            pending.result()  # the source's error first, as when the two were decoded in turn
            raise
        source_side = pending.result()
        reference, query = self.encoder.pair(source_side, target_side)
        if self.scorer.wants_views(query.vectors[:1] @ reference.vector, pair=True):
            query.add_views()
        score = self.scorer.score(query, reference)
        if not self.scorer.could_verify(score):
            return score
        return self.scorer.score(query, replace(reference, local=self.encoder.keypoints(source_side.work)))

    def _prepare(self, source: ImageSource, reference: bool) -> Prepared:
        return self.encoder.prepare(self.decode(source, reference).image)

    def match(self, source: ImageSource, target: ImageSource, explain: bool = False) -> MatchResult:
        """Is ``target`` a copy of ``source``? ``explain`` adds the evidence to the answer."""
        start = time.perf_counter()
        score = self.compare(source, target)
        return self.scorer.decide(
            score.similarity,
            (time.perf_counter() - start) * 1000,
            explain=score.explanation() if explain else None,
        )

    def _require_index(self) -> ReferenceIndex:
        if self.index is None:
            raise LookalikeError("this engine has no index")
        return self.index

    def ingest(self, items: Sequence[IngestItem]) -> list[IngestOutcome]:
        """Decode, describe and add one batch, in one transaction; a bad item is reported and
        skipped. An image whose bytes are already in the catalog reuses the stored descriptor."""
        return list(self.ingest_stream(items, batch_size=max(1, len(items))))

    def ingest_stream(self, items: Iterable[IngestItem], batch_size: int = 256) -> Iterator[IngestOutcome]:
        """:meth:`ingest` over a stream of items, one transaction per ``batch_size`` of them,
        yielding each outcome, in order, once its batch is committed.

        The engine's ``workers`` threads each decode and describe a model batch of images at a
        time, while earlier batches are committed: Pillow, OpenCV, ONNX Runtime and SQLite
        release the GIL, so decoding, keypoints, hashes, the model and the writes overlap. At
        most two model batches per worker are in flight."""
        index = self._require_index()
        # A model batch is no larger than a transaction, so a small batch commits as soon as it is ready.
        chunks = _chunks(iter(items), min(self.embedder.batch_size, batch_size))
        pending: list[tuple[IngestItem, _Described | LookalikeError]] = []
        for described in _bounded_map(self._describers, self._describe, chunks, 2 * self.workers):
            pending += described
            while len(pending) >= batch_size:
                yield from self._commit(index, pending[:batch_size])
                del pending[:batch_size]
        if pending:
            yield from self._commit(index, pending)

    def _describe(self, chunk: list[IngestItem]) -> list[tuple[IngestItem, _Described | LookalikeError]]:
        """Decode ``chunk`` and describe it as stored references: one model batch for the
        images whose bytes are new to the catalog, the stored descriptor for the others."""
        index = self._require_index()
        decoded: list[tuple[IngestItem, DecodedImage | LookalikeError]] = []
        for item in chunk:
            try:
                decoded.append((item, self.decode(item.source, reference=True)))
            except LookalikeError as exc:
                decoded.append((item, exc))
        images = [d for _, d in decoded if isinstance(d, DecodedImage)]
        # The stored keypoints, the model and the thumbnail need no more pixels than this.
        work = [shrunk(d.image, REFERENCE.side) for d in images]
        known = [index.find_sha256(d.sha256) for d in images]
        encoded = iter(self.encoder.encode([w for w, k in zip(work, known, strict=True) if k is None]))
        ready = iter(
            [
                _Described(d, k.descriptor if k else next(encoded), make_thumbnail(w))
                for d, w, k in zip(images, work, known, strict=True)
            ]
        )
        return [(item, d if isinstance(d, LookalikeError) else next(ready)) for item, d in decoded]

    def _commit(
        self, index: ReferenceIndex, batch: Sequence[tuple[IngestItem, _Described | LookalikeError]]
    ) -> list[IngestOutcome]:
        ready = [(item, d) for item, d in batch if isinstance(d, _Described)]
        added = index.add([d.new_item(item) for item, d in ready], thumbnails=[d.thumbnail for _, d in ready])
        results = iter(added)
        return [
            IngestOutcome(item.external_id, ok=True, result=next(results))
            if isinstance(d, _Described)
            else IngestOutcome(item.external_id, ok=False, error=d)
            for item, d in batch
        ]

    def search(self, query: ImageSource | Descriptor | Query, k: int = 10) -> list[Hit]:
        """Top-``k`` reference images for ``query``, best first by pairwise similarity.

        Candidates come from the full view's vector and hashes. Unless one of them is already
        a confident copy, the query's other views are described too and bring their own
        candidates, so a photo pasted small on a template finds its original. When disabled
        or rejected references leave fewer than ``k``, the shortlist goes deeper (4x each
        time) until ``k`` remain or the index is exhausted."""
        index = self._require_index()
        if isinstance(query, Query):
            q = query
        elif isinstance(query, Descriptor):
            q = Query(query)
        else:
            q = self.encoder.query([self.decode(query).image])[0]
        depth = max(2 * k, 50)
        scored: dict[int, Hit] = {}
        while True:
            for rec in self._shortlist(q, depth, skip=scored.keys()):
                scored[rec.iid] = Hit(rec.external_id, self.scorer.score(q, rec.descriptor), rec)
            hits = sorted(
                scored.values(), key=lambda h: (-h.score.similarity, -h.score.normalised, h.external_id)
            )
            kept = self._reviewed(q, hits)
            if len(kept) >= k or len(kept) == len(hits) or depth >= len(index):
                return kept[:k]
            depth *= 4

    def _shortlist(self, q: Query, depth: int, skip: Collection[int]) -> list[Record]:
        """The ``depth`` nearest references of each of the query's views (and of its hashes),
        less ``skip``; the other views are described when the full view finds no confident copy."""
        index = self._require_index()
        hashes = np.stack([q.descriptor.phash, q.descriptor.phash_mirror])
        found = {rec.iid: rec for rec in index.nearest(q.vectors, hashes, depth)}
        full = np.array([float(q.vectors[0] @ rec.descriptor.vector) for rec in found.values()])
        if self.scorer.wants_views(full, pair=False) and q.add_views():
            no_hashes = np.zeros((0, 8), np.uint8)
            for rec in index.nearest(q.vectors[1:], no_hashes, depth, skip=found.keys()):
                found[rec.iid] = rec
        return [rec for iid, rec in found.items() if iid not in skip]

    def _reviewed(self, query: Query, hits: list[Hit]) -> list[Hit]:
        """``hits`` less the disabled references and those a reviewer judged not a match for
        this query or a near-identical copy of it (>= 0.97 against the stored query)."""
        index = self._require_index()
        ids = [h.external_id for h in hits]
        off = index.disabled(ids)
        rejected = index.suppressions(ids)
        if not off and not rejected:
            return hits
        return [
            h
            for h in hits
            if h.external_id not in off
            and not any(
                self.scorer.score(query, stored).similarity >= IDENTICAL_THRESHOLD
                for stored in rejected.get(h.external_id, ())
            )
        ]

    def feedback(self, query: ImageSource, reference_id: str, verdict: Verdict) -> FeedbackRecord:
        """Record a reviewer's verdict on (``query``, ``reference_id``). ``not_a_match``: later
        searches and gates with this query, or a near-identical copy, skip that reference."""
        index = self._require_index()
        decoded = self.decode(query)
        described = self.encoder.query([decoded.image])[0].descriptor
        if verdict == "confirmed" and self.flood is not None:
            self.flood.confirm(reference_id)
        return index.add_feedback(reference_id, verdict, decoded.sha256, described)

    def gate(self, query: ImageSource | Query, rule: GateRule, k: int = 10) -> GateVerdict:
        """Block, review or pass a listing image by its top-``k`` matches (``rule``). With a
        flood guard, a reference that floods the gate sends its matches to review."""
        start = time.perf_counter()
        hits = [hit for hit in self.search(query, k) if hit.score.similarity >= rule.review_threshold]
        flooding = self.flood.observe(h.external_id for h in hits) if self.flood else set()
        matches = []
        for hit in hits:
            decision = rule.decide(hit.score.similarity)
            flood = hit.external_id in flooding
            matches.append(GateMatch(hit, "review" if flood else decision, flood))
        decisions = {m.decision for m in matches}
        return GateVerdict(
            decision="auto-block" if "auto-block" in decisions else "review" if decisions else "pass",
            matches=matches,
            rule=rule,
            processing_time_ms=round((time.perf_counter() - start) * 1000),
        )


@dataclass(frozen=True)
class _Described:
    """An image ready to be stored: what decoding learnt, its descriptor and its thumbnail."""

    decoded: DecodedImage
    descriptor: Descriptor
    thumbnail: bytes

    def new_item(self, item: IngestItem) -> NewItem:
        source = item.source
        return NewItem(
            external_id=item.external_id,
            descriptor=self.descriptor,
            sha256=self.decoded.sha256,
            width=self.decoded.width,
            height=self.decoded.height,
            source=item.origin or (None if isinstance(source, bytes) else str(source)),
            metadata=item.metadata,
        )


def _chunks(items: Iterator[T], size: int) -> Iterator[list[T]]:
    while chunk := list(islice(items, size)):
        yield chunk


def _bounded_map(pool: Executor, fn: Callable[[A], R], args: Iterable[A], depth: int) -> Iterator[R]:
    """``fn`` over ``args`` on ``pool``, results in order, at most ``depth`` calls in flight (a
    stream of a million images is never read ahead whole)."""
    futures: deque[Future[R]] = deque()
    for arg in args:
        futures.append(pool.submit(fn, arg))
        if len(futures) >= depth:
            yield futures.popleft().result()
    while futures:
        yield futures.popleft().result()
