"""Field types every body shares: an image by URL or inline (base64 or a file part), a
reference hit's fields and where they sit on the engine's objects, boxes, and the error body."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from pydantic import (
    AliasChoices,
    AliasPath,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    WithJsonSchema,
    model_validator,
)

from ...errors import LookalikeError

__all__ = [
    "EXAMPLE_B64",
    "REFERENCE_ID",
    "Box",
    "ErrorBody",
    "HitCosine",
    "HitId",
    "HitMetadata",
    "HitScore",
    "HitSource",
    "ImageBytes",
    "ImageURL",
    "Metadata",
    "one_image",
]


_URL_SAFE = str.maketrans("-_", "+/")
EXAMPLE_B64 = "/9j/4AAQSkZJRgABAQAAAQABAAD..."


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
    WithJsonSchema({"type": "string", "contentEncoding": "base64", "examples": [EXAMPLE_B64]}),
]
ImageURL = Annotated[
    str, Field(min_length=1, max_length=4096, examples=["https://cdn.example.com/p/123.jpg"])
]
Metadata = dict[str, Any]
# A reference image's fields, and where they are on the engine's objects (``Hit``, ``Record``).
REFERENCE_ID = AliasChoices("id", "external_id")
HitId = Annotated[str, Field(validation_alias=REFERENCE_ID)]
HitScore = Annotated[
    float,
    Field(
        validation_alias=AliasChoices(AliasPath("score", "similarity"), "score"),
        description="the same calibrated similarity as /image/match",
    ),
]
HitCosine = Annotated[
    float | None,
    Field(
        default=None,
        validation_alias=AliasChoices("cosine", AliasPath("score", "full_cosine")),
        description="the raw cosine of the two whole images' descriptors (before calibration)",
    ),
]
HitMetadata = Annotated[
    Metadata, Field(validation_alias=AliasChoices("metadata", AliasPath("record", "metadata")))
]
HitSource = Annotated[
    str | None, Field(validation_alias=AliasChoices("source", AliasPath("record", "source")))
]


def one_image(url: str | None, data: bytes | None, fields: str) -> str | bytes:
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


Box = Annotated[
    tuple[float, float, float, float],
    Field(description="left, top, right, bottom, as fractions of the image's width and height"),
]
