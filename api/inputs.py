"""Request bodies in, image bytes out: the size cap, the JSON-or-multipart body, downloads.

A route that takes images declares its body as ``Annotated[Model, json_or_form(Model)]``:
one dependency reads JSON (URLs or base64) and multipart uploads alike into the model, and
the OpenAPI page documents both from the model itself (:func:`document_bodies`). Parsing
and validation run on the worker pool: a 20 MB base64 body is not decoded on the event
loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Generic, TypeVar

import anyio
from fastapi import Depends
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema
from pydantic_core import from_json
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import (
    ImageTooLargeError,
    LookalikeError,
    RequestTooLargeError,
    UnsupportedMediaTypeError,
)
from .deps import ServiceDep
from .errors import error_response
from .models import WithUploads
from .service import Service

__all__ = [
    "BodyLimitMiddleware",
    "JsonOrForm",
    "all_or_raise",
    "document_bodies",
    "fetch_all",
    "json_or_form",
]

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

_JSON_TYPES = ("application/json", "text/plain", "application/x-www-form-urlencoded", "")
_MAX_FIELD_BYTES = 4 * 1024 * 1024
_MAX_PARTS = 1024
#: A form whose text fields hold at most this many characters is validated on the event loop.
_INLINE_TEXT = 64 * 1024
_REF = "#/components/schemas/{model}"


class BodyLimitMiddleware:
    """Refuse a body over ``max_bytes``: at once by its Content-Length, or as soon as a
    chunked body passes the cap, before it is read whole."""

    def __init__(self, app: ASGIApp, max_bytes: int, prefixes: dict[str, int] | None = None) -> None:
        """``prefixes``: path prefix -> its own cap (videos are larger than images)."""
        self.app = app
        self.max_bytes = max_bytes
        self.prefixes = prefixes or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        cap = next((c for p, c in self.prefixes.items() if path.startswith(p)), self.max_bytes)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > cap:
            await error_response(self._error(int(declared), cap))(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > cap:
                    raise self._error(received, cap)
            return message

        await self.app(scope, limited, send)

    def _error(self, size: int, cap: int) -> RequestTooLargeError:
        return RequestTooLargeError(f"request body of {size}+ bytes is over the {cap}-byte limit")


def _field_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A property's schema without the ``null`` an optional field adds."""
    options = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
    if len(options) == 1:
        rest = {k: v for k, v in schema.items() if k != "anyOf"}
        return {**options[0], **rest}
    return schema


class JsonOrForm(Generic[M]):
    """The dependency behind :func:`json_or_form`: the body as ``model``.

    JSON is validated as it is (a body without a JSON Content-Type, as ``curl -d`` sends,
    is read as JSON too). In a multipart form, a text field fills the field of its name
    (a list or object field takes JSON text), and a file part fills the image field of its
    name with its bytes, under the image size cap. On a :class:`~.models.WithUploads`
    body, whose parts name file parts of their own, the other file parts are read too and
    attached, and text fields it has no field for are ignored. Any other body type is 415;
    a body the model refuses is the service's 422.
    """

    def __init__(self, model: type[M], cap: str = "max_image_bytes") -> None:
        self.model = model
        #: the settings field that caps a file part
        self.cap = cap
        properties: dict[str, dict[str, Any]] = model.model_json_schema(ref_template=_REF)["properties"]
        self._fields = {model.model_fields[n].alias or n: _field_schema(s) for n, s in properties.items()}
        self._files = {n for n, s in self._fields.items() if s.get("contentEncoding") == "base64"}
        self._json = {n for n, s in self._fields.items() if s.get("type") in ("array", "object")}
        self._uploads = issubclass(model, WithUploads)

    async def __call__(self, request: Request, service: ServiceDep) -> M:
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media == "multipart/form-data":
            return await self._read_form(request, service)
        if media in _JSON_TYPES or media.endswith("+json"):
            return await _validate(service, self.model.model_validate_json, await request.body())
        raise UnsupportedMediaTypeError(f"send application/json or multipart/form-data, not {media[:80]}")

    async def _read_form(self, request: Request, service: ServiceDep) -> M:
        max_bytes: int = getattr(service.settings, self.cap)
        fields: dict[str, str] = {}
        files: dict[str, bytes] = {}
        uploads: dict[str, bytes | LookalikeError] = {}
        async with request.form(
            max_files=_MAX_PARTS, max_fields=_MAX_PARTS, max_part_size=_MAX_FIELD_BYTES
        ) as form:
            for name, value in form.multi_items():
                if not isinstance(value, UploadFile):
                    if name in self._fields or not self._uploads:
                        fields[name] = value
                elif name in self._fields:
                    files[name] = await _read_part(value, name, max_bytes)
                elif self._uploads:
                    try:
                        uploads[name] = await _read_part(value, name, max_bytes)
                    except LookalikeError as exc:
                        uploads[name] = exc
        # File parts are bytes already; only base64 in text fields (up to megabytes) costs
        # enough to go to the worker pool, and a thread hop is most of a small form's time.
        if sum(len(text) for text in fields.values()) <= _INLINE_TEXT:
            body = self._validate_form(fields, files)
        else:
            body = await service.run(self._validate_form, fields, files)
        if isinstance(body, WithUploads):
            body.attach(uploads)
        return body

    def _validate_form(self, fields: dict[str, str], files: dict[str, bytes]) -> M:
        data: dict[str, Any] = {}
        for name, text in fields.items():
            try:
                data[name] = from_json(text) if name in self._json else text
            except ValueError as exc:
                raise RequestValidationError(
                    [{"type": "json_invalid", "loc": (name,), "msg": f"Invalid JSON: {exc}"}]
                ) from None
        try:
            return self.model.model_validate({**data, **files})
        except ValidationError as exc:
            raise _client_error(exc) from None

    def request_body(self) -> dict[str, Any]:
        """The OpenAPI ``requestBody``: the model as JSON, and the same fields as a form."""
        form: dict[str, Any] = {}
        for name, schema in self._fields.items():
            description = schema.get("description")
            if name in self._files:
                form[name] = {"type": "string", "format": "binary"}
            elif name in self._json:
                form[name] = {"type": "string", "contentMediaType": "application/json"}
                description = f"JSON: {description}" if description else "JSON"
            else:
                form[name] = {k: v for k, v in schema.items() if k not in ("title", "description")}
            if description:
                form[name]["description"] = description
        multipart: dict[str, Any] = {"type": "object", "properties": form}
        if self._uploads:
            multipart["additionalProperties"] = {
                "type": "string",
                "format": "binary",
                "description": "a file part, named by an item's upload field",
            }
        return {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": _REF.format(model=self.model.__name__)}},
                "multipart/form-data": {"schema": multipart},
            },
        }


