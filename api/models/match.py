"""``POST /image/match`` and ``POST /video/match``: request and answer."""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)

from ...score.decision import Confidence
from .fields import (
    Box,
    ImageBytes,
    ImageURL,
    one_image,
)

__all__ = [
    "Explain",
    "MatchRequest",
    "MatchResponse",
    "VideoMatchRequest",
    "VideoMatchResponse",
    "VideoSegment",
]


class _Pair(BaseModel):
    """Two media, each by URL or inline (``source_<kind>`` / ``target_<kind>``): the shape of
    the commercial API's match bodies, whose extra fields are ignored so its published
    snippets work unchanged."""

    model_config = ConfigDict(extra="ignore")
    _kind: ClassVar[str]

    source_url: ImageURL | None = None
    target_url: ImageURL | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        for side in ("source", "target"):
            self._one(side)  # exactly one of the URL and the inline data, or a 422
        return self

    def _one(self, side: str) -> str | bytes:
        inline = f"{side}_{self._kind}"
        return one_image(getattr(self, f"{side}_url"), getattr(self, inline), f"{side}_url and {inline}")

    @property
    def source(self) -> str | bytes:
        return self._one("source")

    @property
    def target(self) -> str | bytes:
        return self._one("target")


class MatchRequest(_Pair):
    """Two images: is the target a copy of the source?"""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "source_url": "https://cdn.example.com/catalog/123.jpg",
                    "target_url": "https://cdn.example.com/listings/987.jpg",
                }
            ]
        },
    )
    _kind = "image"

    source_image: ImageBytes | None = Field(default=None, description="the original (e.g. the catalog photo)")
    target_image: ImageBytes | None = Field(default=None, description="the suspected copy")


class Explain(BaseModel):
    """Why a pair scored as it did (``explain=true``)."""

    model_config = ConfigDict(from_attributes=True)

    cosine: float = Field(description="raw cosine of the target's best view to the source")
    normalised: float = Field(description="that cosine minus the view's background offset: what is ranked")
    hash_distance: int = Field(description="mirror-aware pHash distance, bits of 64")
    inliers: int = Field(description="keypoints verified under one transform (0: not needed)")
    view: str = Field(
        description=(
            "the target's region that matched: full, centre-0.6, foreground (its object cut out "
            "of a new surround), keypoints"
        )
    )
    source_box: Box
    target_box: Box


class MatchResponse(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "match": True,
                    "confidence": "high",
                    "similarity_score": 0.9731,
                    "processing_time_ms": 212,
                    "media_type": "image",
                    "matched_segments": [],
                }
            ]
        },
    )

    match: bool
    confidence: Confidence
    similarity_score: float = Field(description="calibrated: >= 0.97 near-identical, >= 0.85 near-duplicate")
    processing_time_ms: int = Field(description="decode, describe and score (downloads excluded)")
    media_type: Literal["image"] = "image"
    matched_segments: list[dict[str, Any]] = Field(
        default_factory=list, description="always empty for images"
    )
    explain: Explain | None = Field(default=None, description="with explain=true only")


class VideoMatchRequest(_Pair):
    """Two videos: does the target copy (part of) the source? The same keys as
    ``/image/match``, with ``*_video`` for inline or uploaded videos."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "source_url": "https://cdn.example.com/catalog/unboxing.mp4",
                    "target_url": "https://cdn.example.com/listings/987.mp4",
                }
            ]
        },
    )
    _kind = "video"

    source_video: ImageBytes | None = Field(default=None, description="the original video")
    target_video: ImageBytes | None = Field(default=None, description="the suspected copy")


class VideoSegment(BaseModel):
    """A copied segment: where it is in the source and in the target (seconds)."""

    source_start: float
    source_end: float
    target_start: float
    target_end: float
    similarity_score: float


class VideoMatchResponse(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "match": True,
                    "confidence": "high",
                    "similarity_score": 0.9731,
                    "processing_time_ms": 2120,
                    "media_type": "video",
                    "matched_segments": [
                        {
                            "source_start": 12.0,
                            "source_end": 31.5,
                            "target_start": 0.0,
                            "target_end": 19.5,
                            "similarity_score": 0.9731,
                        }
                    ],
                }
            ]
        },
    )

    match: bool
    confidence: Confidence
    similarity_score: float = Field(description="the best segment's, on the /image/match scale")
    processing_time_ms: int = Field(description="decode, describe and align (downloads excluded)")
    media_type: Literal["video"] = "video"
    matched_segments: list[VideoSegment] = Field(default_factory=list, description="best first")
