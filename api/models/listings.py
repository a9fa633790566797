"""``POST /listings/gate``: a listing image and the gate's decision."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from ...score.decision import IDENTICAL_THRESHOLD, MATCH_THRESHOLD
from .catalog import WithUploads
from .fields import (
    EXAMPLE_B64,
    ErrorBody,
    HitCosine,
    HitId,
    HitMetadata,
    HitScore,
    HitSource,
    ImageBytes,
    ImageURL,
)
from .search import ImageQuery

__all__ = [
    "MAX_CLUSTER_IMAGES",
    "CatalogMatch",
    "ClusterFailure",
    "ClusterImage",
    "ClusterMember",
    "ClusterModel",
    "ClustersRequest",
    "ClustersResponse",
    "GateMatch",
    "GateRequest",
    "GateResponse",
]


class GateRequest(ImageQuery):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "image_url": "https://cdn.example.com/listings/987.jpg",
                    "block_threshold": 0.97,
                    "review_threshold": 0.85,
                }
            ]
        }
    )

    block_threshold: float = Field(
        default=IDENTICAL_THRESHOLD, ge=0.5, le=1.0, description="at or above: auto-block"
    )
    review_threshold: float = Field(
        default=MATCH_THRESHOLD, ge=0.5, le=1.0, description="at or above: human review"
    )
    k: int = Field(default=10, ge=1, le=100, description="most matches returned as evidence")

    @model_validator(mode="after")
    def _ordered(self) -> GateRequest:
        if self.block_threshold < self.review_threshold:
            raise ValueError("block_threshold must be at least review_threshold")
        return self


def _only_true(value: object) -> bool | None:
    return True if value else None


#: Present (true) only when a reference floods the gate: its match went to review, not auto-block.
Flood = Annotated[
    bool | None,
    BeforeValidator(_only_true),
    Field(description="the reference floods the gate (matches too many listings): sent to review"),
]


class GateMatch(BaseModel):
    """A reference image the gate found, with the band it falls in; validates from an engine
    ``GateMatch``."""

    model_config = ConfigDict(from_attributes=True)

    id: HitId
    score: HitScore
    cosine: HitCosine = None
    decision: Literal["auto-block", "review"] = Field(description="the band this reference image falls in")
    metadata: HitMetadata
    source: HitSource = None
    flood: Flood = None


class GateResponse(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "decision": "auto-block",
                    "matches": [
                        {
                            "id": "banned-77",
                            "score": 0.992,
                            "decision": "auto-block",
                            "metadata": {"banned": True},
                        }
                    ],
                    "block_threshold": 0.97,
                    "review_threshold": 0.85,
                    "processing_time_ms": 240,
                }
            ]
        },
    )

    decision: Literal["auto-block", "review", "pass"]
    matches: list[GateMatch] = Field(description="reference images at or above review_threshold, best first")
    flood: Flood = None
    block_threshold: float
    review_threshold: float
    processing_time_ms: int


class ClusterImage(BaseModel):
    """One listing image of a batch to group."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=512, examples=["listing-987"])
    image_url: ImageURL | None = None
    image: ImageBytes | None = None
    upload: str | None = Field(
        default=None, description="multipart only: the name of the file part holding the image"
    )

    @model_validator(mode="after")
    def _check(self) -> ClusterImage:
        if sum(x is not None for x in (self.image_url, self.image, self.upload)) != 1:
            raise ValueError("give exactly one of image_url, image and upload")
        return self


#: Most images one POST /listings/clusters takes.
MAX_CLUSTER_IMAGES = 200


class ClustersRequest(WithUploads):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "images": [
                        {"id": "listing-987", "image_url": "https://cdn.example.com/listings/987.jpg"},
                        {"id": "listing-988", "image": EXAMPLE_B64},
                    ],
                    "threshold": 0.85,
                }
            ]
        },
    )

    images: list[ClusterImage] = Field(
        min_length=1,
        max_length=MAX_CLUSTER_IMAGES,
        description="the listing images; in a multipart upload, a JSON array in which an image names "
        'its file part with "upload": "<part name>"',
    )
    threshold: float = Field(default=MATCH_THRESHOLD, ge=0.5, le=1.0, description="copies at or above")
    block_threshold: float = Field(default=IDENTICAL_THRESHOLD, ge=0.5, le=1.0)
    review_threshold: float = Field(default=MATCH_THRESHOLD, ge=0.5, le=1.0)

    @model_validator(mode="after")
    def _ordered(self) -> ClustersRequest:
        if self.block_threshold < self.review_threshold:
            raise ValueError("block_threshold must be at least review_threshold")
        return self


class ClusterMember(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    score: float = Field(description="similarity to the representative (1.0: the representative)")


class CatalogMatch(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    score: float = Field(description="calibrated similarity of the representative to this reference")
    cosine: float = Field(description="raw cosine of the two whole images' descriptors")
    decision: Literal["auto-block", "review"]


class ClusterModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    representative: str = Field(description="the member that best matches the rest")
    members: list[ClusterMember] = Field(description="the representative first, then by score")
    catalog_matches: list[CatalogMatch] = Field(
        description="catalog references the representative matches (empty without a catalog)"
    )
    decision: Literal["auto-block", "review", "pass"] | None = Field(
        default=None, description="the gate's decision on the representative"
    )


class ClusterFailure(BaseModel):
    id: str
    error: ErrorBody


class ClustersResponse(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "clusters": [
                        {
                            "id": 1,
                            "representative": "listing-987",
                            "members": [
                                {"id": "listing-987", "score": 1.0},
                                {"id": "listing-988", "score": 0.9612},
                            ],
                            "catalog_matches": [
                                {"id": "banned-77", "score": 0.992, "cosine": 0.981, "decision": "auto-block"}
                            ],
                            "decision": "auto-block",
                        }
                    ],
                    "singletons": ["listing-990"],
                    "failed": [],
                    "threshold": 0.85,
                    "processing_time_ms": 840,
                }
            ]
        },
    )

    clusters: list[ClusterModel]
    singletons: list[str]
    failed: list[ClusterFailure] = Field(default_factory=list)
    threshold: float
    processing_time_ms: int

    @field_validator("failed", mode="before")
    @classmethod
    def _failures(cls, value: object) -> object:
        """From the engine's ``(id, error)`` pairs."""
        if isinstance(value, list):
            return [{"id": v[0], "error": v[1]} if isinstance(v, tuple) else v for v in value]
        return value