def json_or_form(model: type[M], cap: str = "max_image_bytes") -> Any:
    """``Annotated[Model, json_or_form(Model)]``: the request body, JSON or multipart, as
    ``Model`` (see :class:`JsonOrForm`); ``cap`` names the setting that caps a file part."""
    return Depends(JsonOrForm(model, cap))


def _readers(dependant: Dependant) -> Iterator[JsonOrForm[Any]]:
    for dependency in dependant.dependencies:
        if isinstance(dependency.call, JsonOrForm):
            yield dependency.call
        yield from _readers(dependency)


def _api_routes(routes: Sequence[BaseRoute]) -> Iterator[tuple[str, set[str], APIRoute]]:
    """Path, methods and route of every API route, through included routers."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before lazily included routers: the app's routes are flat
        for route in routes:
            if isinstance(route, APIRoute):
                yield route.path_format, route.methods or set(), route
        return
    for context in iter_route_contexts(routes):
        route = context.original_route
        if isinstance(route, APIRoute) and context.path_format:
            yield context.path_format, context.methods or set(), route


def document_bodies(schema: dict[str, Any], routes: Sequence[BaseRoute]) -> None:
    """Add the request body of every route that reads one through :func:`json_or_form` to
    the OpenAPI ``schema``, with its model's schema in the components."""
    models: dict[str, type[BaseModel]] = {}
    for path, methods, route in _api_routes(routes):
        for reader in _readers(route.dependant):
            models[reader.model.__name__] = reader.model
            for method in methods:
                schema["paths"][path][method.lower()]["requestBody"] = reader.request_body()
    if models:
        _, defs = models_json_schema([(m, "validation") for m in models.values()], ref_template=_REF)
        schema.setdefault("components", {}).setdefault("schemas", {}).update(defs.get("$defs", {}))


async def _read_part(part: UploadFile, name: str, max_bytes: int) -> bytes:
    data = await part.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ImageTooLargeError(f"upload {name!r} is over the {max_bytes}-byte limit")
    return data


def _client_error(exc: ValidationError) -> RequestValidationError:
    return RequestValidationError(exc.errors(include_input=False, include_url=False))


async def _validate(service: Service, validator: Callable[[Any], T], data: object) -> T:
    """``validator(data)`` on the worker pool; its failure is the client's (422), while a
    ValidationError anywhere else stays a server error."""
    try:
        return await service.run(validator, data)
    except ValidationError as exc:
        raise _client_error(exc) from None


async def fetch_all(
    service: Service, refs: Sequence[str | bytes | LookalikeError]
) -> list[bytes | LookalikeError]:
    """The bytes of every image reference (URLs fetched concurrently, a few at a time). A
    failure is returned in its place so one bad item does not sink the others, and a
    reference that already is a failure stays one."""
    if not any(isinstance(ref, str) for ref in refs):  # nothing to fetch (uploads, base64)
        return [ref for ref in refs if not isinstance(ref, str)]
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
            if isinstance(ref, LookalikeError):
                results[pos] = ref
            else:
                group.start_soon(one, pos, ref)
    return results


def all_or_raise(results: Sequence[bytes | LookalikeError]) -> list[bytes]:
    """All the bytes, or the first failure raised."""
    for result in results:
        if isinstance(result, LookalikeError):
            raise result
    return [r for r in results if isinstance(r, bytes)]
