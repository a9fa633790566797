"""Where each embedder's evidence crosses the trust & safety thresholds, as data.

The anchors are a property of the pair (embedder, scorer): the embedder registry says what a
model is, this table says how its normalised cosine, its raw cosine and the keypoint channel
map onto the decision scale (:mod:`lookalike.score.scorer`). How they were fitted, and the error
rates they give: data/README.md. An index may carry anchors fitted on its own catalog
(``lookalike calibrate``); they override these.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from ..errors import ConfigError

__all__ = ["ANCHORS", "VIDEO_ANCHORS", "Calibration", "calibration_for", "video_calibration_for"]


@dataclass(frozen=True)
class Calibration:
    """``score_match`` maps to similarity 0.85 (near-duplicate), on the score the scorer ranks
    by: the best, over the query's views, of the cosine minus the view's background offset
    (the plain cosine for an embedder without a background set); ``score_match +
    score_span`` maps to 0.96, the most that score alone can say. Only the *whole* images can
    be near-identical: ``cos_identical``, on the raw cosine of the full view, maps to 0.97 (a
    view would call a crop or a paste near-identical). The other fields place the keypoint
    evidence on the same scale and say when the costlier evidence is computed."""

    score_match: float
    cos_identical: float
    score_span: float = 0.3
    #: Below this raw cosine, keypoint evidence is not trusted (a blank background or a shared
    #: logo is not a copy).
    cos_floor: float = 0.20
    #: Geometric verification: ``inliers_match`` inliers map to 0.85 and ``inliers_strong`` to
    #: 0.95, when they cover ``min_coverage`` of one image, sit in ``min_distinct`` distinct
    #: 8-px cells on both, and the transform's scale is within [``min_scale``, ``max_scale``].
    inliers_match: int = 10
    inliers_strong: int = 50
    min_coverage: float = 0.05
    min_distinct: int = 12
    min_scale: float = 0.2
    max_scale: float = 5.0
    #: Background offset: the mean of a view's ``background_k`` best background cosines.
    background_k: int = 5
    #: The query's other views are described when its full view's best raw cosine is below
    #: ``views_below`` (a confident copy needs none) and, for a pair, at least ``views_above``
    #: (a search also wants them to find candidates the full view missed).
    views_below: float = 0.70
    views_above: float = 0.10

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


ANCHORS: dict[str, Calibration] = {
    "sscd": Calibration(score_match=0.5485, cos_identical=0.7883),
    "sscd-lite": Calibration(score_match=0.5291, cos_identical=0.8064),
    # Not measured: no CLIP weights are reachable where lookalike was calibrated. CLIP cosines
    # of unrelated photos sit far higher than SSCD's; users who pick CLIP must recalibrate
    # (lookalike calibrate, lookalike bench calibrate) before trusting these numbers.
    "clip": Calibration(score_match=0.90, cos_identical=0.97),
    "fake": Calibration(score_match=0.90, cos_identical=0.98),
}


def calibration_for(embedder: str) -> Calibration:
    try:
        return ANCHORS[embedder]
    except KeyError:
        raise ConfigError(f"no calibration for embedder {embedder!r}; calibrate it first") from None


#: Video: where a copied segment's mean frame cosine (:mod:`lookalike.score.align`) crosses
#: 0.85 and 0.97. Fitted on the fit split of the video benchmark (data/README.md, "Video");
#: embedders without a video fit fall back to their image anchors.
VIDEO_ANCHORS: dict[str, Calibration] = {
    # Raw mean frame cosines (no background offset): 0.45 -> 0.85 rising to 0.96 at 0.85,
    # where the whole-frame anchor takes over at 0.97.
    "sscd": Calibration(score_match=0.45, cos_identical=0.85, score_span=0.4),
}


def video_calibration_for(embedder: str) -> Calibration:
    return VIDEO_ANCHORS.get(embedder) or calibration_for(embedder)
