"""``POST /video/match``: does the target video copy (part of) the source video?

The body has ``/image/match``'s keys (``source_url``/``target_url``, or ``source_video``/
``target_video`` as base64 or multipart file parts); the answer is its envelope with
``media_type: "video"`` and the copied segments in seconds, best first.
"""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import APIRouter

from ...errors import LookalikeError
from ..deps import ServiceDep
from ..errors import ERROR_RESPONSES
from ..inputs import all_or_raise, json_or_form
from ..models import VideoMatchRequest, VideoMatchResponse

__all__ = ["router"]

router = APIRouter(tags=["video"])


@router.post(
    "/video/match",
    response_model=VideoMatchResponse,
    responses=ERROR_RESPONSES,
    summary="Compare two videos: copied segments",
)
async def match_videos(
    body: Annotated[VideoMatchRequest, json_or_form(VideoMatchRequest, cap="max_video_bytes")],
    service: ServiceDep,
) -> VideoMatchResponse:
    """Find the segments of ``source`` that ``target`` copies, re-encoded, trimmed, cropped,
    mirrored, sped up or slowed down (0.5x-2x), at another frame rate, or inside a longer
    clip. ``similarity_score`` is the best segment's, on the calibrated image scale."""
    fetched: list[bytes | LookalikeError] = [b"", b""]

    async def get(pos: int, ref: str | bytes) -> None:
        try:
            fetched[pos] = await service.video_bytes(ref)
        except LookalikeError as exc:
            fetched[pos] = exc

    async with anyio.create_task_group() as group:
        group.start_soon(get, 0, body.source)
        group.start_soon(get, 1, body.target)
    source, target = all_or_raise(fetched)
    result = await service.run(service.video.match, source, target)
    return VideoMatchResponse.model_validate(result, from_attributes=True)
