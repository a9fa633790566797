"""``POST /image/search``: one query image, and the reference images it is most like."""

from __future__ import annotations

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)

from ...score.decision import Confidence
from .fields import (
    HitCosine,
    HitId,
    HitMetadata,
    HitScore,
    HitSource,
    ImageBytes,
    ImageURL,
    one_image,
)

__all__ = ["ImageQuery", "ReferenceHit", "SearchHit", "SearchRequest", "SearchResponse"]


class ImageQuery(BaseModel):
    """One query image, by URL or inline."""

    model_config = ConfigDict(extra="forbid")

    image_url: ImageURL | None = None
    image: ImageBytes | None = Field(default=None, description="the image itself")

    @model_validator(mode="after")
    def _check(self) -> ImageQuery:
        one_image(self.image_url, self.image, "image_url and image")
        return self

    @property
    def source(self) -> str | bytes:
        return one_image(self.image_url, self.image, "image_url and image")


class SearchRequest(ImageQuery):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"image_url": "https://cdn.example.com/listings/987.jpg", "k": 5, "confirm": True}]
        }
    )

    k: int = Field(default=10, ge=1, le=1000, description="how many reference images to return")
    confirm: bool = Field(default=False, description="add the pairwise match decision to every result")
    thumbnails: bool = Field(
        default=False, description="add each result's stored thumbnail, as a data: URL (JPEG)"
    )


class ReferenceHit(BaseModel):
    """A reference image an image was compared with; validates from an engine ``Hit``."""

    model_config = ConfigDict(from_attributes=True)

    id: HitId
    score: HitScore
    cosine: HitCosine = None
    metadata: HitMetadata
    source: HitSource = None


class SearchHit(ReferenceHit):
    timestamps: list[float] | None = Field(
        default=None, description="a reference video: the times (s) of its frames that match the image"
    )
    match: bool | None = Field(default=None, description="with confirm only")
    confidence: Confidence | None = Field(default=None, description="with confirm only")
    thumbnail: str | None = Field(
        default=None, description="with thumbnails only: a data:image/jpeg;base64 URL, when one is stored"
    )


class SearchResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "results": [
                        {
                            "id": "sku-123",
                            "score": 0.981,
                            "metadata": {"brand": "acme"},
                            "match": True,
                            "confidence": "high",
                        }
                    ],
                    "processing_time_ms": 230,
                }
            ]
        }
    )

    results: list[SearchHit]
    processing_time_ms: int
