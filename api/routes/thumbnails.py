"""``GET /index/images/{id}/thumbnail``: the small JPEG kept of a reference image."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from ...errors import ItemNotFoundError
from ..deps import ServiceDep
from ..models import ErrorBody

__all__ = ["router"]

router = APIRouter(prefix="/index", tags=["index"])


@router.get(
    "/images/{image_id:path}/thumbnail",
    response_class=Response,
    responses={
        200: {"content": {"image/jpeg": {}}, "description": "a JPEG, at most 256 px on its longer side"},
        404: {"model": ErrorBody, "description": "no image with this id, or no thumbnail stored for it"},
    },
    summary="A reference image's thumbnail",
)
async def get_thumbnail(image_id: str, service: ServiceDep) -> Response:
    """Stored at ingest. Images ingested before thumbnails were kept have none until
    ``lookalike rebuild-thumbnails --index DIR`` makes them from their source files."""
    jpeg = await service.run(service.index.thumbnail, image_id)
    if jpeg is None:
        raise ItemNotFoundError(
            f"image {image_id!r} has no thumbnail (ingested before thumbnails were kept: "
            "run lookalike rebuild-thumbnails)"
        )
    return Response(jpeg, media_type="image/jpeg", headers={"cache-control": "private, max-age=300"})
