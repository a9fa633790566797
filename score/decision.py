"""The decision scale trust & safety teams already use, and the answer to "is B a copy of A?".

>= 0.97  near-identical (re-encode, resize, mirror)
>= 0.85  near-duplicate (crop, watermark, template paste, background swap)
<  0.85  different images
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["IDENTICAL_THRESHOLD", "MATCH_THRESHOLD", "Confidence", "Explanation", "MatchResult", "confidence"]

MATCH_THRESHOLD = 0.85
IDENTICAL_THRESHOLD = 0.97
Confidence = Literal["high", "medium", "low"]


Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Explanation:
    """Why a pair scored as it did: the raw ``cosine`` and the ``normalised`` score of the
    target's best ``view``, the pHash distance, the keypoint inliers, and where the copy sits
    on each image (``source_box``, ``target_box``: left, top, right, bottom as fractions)."""

    cosine: float
    normalised: float
    hash_distance: int
    inliers: int
    view: str
    source_box: Box
    target_box: Box


@dataclass(frozen=True)
class MatchResult:
    """One pairwise decision; its fields, in this order, are the envelope of
    ``POST /image/match`` and ``lookalike match --json`` (for videos ``/video/match``, with
    the copied segments); ``explain`` only when asked for."""

    match: bool
    confidence: Confidence
    similarity_score: float
    processing_time_ms: int
    media_type: Literal["image", "video"] = "image"
    matched_segments: list[dict[str, float]] = field(default_factory=list)
    explain: Explanation | None = None


def confidence(similarity: float, threshold: float = MATCH_THRESHOLD) -> Confidence:
    """How far the score sits from the threshold, on the side it is on."""
    margin = abs(similarity - threshold)
    if margin >= 0.08:
        return "high"
    return "medium" if margin >= 0.03 else "low"
