"""Where each embedder's evidence crosses the trust & safety thresholds, as data.

The anchors are a property of the pair (embedder, scorer): the embedder registry says what a
model is, this table says how its cosine and the hash and keypoint channels map onto the
decision scale (:mod:`lookalike.score.scorer`). How they were fitted: data/README.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError

__all__ = ["ANCHORS", "VIDEO_ANCHORS", "Calibration", "calibration_for", "video_calibration_for"]


@dataclass(frozen=True)
class Calibration:
    """``cos_match`` maps to similarity 0.85 (near-duplicate) and ``cos_identical`` to 0.97
    (near-identical); the other fields place the hash and keypoint evidence on the same scale.
    """

    cos_match: float
    cos_identical: float
    #: Below this cosine, hash and keypoint evidence are not trusted (a blank background or a
    #: shared logo is not a copy).
    cos_floor: float = 0.30
    #: Mirror-aware pHash: on the dev corpus no unrelated pair of 493k came closer than 10 bits,
    #: while every re-encode, downscale and mirror copy stayed within 4 (colour jitter within 8).
    hash_identical: int = 8
    #: Geometric verification (ORB + RANSAC): above ``cos_floor`` no unrelated pair of the dev
    #: corpus' fit split reached 20 consistent keypoints; copies keep dozens to hundreds.
    #: ``inliers_match`` maps to 0.85, ``inliers_strong`` to 0.95; ``min_coverage`` is the
    #: share of one image the inliers must span.
    inliers_match: int = 20
    inliers_strong: int = 80
    min_coverage: float = 0.05


ANCHORS: dict[str, Calibration] = {
    "sscd": Calibration(cos_match=0.5948, cos_identical=0.927),
    "sscd-lite": Calibration(cos_match=0.6479, cos_identical=0.9525),
    # Not measured: no CLIP weights are reachable where lookalike was calibrated. CLIP cosines
    # of unrelated photos sit far higher than SSCD's; users who pick CLIP must recalibrate
    # (lookalike bench calibrate) before trusting these numbers.
    "clip": Calibration(cos_match=0.90, cos_identical=0.97),
    "fake": Calibration(cos_match=0.90, cos_identical=0.98),
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
    "sscd": Calibration(cos_match=0.45, cos_identical=0.85),
}


def video_calibration_for(embedder: str) -> Calibration:
    return VIDEO_ANCHORS.get(embedder) or calibration_for(embedder)
