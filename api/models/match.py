"""``POST /image/match`` and ``POST /video/match``: request and answer."""

from __future__ import annotations

from typing import Any, Literal

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


class MatchRequest(BaseModel):
    """Two images: is the target a copy of the source?"""

    # Extra fields are ignored so the commercial API's published snippets work unchanged.
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "source_url": "https://cdn.example.com/catalog/123.jpg",
                    "target_url": "https://cdn.example.com/listings/987.jpg",
                }
            ]
        },
    )

    source_url: ImageURL | None = None
    target_url: ImageURL | None = None
    source_image: ImageBytes | None = Field(default=None, description="the original (e.g. the catalog photo)")
    target_image: ImageBytes | None = Field(default=None, description="the suspected copy")

    @model_validator(mode="after")
    def _check(self) -> MatchRequest:
        one_image(self.source_url, self.source_image, "source_url and source_image")
        one_image(self.target_url, self.target_image, "target_url and target_image")
        return self

    @property
    def source(self) -> str | bytes:
        return one_image(self.source_url, self.source_image, "source_url and source_image")

    @property
    def target(self) -> str | bytes:
        return one_image(self.target_url, self.target_image, "target_url and target_image")


class Explain(BaseModel):
    """Why a pair scored as it did (``explain=true``)."""

    model_config = ConfigDict(from_attributes=True)

    cosine: float = Field(description="raw cosine of the target's best view to the source")
    normalised: float = Field(description="that cosine minus the view's background offset: what is ranked")
    hash_distance: int = Field(description="mirror-aware pHash distance, bits of 64")
    inliers: int = Field(description="keypoints verified under one transform (0: not needed)")
    view: str = Field(
        description="the target's region that matched: full, centre-0.8, content-box, keypoints..."
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


class VideoMatchRequest(BaseModel):
    """Two videos: does the target copy (part of) the source? The same keys as
    ``/image/match``, with ``*_video`` for inline or uploaded videos."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "source_url": "https://cdn.example.com/catalog/unboxing.mp4",
                    "target_url": "https://cdn.example.com/listings/987.mp4",
                }
            ]
        },
    )

    source_url: ImageURL | None = None
    target_url: ImageURL | None = None
    source_video: ImageBytes | None = Field(default=None, description="the original video")
    target_video: ImageBytes | None = Field(default=None, description="the suspected copy")

    @model_validator(mode="after")
    def _check(self) -> VideoMatchRequest:
        one_image(self.source_url, self.source_video, "source_url and source_video")
        one_image(self.target_url, self.target_video, "target_url and target_video")
        return self

    @property
    def source(self) -> str | bytes:
        return one_image(self.source_url, self.source_video, "source_url and source_video")

    @property
    def target(self) -> str | bytes:
        return one_image(self.target_url, self.target_video, "target_url and target_video")


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
