"""The FastAPI application: routers, key check, body cap, metrics and error translation."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib.metadata import version
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi

from .auth import KeyStore
from .deps import (
    require_api_key,
    require_api_key_or_local_playground_token,
    require_api_key_or_playground_token,
)
from .errors import install_error_handlers
from .fetch import Fetcher
from .inputs import BodyLimitMiddleware, document_bodies
from .metrics import Metrics, MetricsMiddleware
from .playground import Playground
from .routes import feedback, health, index_images, listings, match, playground, search, thumbnails, video
from .routes import metrics as metrics_route
from .service import Service, index_path
from .settings import Settings, get_settings

__all__ = ["create_app"]

logger = logging.getLogger("lookalike.api")

_DESCRIPTION = """\
Find copied product photos (mirror, crop, recompress, watermark, template paste, background
swap) in a local reference catalog. Send `x-api-key: KEY` (or `Authorization: Bearer KEY`)
with every request except `/healthz`. Images travel as URLs (fetched by a guarded fetcher
that only reaches public hosts), base64 in JSON, or multipart uploads.
"""


def create_app(settings: Settings | None = None, *, fetcher: Fetcher | None = None) -> FastAPI:
    """The service over ``settings.index`` (default: :func:`get_settings`). ``fetcher``
    replaces the URL fetcher built from the settings (tests inject a resolver)."""
    settings = settings or get_settings()
    # Configuration errors surface here, before uvicorn starts or any model is loaded.
    index_path(settings)
    keys = KeyStore.from_settings(settings)
    if keys.disabled:
        logger.warning(
            "API keys are OFF (auth disabled): anyone who can reach %s:%s can use and change the index. "
            "Local demos only.",
            settings.host,
            settings.port,
        )
    if settings.playground == "open" and not keys.disabled:
        logger.warning(
            "LOOKALIKE_PLAYGROUND=open: anyone who can reach %s:%s can compare and search without a key "
            "(rate limited, through the playground page's tokens).",
            settings.host,
            settings.port,
        )
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = await Service.start(settings, fetcher)
        metrics.describe(service.engine.embedder.info)
        app.state.service = service
        try:
            yield
        finally:
            await service.close()

    app = FastAPI(
        title="lookalike", version=version("lookalike"), description=_DESCRIPTION, lifespan=lifespan
    )
    app.state.keys = keys
    app.state.metrics = metrics
    install_error_handlers(app)
    keyed = [Depends(require_api_key)]
    app.include_router(health.router)
    # A playground token opens these two, and recording a verdict on the server's own
    # machine; every other route needs a key.
    for router in (match.router, search.router):
        app.include_router(router, dependencies=[Depends(require_api_key_or_playground_token)])
    app.include_router(feedback.record, dependencies=[Depends(require_api_key_or_local_playground_token)])
    # thumbnails first: its path is more specific than GET /index/images/{id:path}.
    for router in (video.router, listings.router, feedback.router, thumbnails.router, index_images.router):
        app.include_router(router, dependencies=keyed)
    if settings.playground != "off":
        app.state.playground = Playground(settings)
        app.include_router(playground.router)
    app.include_router(metrics_route.router, dependencies=[] if settings.metrics_public else keyed)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_request_bytes,
        prefixes={"/video/": max(settings.max_request_bytes, settings.max_video_request_bytes)},
    )
    app.add_middleware(MetricsMiddleware, metrics=metrics)  # outermost: counts refused bodies too
    app.openapi = _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            # Bodies read as JSON or multipart are documented from their models.
            document_bodies(schema, app.routes)
            app.openapi_schema = schema
        return app.openapi_schema

    return build
