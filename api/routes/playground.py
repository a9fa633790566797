"""``GET /playground``: a page to try compare and search in a browser, shipped in the
package (no build step, no CDN, works offline), and ``POST /playground/token``, the
short-lived token it uses instead of a key where that is allowed (:mod:`..playground`)."""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from ...errors import ItemNotFoundError
from ..deps import KeysDep
from ..playground import TOKEN_HEADER, Playground

__all__ = ["router"]

router = APIRouter(tags=["playground"])

_ASSETS = {
    "playground.css": "text/css; charset=utf-8",
    "playground.js": "text/javascript; charset=utf-8",
}
#: Everything the page loads comes from this server; images may be data:/blob: (uploads,
#: thumbnails) or the http(s) URLs a person pastes (previewed by their own browser).
_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data: blob: http: https:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cache-control": "no-cache",
}


@cache
def _asset(name: str) -> bytes:
    return (files("lookalike.api") / "playground-page" / name).read_bytes()


class TokenResponse(BaseModel):
    mode: Literal["token", "key", "none"] = Field(
        description="token: use the token; key: ask for an API key; none: keys are off on this server"
    )
    token: str | None = None
    header: str | None = Field(default=None, description="the header to send the token in")
    expires_in: int | None = Field(default=None, description="seconds")
    routes: list[str] = Field(default_factory=list, description="what the token opens")
    reason: str | None = Field(default=None, description="why a key is needed")


@router.get("/playground", include_in_schema=False)
async def page() -> Response:
    return Response(_asset("index.html"), media_type="text/html; charset=utf-8", headers=_HEADERS)


@router.get("/playground/assets/{name}", include_in_schema=False)
async def asset(name: str) -> Response:
    if name not in _ASSETS:
        raise ItemNotFoundError(f"no playground asset {name!r}")
    return Response(_asset(name), media_type=_ASSETS[name], headers=_HEADERS)


@router.post(
    "/playground/token",
    response_model=TokenResponse,
    response_model_exclude_none=True,
    summary="A short-lived token for the playground page",
    include_in_schema=False,  # the page's own; every documented route but /healthz takes a key
)
async def token(request: Request, keys: KeysDep) -> TokenResponse:
    """From the playground page on the server's own machine (or anywhere with
    ``LOOKALIKE_PLAYGROUND=open``): a token that opens only ``/image/match`` and
    ``/image/search`` (and, on this machine, ``POST /feedback``) for this origin, for a few
    minutes. Elsewhere: ``mode: key``."""
    playground: Playground = request.app.state.playground
    if keys.disabled:
        return TokenResponse(mode="none", routes=playground.routes())
    refusal = playground.keyless_refusal(request)
    if refusal is not None:
        return TokenResponse(mode="key", reason=refusal)
    value, ttl = playground.issue(request)
    return TokenResponse(
        mode="token", token=value, header=TOKEN_HEADER, expires_in=ttl, routes=playground.routes()
    )
