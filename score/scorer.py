"""Pairwise scoring: a query and a reference -> one calibrated similarity in [0, 1] -> a decision.

The same scorer answers ``match`` and re-ranks every search, so a score means the same thing
everywhere, on the scale of :mod:`lookalike.score.decision`. Three channels of evidence, each
mapped onto that scale, the strongest winning:

- the region-aware, normalised cosine: the best, over the query's views (the whole image and
  its centre: :mod:`lookalike.embed.views`), of the view's cosine to the reference minus the
  view's background offset (:mod:`.background`); ``score_match`` maps to 0.85, and this channel
  alone never reaches 0.97 (a crop or a paste is a copy, not the same image);
- the whole image's raw cosine, for near-identical copies: ``cos_identical`` maps to 0.97;
- geometric verification (:mod:`.verify`): enough inliers, spread over both images under a
  sane scale and, where the query is an object on a surround, on that object, make a
  near-duplicate, up to 0.95 (keypoints say "copied", not "how much").

The perceptual hash is no channel: three photos of one hiking boot from different angles sat
2-8 bits apart (data/README.md). Keypoints count only above ``cos_floor``, and they are found
and verified only when they could change the answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from ..embed.descriptor import Descriptor
from ..embed.encode import Query
from ..embed.foreground import enclosed
from ..embed.hashes import hamming
from ..embed.views import FULL, Box
from .background import Background
from .calibration import Calibration
from .decision import IDENTICAL_THRESHOLD, MATCH_THRESHOLD, Explanation, MatchResult, confidence
from .verify import NONE, Verification, on_object, verify

__all__ = ["LOCAL_CEILING", "SCORE_CEILING", "PairScore", "Scorer"]

#: Keypoints say "copied", not "how much was kept": they never make a pair near-identical.
LOCAL_CEILING = 0.95
#: Nor does the best view's score: near-identical is the whole image's raw cosine alone.
SCORE_CEILING = 0.96


@dataclass(frozen=True)
class PairScore:
    """``similarity`` on the decision scale, and the evidence behind it: the ``normalised``
    score and raw ``cosine`` of the query's best ``view``, the whole images' raw cosine
    (``full_cosine``), the pHash distance (for the record), the keypoint inliers (0 when
    verification was not needed), and where the copy sits: ``query_box`` on the query,
    ``reference_box`` on the reference (fractions of each)."""

    similarity: float
    cosine: float
    normalised: float
    full_cosine: float
    hash_distance: int
    inliers: int = 0
    view: str = "full"
    query_box: Box = FULL
    reference_box: Box = FULL

    def explanation(self) -> Explanation:
        """The evidence as the answer shows it, the reference as the source."""
        return Explanation(
            self.cosine,
            self.normalised,
            self.hash_distance,
            self.inliers,
            self.view,
            self.reference_box,
            self.query_box,
        )


class Scorer:
    def __init__(
        self,
        calibration: Calibration,
        threshold: float = MATCH_THRESHOLD,
        background: Background | None = None,
    ) -> None:
        self.calibration = calibration
        self.threshold = threshold
        self.background = background

    def similarity(
        self, score: float, cosine: float, full_cosine: float, found: Verification = NONE
    ) -> float:
        """The decision-scale similarity of a pair's evidence: ``score`` (the best view's
        normalised cosine), ``cosine`` (its raw cosine, which gates the keypoints),
        ``full_cosine`` (the whole images') and the keypoint verification."""
        cal = self.calibration
        similarity = float(
            np.interp(
                score,
                [0.0, cal.score_match, cal.score_match + cal.score_span],
                [0.0, MATCH_THRESHOLD, SCORE_CEILING],
            )
        )
        if full_cosine >= cal.cos_identical:
            identical = float(np.interp(full_cosine, [cal.cos_identical, 1.0], [IDENTICAL_THRESHOLD, 1.0]))
            similarity = max(similarity, identical)
        if cosine >= cal.cos_floor and self.trusted(found):
            local = float(
                np.interp(
                    found.inliers, [cal.inliers_match, cal.inliers_strong], [MATCH_THRESHOLD, LOCAL_CEILING]
                )
            )
            similarity = max(similarity, local)
        return round(similarity, 4)

    def trusted(self, found: Verification) -> bool:
        """Keypoint evidence that flat shapes cannot fake: enough inliers, covering part of one
        image, spread over distinct places on both, under a sane scale."""
        cal = self.calibration
        return (
            found.inliers >= cal.inliers_match
            and found.coverage >= cal.min_coverage
            and found.distinct >= cal.min_distinct
            and cal.min_scale <= found.scale <= cal.max_scale
        )

    def wants_views(self, full_cosines: np.ndarray, pair: bool) -> bool:
        """Whether a query whose full view reaches ``full_cosines`` (its candidates') should be
        described in its other views: not when a candidate is already a confident copy, nor,
        for a ``pair``, when the two are plainly unrelated."""
        cal = self.calibration
        best = float(full_cosines.max()) if len(full_cosines) else -1.0
        return best < cal.views_below and (not pair or best >= cal.views_above)

    def offsets(self, query: Query) -> np.ndarray:
        """The background offset of each of the query's views (zeros without a background)."""
        if self.background is None:
            return np.zeros(len(query.vectors), dtype=np.float32)
        # Cached on the query per background set: views described later get theirs then.
        known = query.offsets.get(id(self.background), np.zeros(0, dtype=np.float32))
        if len(known) < len(query.vectors):
            known = np.concatenate([known, self.background.offsets(query.vectors[len(known) :])])
            query.offsets[id(self.background)] = known
        return known

    def score(self, query: Query, reference: Descriptor) -> PairScore:
        """Score ``query`` (the suspected copy: its views so far and its mirror are tried)
        against ``reference``."""
        cosines = query.vectors @ reference.vector
        normalised = cosines - self.offsets(query)
        v = int(np.argmax(normalised))
        cosine, score, full = float(cosines[v]), float(normalised[v]), float(cosines[0])
        distance = min(
            hamming(query.descriptor.phash, reference.phash),
            hamming(query.descriptor.phash_mirror, reference.phash),
        )
        best = PairScore(
            self.similarity(score, cosine, full),
            round(cosine, 4),
            round(score, 4),
            round(full, 4),
            distance,
            view=query.names[v],
            query_box=query.boxes[v],
        )
        if not self.could_verify(best):
            return best
        found = self._verify(query, reference)
        lifted = self.similarity(score, cosine, full, found)
        if lifted <= best.similarity:
            return replace(best, inliers=found.inliers) if self.trusted(found) else best
        return replace(
            best,
            similarity=lifted,
            inliers=found.inliers,
            view="keypoints",
            query_box=found.query_box or FULL,
            reference_box=found.reference_box or FULL,
        )

    def could_verify(self, score: PairScore) -> bool:
        """Whether keypoint evidence could still change ``score``: the pair is plausible
        (above ``cos_floor``) and not already at the keypoints' ceiling."""
        return score.cosine >= self.calibration.cos_floor and score.similarity < LOCAL_CEILING

    def _verify(self, query: Query, reference: Descriptor) -> Verification:
        local, mirror = query.keypoints()
        found = self._on_object(query, verify(local, reference.local), mirrored=False)
        if mirror is not None and not (
            self.trusted(found) and found.inliers >= self.calibration.inliers_strong
        ):
            mirrored = self._on_object(query, verify(mirror, reference.local), mirrored=True)
            if self.trusted(mirrored) and mirrored.inliers > found.inliers and mirrored.query_box:
                x0, y0, x1, y1 = mirrored.query_box  # found on the mirror: flip back
                return replace(mirrored, query_box=(round(1 - x1, 4), y0, round(1 - x0, 4), y1))
        return found

    def _on_object(self, query: Query, found: Verification, mirrored: bool) -> Verification:
        """Trusted evidence less the inliers off the query's object, when the query is an
        object set on a surround: a shared surround (one grass photo, one textured banner) is
        no copy. The mask is found only for evidence that would otherwise count."""
        if not self.trusted(found):
            return found
        mask = query.object_mask()
        if mask is None or not enclosed(mask):
            return found
        return on_object(found, np.fliplr(mask) if mirrored else mask)

    def decide(
        self,
        similarity: float,
        elapsed_ms: float = 0.0,
        *,
        explain: Explanation | None = None,
        media_type: Literal["image", "video"] = "image",
        segments: Sequence[dict[str, float]] = (),
    ) -> MatchResult:
        """The one decision rule, for images and videos alike: a ``similarity`` on the
        decision scale is a match at or above the threshold, with the confidence its margin
        gives; the rest (time, evidence, a video's segments) is carried into the answer."""
        return MatchResult(
            match=similarity >= self.threshold,
            confidence=confidence(similarity, self.threshold),
            similarity_score=similarity,
            processing_time_ms=round(elapsed_ms),
            media_type=media_type,
            matched_segments=list(segments),
            explain=explain,
        )
