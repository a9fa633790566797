"""``POST /image/search``: the reference images most like one query image."""

from __future__ import annotations

import base64
import time
from typing import Annotated

from fastapi import APIRouter

from ..deps import ServiceDep
from ..errors import ERROR_RESPONSES
from ..inputs import json_or_form
from ..models import SearchHit, SearchRequest, SearchResponse

__all__ = ["router"]

router = APIRouter(tags=["search"])


@router.post(
    "/image/search",
    response_model=SearchResponse,
    response_model_exclude_none=True,
    responses=ERROR_RESPONSES,
    summary="Top-K reference images for one image",
)
async def search_images(
    query: Annotated[SearchRequest, json_or_form(SearchRequest)], service: ServiceDep
) -> SearchResponse:
    """Every result is scored by the pairwise scorer of ``/image/match``, so scores mean the
    same on both routes; with ``confirm`` each result also carries that route's decision
    (``match``, ``confidence``). A reference video counts once, scored by its best frame,
    with the ``timestamps`` of the frames that match."""
    data = await service.image(query.source)
    start = time.perf_counter()
    hits = await service.run(service.video.search_image, data, query.k)
    elapsed_ms = (time.perf_counter() - start) * 1000
    jpegs = {}
    if query.thumbnails:
        jpegs = await service.run(service.index.thumbnails, [h.record.iid for h in hits])
    results = []
    for hit in hits:
        result = SearchHit.model_validate(hit, from_attributes=True)
        if query.confirm:
            decision = service.engine.scorer.decide(result.score)
            result.match, result.confidence = decision.match, decision.confidence
        if hit.record.iid in jpegs:
            result.thumbnail = "data:image/jpeg;base64," + base64.b64encode(jpegs[hit.record.iid]).decode()
        results.append(result)
    return SearchResponse(results=results, processing_time_ms=round(elapsed_ms))
