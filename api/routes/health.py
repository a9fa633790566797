"""``GET /healthz``: liveness, without a key (load balancers and orchestrators poll it)."""

from __future__ import annotations

from fastapi import APIRouter

from ..models import HealthResponse

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthResponse, summary="Liveness")
async def healthz() -> HealthResponse:
    return HealthResponse()
