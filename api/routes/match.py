"""``POST /image/match``: is the target a copy of the source?

The JSON body has the commercial API's shape (``source_url``/``target_url``), so its
published snippets work by changing only the host and the key header.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from ..deps import ServiceDep
from ..errors import ERROR_RESPONSES
from ..inputs import all_or_raise, fetch_all, json_or_form
from ..models import MatchRequest, MatchResponse

__all__ = ["router"]

router = APIRouter(tags=["match"])


@router.post(
    "/image/match",
    response_model=MatchResponse,
    response_model_exclude_none=True,
    responses=ERROR_RESPONSES,
    summary="Compare two images",
)
async def match_images(
    body: Annotated[MatchRequest, json_or_form(MatchRequest)],
    service: ServiceDep,
    explain: Annotated[bool, Query(description="add the evidence: cosine, view, boxes...")] = False,
) -> MatchResponse:
    """Decide whether ``target`` is a copy of ``source`` (mirror, crop, recompress, watermark,
    template paste, background swap). Send two URLs, two base64 images, or a multipart upload
    with the file parts ``source_image`` and ``target_image``. With ``explain=true`` the
    answer also says why (``explain``), next to the unchanged envelope."""
    source, target = all_or_raise(await fetch_all(service, [body.source, body.target]))
    result = await service.run(service.engine.match, source, target, explain)
    return MatchResponse.model_validate(result, from_attributes=True)
