"""``POST /listings/gate``: block, review or pass one listing image before it goes live."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter

from ..deps import ServiceDep
from ..errors import ERROR_RESPONSES
from ..inputs import json_or_form
from ..models import GateMatch, GateRequest, GateResponse, ReferenceHit

__all__ = ["router"]

router = APIRouter(tags=["listings"])


@router.post(
    "/listings/gate",
    response_model=GateResponse,
    response_model_exclude_none=True,
    responses=ERROR_RESPONSES,
    summary="Decide on a listing image",
)
async def gate_listing(
    query: Annotated[GateRequest, json_or_form(GateRequest)], service: ServiceDep
) -> GateResponse:
    """``auto-block`` when the best reference image scores at least ``block_threshold``,
    ``review`` when it scores at least ``review_threshold``, else ``pass``. The matches
    above ``review_threshold`` come back as evidence, with their metadata (a ``banned``
    tag, a rights holder...)."""
    data = await service.image(query.source)
    start = time.perf_counter()
    hits = await service.run(service.engine.search, data, query.k)
    matches = [
        GateMatch.model_validate(
            {
                **ReferenceHit.model_validate(hit, from_attributes=True).model_dump(),
                "decision": "auto-block" if hit.score.similarity >= query.block_threshold else "review",
            }
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
