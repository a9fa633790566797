"""Prometheus metrics: requests and latency per route, index size, the embedder in use.

Each app has its own registry, so several services (tests, benchmarks) can live in one
process. Routes are labelled by their template (``/index/images/{image_id:path}``), never
by the raw path, so ids cannot blow up the number of series.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..embed.base import EmbedderInfo
from ..index.reference import ReferenceIndex

__all__ = ["CONTENT_TYPE", "Metrics", "MetricsMiddleware"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "lookalike_http_requests",
            "HTTP requests answered",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "lookalike_http_request_duration_seconds",
            "Time to answer an HTTP request",
            ["method", "route"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.images = Gauge("lookalike_index_images", "Reference images in the index", registry=self.registry)
        self.pending = Gauge(
            "lookalike_index_pending_changes",
            "Changes since the last index checkpoint",
            registry=self.registry,
        )
        self.flooding = Gauge(
            "lookalike_reference_flooding",
            "1 for each reference flooding the listing gate (its matches go to review)",
            ["reference"],
            registry=self.registry,
        )
        self.embedder = Info(
            "lookalike_embedder", "The embedder that describes images", registry=self.registry
        )

    def describe(self, info: EmbedderInfo) -> None:
        self.embedder.info({"name": info.name, "version": info.version, "dim": str(info.dim)})

    def render(self, index: ReferenceIndex, flooding: Sequence[str] = ()) -> bytes:
        """The text exposition, with the index gauges read now (blocking: takes the index lock)
        and the references flooding the gate (``lookalike_reference_flooding{reference=...} 1``)."""
        stats = index.stats()
        self.images.set(stats.images)
        self.pending.set(stats.pending_changes)
        self.flooding.clear()
        for ref in flooding:
            self.flooding.labels(reference=ref).set(1)
        return generate_latest(self.registry)


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = scope.get("route")
            label = getattr(route, "path", "unmatched")
            method = scope["method"]
            self.metrics.requests.labels(method, label, str(status)).inc()
            self.metrics.latency.labels(method, label).observe(time.perf_counter() - start)
