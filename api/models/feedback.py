"""``/feedback``: reviewers' verdicts on (query image, reference id), and undoing them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from .fields import EXAMPLE_B64
from .search import ImageQuery

__all__ = ["EnabledRequest", "EnabledResponse", "FeedbackItem", "FeedbackList", "FeedbackRequest"]


_ITEM: dict[str, JsonValue] = {
    "id": 7,
    "reference_id": "sku-123",
    "verdict": "not_a_match",
    "query_sha256": "9f86d08...",
    "created_at": "2026-12-03T12:00:00Z",
}


class FeedbackRequest(ImageQuery):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"image": EXAMPLE_B64, "reference_id": "sku-123", "verdict": "not_a_match"}]
        },
    )

    reference_id: str = Field(min_length=1, max_length=512)
    verdict: Literal["not_a_match", "confirmed"] = Field(
        description="not_a_match: later searches and gates with this image, or a near-identical copy "
        "(>= 0.97), never return this reference"
    )


class FeedbackItem(BaseModel):
    """A recorded verdict; validates from the index's FeedbackRecord."""

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [_ITEM]})

    id: int
    reference_id: str
    verdict: Literal["not_a_match", "confirmed"]
    query_sha256: str
    created_at: str


class FeedbackList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"feedback": [_ITEM]}]})

    feedback: list[FeedbackItem]


class EnabledRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"enabled": False}]})

    enabled: bool = Field(description="false: never returned by search or gate (kept in the catalog)")


class EnabledResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"id": "sku-123", "enabled": False}]})

    id: str = Field(description="an image id, or a video id: then all its frames")
    enabled: bool
