"""``GET /metrics``: Prometheus text format (behind the key unless LOOKALIKE_METRICS_PUBLIC)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from ..deps import MetricsDep, ServiceDep
from ..metrics import CONTENT_TYPE

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text exposition format"}},
    summary="Prometheus metrics",
)
async def metrics(service: ServiceDep, registry: MetricsDep) -> Response:
    flooding = service.engine.flood.flooding() if service.engine.flood else []
    return Response(await service.run(registry.render, service.index, flooding), media_type=CONTENT_TYPE)
