"""Request bodies in, image bytes out: the size cap, JSON or multipart parsing, downloads.

Routes that take images read their body here rather than through FastAPI's parameter
parsing, because one route accepts JSON (URLs or base64) and multipart uploads alike.
Parsing and validation run on the worker pool: a 20 MB base64 body is not decoded on the
event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import (
    ImageTooLargeError,
    InputError,
    LookalikeError,
    RequestTooLargeError,
    UnsupportedMediaTypeError,
)
from .errors import error_response
from .service import Service

__all__ = [
    "BodyLimitMiddleware",
    "Form",
    "all_or_raise",
    "binary",
    "body_docs",
    "fetch_all",
    "read_form",
    "read_model",
    "validate",
]

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

_JSON_TYPES = ("application/json", "text/plain", "application/x-www-form-urlencoded", "")
_MAX_FIELD_BYTES = 4 * 1024 * 1024
_MAX_PARTS = 1024


class BodyLimitMiddleware:
    """Refuse a body over ``max_bytes``: at once by its Content-Length, or as soon as a
    chunked body passes the cap, before it is read whole."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await error_response(self._error(int(declared)))(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise self._error(received)
            return message

        await self.app(scope, limited, send)

    def _error(self, size: int) -> RequestTooLargeError:
        return RequestTooLargeError(f"request body of {size}+ bytes is over the {self.max_bytes}-byte limit")


@dataclass
class Form:
    """A multipart body: text fields and the file parts, read on demand with a size cap."""

    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, UploadFile] = field(default_factory=dict)

    async def upload(self, name: str, max_bytes: int) -> bytes:
        part = self.files.get(name)
        if part is None:
            raise InputError(f"no file part named {name!r} in the upload")
        data = await part.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise ImageTooLargeError(f"upload {name!r} is over the {max_bytes}-byte limit")
        return data


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def read_form(request: Request) -> Form | None:
    """The multipart form, or None when the body is JSON; 415 for anything else.

    A body without a JSON Content-Type (``curl -d`` sends form-urlencoded) is read as JSON too.
    """
    media = _media_type(request)
    if media == "multipart/form-data":
        parts = await request.form(
            max_files=_MAX_PARTS, max_fields=_MAX_PARTS, max_part_size=_MAX_FIELD_BYTES
        )
        form = Form()
        for name, value in parts.multi_items():
            if isinstance(value, UploadFile):
                form.files[name] = value
            else:
                form.fields[name] = value
        return form
    if media in _JSON_TYPES or media.endswith("+json"):
        return None
    raise UnsupportedMediaTypeError(f"send application/json or multipart/form-data, not {media[:80]}")


async def validate(service: Service, validator: Callable[[Any], T], data: object) -> T:
    """``validator(data)`` on the worker pool; its failure is the client's (422), while a
    ValidationError anywhere else stays a server error."""
    try:
        return await service.run(validator, data)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_input=False, include_url=False)) from None


async def read_model(request: Request, service: Service, model: type[M]) -> M:
    """Validate a JSON body, or a multipart one whose file parts fill the image fields."""
    form = await read_form(request)
    if form is None:
        return await validate(service, model.model_validate_json, await request.body())
    data: dict[str, Any] = dict(form.fields)
    for name in form.files:
        if name in model.model_fields:
            data[name] = await form.upload(name, service.settings.max_image_bytes)
    return await validate(service, model.model_validate, data)


async def fetch_all(service: Service, refs: Sequence[str | bytes]) -> list[bytes | LookalikeError]:
    """The bytes of every image reference (URLs fetched concurrently, a few at a time); a
    failure is returned in its place so one bad item does not sink the others."""
    results: list[bytes | LookalikeError] = [b""] * len(refs)
    gate = anyio.Semaphore(service.settings.fetch_concurrency)

    async def one(pos: int, ref: str | bytes) -> None:
        async with gate:
            try:
                results[pos] = await service.image(ref)
            except LookalikeError as exc:
                results[pos] = exc

    async with anyio.create_task_group() as group:
        for pos, ref in enumerate(refs):
            group.start_soon(one, pos, ref)
    return results


def all_or_raise(results: Sequence[bytes | LookalikeError]) -> list[bytes]:
    """All the bytes, or the first failure raised."""
    for result in results:
        if isinstance(result, LookalikeError):
            raise result
    return [r for r in results if isinstance(r, bytes)]


def body_docs(model: type[BaseModel], form: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """OpenAPI ``requestBody`` for a route that reads its body through :func:`read_model`:
    the JSON model (its schema is added to the components by the app) and the form fields."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}},
                "multipart/form-data": {"schema": {"type": "object", "properties": form}},
            },
        }
    }


def binary(description: str) -> dict[str, Any]:
    return {"type": "string", "format": "binary", "description": description}
