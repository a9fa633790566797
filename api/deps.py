"""The dependencies routes declare: the running service, its settings, and the API key check."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from ..errors import ForbiddenError
from .auth import KeyStore
from .metrics import Metrics
from .playground import TOKEN_HEADER, Playground
from .service import Service
from .settings import Settings

__all__ = [
    "KeysDep",
    "MetricsDep",
    "ServiceDep",
    "SettingsDep",
    "require_api_key",
    "require_api_key_or_local_playground_token",
    "require_api_key_or_playground_token",
]


def get_service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def get_keys(request: Request) -> KeyStore:
    keys: KeyStore = request.app.state.keys
    return keys


def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


def get_app_settings(service: Annotated[Service, Depends(get_service)]) -> Settings:
    return service.settings


ServiceDep = Annotated[Service, Depends(get_service)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
KeysDep = Annotated[KeyStore, Depends(get_keys)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]

# auto_error=False: a missing key is answered by KeyStore with the service's own JSON error.
_key_header = APIKeyHeader(name="x-api-key", auto_error=False, description="an API key")
_bearer = HTTPBearer(auto_error=False, description="the same API key as a bearer token")


_token_header = APIKeyHeader(
    name=TOKEN_HEADER,
    auto_error=False,
    scheme_name="PlaygroundToken",
    description="a short-lived token from POST /playground/token (the playground page's own; "
    "/image/match and /image/search; POST /feedback on the server's own machine)",
)


def require_api_key(
    request: Request,
    keys: KeysDep,
    api_key: Annotated[str | None, Security(_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> None:
    presented = api_key or (bearer.credentials if bearer else None)
    if not presented and TOKEN_HEADER in request.headers and not keys.disabled:
        raise ForbiddenError(
            "a playground token opens only /image/match, /image/search and POST /feedback: "
            "send an API key here"
        )
    keys.check(presented)


def _key_or_token(
    request: Request,
    keys: KeyStore,
    api_key: str | None,
    bearer: HTTPAuthorizationCredentials | None,
    token: str | None,
    check: Callable[[Playground], Callable[[str, Request], None]],
) -> None:
    playground: Playground | None = getattr(request.app.state, "playground", None)
    if token and not (api_key or bearer) and playground is not None and not keys.disabled:
        check(playground)(token, request)
        return
    keys.check(api_key or (bearer.credentials if bearer else None))


def require_api_key_or_playground_token(
    request: Request,
    keys: KeysDep,
    api_key: Annotated[str | None, Security(_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    token: Annotated[str | None, Security(_token_header)],
) -> None:
    """An API key, or (without one) a playground token for this page's origin."""
    _key_or_token(request, keys, api_key, bearer, token, lambda p: p.check)


def require_api_key_or_local_playground_token(
    request: Request,
    keys: KeysDep,
    api_key: Annotated[str | None, Security(_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    token: Annotated[str | None, Security(_token_header)],
) -> None:
    """An API key, or a playground token of the page on the server's own machine: for the
    route that records reviewers' verdicts."""
    _key_or_token(request, keys, api_key, bearer, token, lambda p: p.check_verdict)
