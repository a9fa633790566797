"""``POST /listings/gate``: block, review or pass one listing image before it goes live."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from ...score.gate import GateRule
from ..deps import ServiceDep
from ..errors import ERROR_RESPONSES
from ..inputs import json_or_form
from ..models import GateRequest, GateResponse

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
    rule = GateRule(query.block_threshold, query.review_threshold)
    verdict = await service.run(service.engine.gate, data, rule, query.k)
    return GateResponse.model_validate(verdict, from_attributes=True)
