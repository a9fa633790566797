"""Every failure becomes a JSON body ``{"code", "message"}`` with the right status.

:class:`~lookalike.errors.LookalikeError` carries its own ``code`` and ``http_status``;
request validation answers 422 ``validation_error``; routing and multipart errors keep
their status with a code of their own; anything unexpected is logged with its traceback
and answered 500 ``internal`` without details, so bad input never takes the process down
and no internals leak.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ..errors import AuthError, LookalikeError
from .models import ErrorBody

__all__ = ["ERROR_RESPONSES", "error_response", "install_error_handlers"]

logger = logging.getLogger("lookalike.api")

_HTTP_CODES = {400: "bad_request", 404: "no_such_route", 405: "method_not_allowed"}

#: What the OpenAPI page lists under every route that takes images.
ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in {
        400: "undecodable image, unsafe URL or malformed request",
        401: "missing or invalid API key",
        413: "image, batch or request body too large (decompression bombs too)",
        415: "not a supported image type or body type",
        422: "request validation failed",
        502: "fetching the image URL failed",
        504: "fetching the image URL timed out",
    }.items()
}


def error_response(exc: LookalikeError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, AuthError) else None
    body = ErrorBody.model_validate(exc)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=exc.http_status, headers=headers)


async def _lookalike_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, LookalikeError)
    if exc.http_status >= 500:
        logger.error("%s %s failed: %s", request.method, request.url.path, exc, exc_info=exc)
    return error_response(exc)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Inputs are left out: they can be megabytes of base64.
    errors: list[dict[str, Any]] = [
        {k: v for k, v in e.items() if k in ("type", "loc", "msg")} for e in exc.errors()
    ]
    summary = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in errors)
    body = ErrorBody(code="validation_error", message=summary or "invalid request", errors=errors)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=422)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    body = ErrorBody(code=_HTTP_CODES.get(exc.status_code, "http_error"), message=str(exc.detail))
    return JSONResponse(body.model_dump(exclude_none=True), status_code=exc.status_code, headers=exc.headers)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.error("%s %s failed unexpectedly", request.method, request.url.path, exc_info=exc)
    return JSONResponse(
        ErrorBody(code="internal", message="internal error").model_dump(exclude_none=True), 500
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(LookalikeError, _lookalike_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
