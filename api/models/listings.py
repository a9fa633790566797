"""``POST /listings/gate``: a listing image and the gate's decision."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)

from ...score.decision import IDENTICAL_THRESHOLD, MATCH_THRESHOLD
from .fields import (
    HitId,
    HitMetadata,
    HitScore,
    HitSource,
)
from .search import ImageQuery

__all__ = ["GateMatch", "GateRequest", "GateResponse"]


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


class GateMatch(BaseModel):
    """A reference image the gate found, with the band it falls in; validates from an engine
    ``GateMatch``."""

    model_config = ConfigDict(from_attributes=True)

    id: HitId
    score: HitScore
    decision: Literal["auto-block", "review"] = Field(description="the band this reference image falls in")
    metadata: HitMetadata
    source: HitSource = None


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
    block_threshold: float
    review_threshold: float
    processing_time_ms: int
