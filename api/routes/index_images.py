"""The reference catalog over HTTP: batch ingest, look up, delete, statistics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter

from ...engine import IngestItem as EngineItem
from ...engine import IngestOutcome
from ...errors import ItemNotFoundError, LookalikeError, RequestTooLargeError
from ..deps import ServiceDep
from ..errors import ERROR_RESPONSES
from ..inputs import fetch_all, json_or_form
from ..models import (
    DeleteResponse,
    EnabledRequest,
    EnabledResponse,
    ErrorBody,
    ImageRecord,
    IndexStatsResponse,
    IngestItem,
    IngestRequest,
    IngestResponse,
    IngestResult,
)
from ..service import Service

__all__ = ["router"]

router = APIRouter(prefix="/index", tags=["index"])

_NOT_FOUND: dict[int | str, dict[str, object]] = {
    404: {"model": ErrorBody, "description": "no image with this id"}
}


def _source(item: IngestItem, batch: IngestRequest) -> str | bytes | LookalikeError:
    """What to fetch for one item: a URL, the inline bytes, or its upload (or the error
    reading that part gave, so a bad part fails only its item)."""
    try:
        if item.upload is not None:
            return batch.upload(item.upload)
    except LookalikeError as exc:
        return exc
    return item.image if item.image is not None else str(item.image_url)


async def _ingest(
    service: Service, items: Sequence[IngestItem], images: Sequence[bytes | LookalikeError]
) -> list[IngestOutcome]:
    """Every item's outcome, in order: the engine's for the items whose bytes are here (one
    atomic batch), the failure so far for the others."""
    ready = [
        EngineItem(item.id, data, item.metadata, origin=item.image_url)
        for item, data in zip(items, images, strict=True)
        if isinstance(data, bytes)
    ]
    outcomes = iter(await service.run(service.engine.ingest, ready))
    return [
        next(outcomes) if isinstance(data, bytes) else IngestOutcome(item.id, ok=False, error=data)
        for item, data in zip(items, images, strict=True)
    ]


@router.post(
    "/images",
    response_model=IngestResponse,
    response_model_exclude_none=True,
    responses=ERROR_RESPONSES,
    summary="Add a batch of reference images",
)
async def ingest_images(
    batch: Annotated[IngestRequest, json_or_form(IngestRequest)], service: ServiceDep
) -> IngestResponse:
    """Each item is an id, an image (URL, base64 or multipart part) and JSON metadata. The
    batch is committed atomically (searches see all of it or none); an item that cannot be
    fetched or decoded is reported in its result and does not fail the others. An existing
    id is replaced."""
    if len(batch.items) > service.settings.max_batch_items:
        raise RequestTooLargeError(
            f"{len(batch.items)} items is over the {service.settings.max_batch_items}-item batch limit"
        )
    images = await fetch_all(service, [_source(item, batch) for item in batch.items])
    outcomes = await _ingest(service, batch.items, images)
    results = [IngestResult.model_validate(outcome, from_attributes=True) for outcome in outcomes]
    ingested = sum(r.ok for r in results)
    return IngestResponse(results=results, ingested=ingested, failed=len(results) - ingested)


@router.get(
    "/images/{image_id:path}", response_model=ImageRecord, responses=_NOT_FOUND, summary="One reference image"
)
async def get_image(image_id: str, service: ServiceDep) -> ImageRecord:
    record = await service.run(service.index.get, image_id)
    disabled = await service.run(service.index.disabled, [image_id])
    answer = ImageRecord.model_validate(record, from_attributes=True)
    return answer.model_copy(update={"enabled": image_id not in disabled})


@router.patch(
    "/images/{image_id:path}",
    response_model=EnabledResponse,
    responses=_NOT_FOUND,
    summary="Enable or disable",
)
async def patch_image(
    image_id: str, body: Annotated[EnabledRequest, json_or_form(EnabledRequest)], service: ServiceDep
) -> EnabledResponse:
    """``{"enabled": false}``: the reference stays in the catalog but search and gate never
    return it; ``true`` brings it back. A video id acts on all its frames."""
    if not await service.run(service.video.set_enabled, [image_id], body.enabled):
        raise ItemNotFoundError(f"no image or video with id {image_id!r} in the index")
    return EnabledResponse(id=image_id, enabled=body.enabled)


@router.delete(
    "/images/{image_id:path}", response_model=DeleteResponse, responses=_NOT_FOUND, summary="Remove an image"
)
async def delete_image(image_id: str, service: ServiceDep) -> DeleteResponse:
    """A video id removes all its frames."""
    if not await service.run(service.video.delete, [image_id]):
        raise ItemNotFoundError(f"no image or video with id {image_id!r} in the index")
    return DeleteResponse(id=image_id, deleted=True)


@router.get("/stats", response_model=IndexStatsResponse, summary="What the index holds")
async def index_stats(service: ServiceDep) -> IndexStatsResponse:
    stats = await service.run(service.index.stats)
    answer = IndexStatsResponse.model_validate(stats, from_attributes=True)
    answer.flooding = service.engine.flood.flooding() if service.engine.flood else []
    return answer
