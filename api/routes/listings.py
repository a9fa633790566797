"""``POST /listings/gate``: block, review or pass one listing image before it goes live."""

from __future__ import annotations

from fastapi import APIRouter, Request

from ...score.gate import GateRule
from ..deps import ServiceDep
from ..errors import ERROR_RESPONSES
from ..inputs import binary, body_docs, read_model
from ..models import GateRequest, GateResponse

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
    rule = GateRule(query.block_threshold, query.review_threshold)
    verdict = await service.run(service.engine.gate, data, rule, query.k)
    return GateResponse.model_validate(verdict, from_attributes=True)
