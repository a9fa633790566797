"""``POST /listings/gate``: block, review or pass one listing image before it goes live."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request

from ..deps import ServiceDep
from ..errors import ERROR_RESPONSES
from ..inputs import binary, body_docs, read_model
from ..models import GateMatch, GateRequest, GateResponse

__all__ = ["router"]

router = APIRouter(tags=["listings"])


@router.post(
    "/listings/gate",
    response_model=GateResponse,
    response_model_exclude_none=True,
    responses=ERROR_RESPONSES,
    summary="Decide on a listing image",
    openapi_extra=body_docs(
        GateRequest,
        {
            "image": binary("the listing image"),
            "block_threshold": {"type": "number", "default": 0.97, "minimum": 0.5, "maximum": 1.0},
            "review_threshold": {"type": "number", "default": 0.85, "minimum": 0.5, "maximum": 1.0},
            "k": {"type": "integer", "default": 10, "minimum": 1, "maximum": 100},
        },
    ),
)
async def gate_listing(request: Request, service: ServiceDep) -> GateResponse:
    """``auto-block`` when the best reference image scores at least ``block_threshold``,
    ``review`` when it scores at least ``review_threshold``, else ``pass``. The matches
    above ``review_threshold`` come back as evidence, with their metadata (a ``banned``
    tag, a rights holder...)."""
    query = await read_model(request, service, GateRequest)
    data = await service.image(query.source)
    start = time.perf_counter()
    hits = await service.run(service.engine.search, data, query.k)
    matches = [
        GateMatch(
            id=hit.external_id,
            score=hit.score.similarity,
            decision="auto-block" if hit.score.similarity >= query.block_threshold else "review",
            metadata=hit.record.metadata,
            source=hit.record.source,
        )
        for hit in hits
        if hit.score.similarity >= query.review_threshold
    ]
    return GateResponse(
        decision=matches[0].decision if matches else "pass",
        matches=matches,
        block_threshold=query.block_threshold,
        review_threshold=query.review_threshold,
        processing_time_ms=round((time.perf_counter() - start) * 1000),
    )
