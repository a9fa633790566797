"""The reference catalog over HTTP: batch ingest, look up, delete, statistics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import TypeAdapter

from ...engine import IngestItem as EngineItem
from ...errors import InputError, ItemNotFoundError, LookalikeError, RequestTooLargeError
from ..deps import ServiceDep
from ..errors import ERROR_RESPONSES
from ..inputs import Form, binary, body_docs, fetch_all, read_form, validate
from ..models import (
    DeleteResponse,
    EmbedderModel,
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

_ITEMS = TypeAdapter(list[IngestItem])
_NOT_FOUND: dict[int | str, dict[str, object]] = {
    404: {"model": ErrorBody, "description": "no image with this id"}
}


async def _read_batch(request: Request, service: Service) -> tuple[IngestRequest, Form | None]:
    form = await read_form(request)
    if form is None:
        batch = await validate(service, IngestRequest.model_validate_json, await request.body())
    else:
        raw = form.fields.get("items")
        data = {"items": await validate(service, _ITEMS.validate_json, raw)} if raw is not None else {}
        batch = await validate(service, IngestRequest.model_validate, data)
    if len(batch.items) > service.settings.max_batch_items:
        raise RequestTooLargeError(
            f"{len(batch.items)} items is over the {service.settings.max_batch_items}-item batch limit"
        )
    return batch, form


async def _item_bytes(item: IngestItem, form: Form | None, service: Service) -> str | bytes | LookalikeError:
    """What to fetch for one item; an upload is read here so a bad part fails only its item."""
    if item.upload is None:
        return item.image if item.image is not None else str(item.image_url)
    if form is None:
        return InputError("upload names a multipart file part: send the batch as multipart/form-data")
    try:
        return await form.upload(item.upload, service.settings.max_image_bytes)
    except LookalikeError as exc:
        return exc


def _failed(item_id: str, exc: LookalikeError) -> IngestResult:
    return IngestResult(id=item_id, ok=False, error=ErrorBody(code=exc.code, message=str(exc)))


@router.post(
    "/images",
    response_model=IngestResponse,
    response_model_exclude_none=True,
    responses=ERROR_RESPONSES,
    summary="Add a batch of reference images",
    openapi_extra=body_docs(
        IngestRequest,
        {
            "items": {
                "type": "string",
                "description": 'JSON array of items; an uploaded image is named by "upload": "<part name>"',
                "example": '[{"id": "sku-123", "upload": "f1", "metadata": {"brand": "acme"}}]',
            },
            "f1": binary("a file part named by an item's upload field"),
        },
    ),
)
async def ingest_images(request: Request, service: ServiceDep) -> IngestResponse:
    """Each item is an id, an image (URL, base64 or multipart part) and JSON metadata. The
    batch is committed atomically (searches see all of it or none); an item that cannot be
    fetched or decoded is reported in its result and does not fail the others. An existing
    id is replaced."""
    batch, form = await _read_batch(request, service)
    refs = [await _item_bytes(item, form, service) for item in batch.items]
    fetched = iter(await fetch_all(service, [r for r in refs if not isinstance(r, LookalikeError)]))
    images = [r if isinstance(r, LookalikeError) else next(fetched) for r in refs]
    ready = [
        EngineItem(item.id, data, item.metadata, origin=item.image_url)
        for item, data in zip(batch.items, images, strict=True)
        if isinstance(data, bytes)
    ]
    outcomes = iter(await service.run(service.engine.ingest, ready))
    results = []
    for item, data in zip(batch.items, images, strict=True):
        if isinstance(data, LookalikeError):
            results.append(_failed(item.id, data))
            continue
        outcome = next(outcomes)
        if outcome.result is None:
            assert outcome.error is not None  # Engine.ingest sets one or the other
            results.append(_failed(item.id, outcome.error))
        else:
            results.append(
                IngestResult(
                    id=item.id,
                    ok=True,
                    replaced=outcome.result.replaced,
                    duplicate_of=outcome.result.duplicate_of,
                )
            )
    ingested = sum(r.ok for r in results)
    return IngestResponse(results=results, ingested=ingested, failed=len(results) - ingested)


@router.get(
    "/images/{image_id:path}", response_model=ImageRecord, responses=_NOT_FOUND, summary="One reference image"
)
async def get_image(image_id: str, service: ServiceDep) -> ImageRecord:
    record = await service.run(service.index.get, image_id)
    return ImageRecord(
        id=record.external_id,
        source=record.source,
        sha256=record.sha256,
        width=record.width,
        height=record.height,
        added_at=record.added_at,
        metadata=record.metadata,
    )


@router.delete(
    "/images/{image_id:path}", response_model=DeleteResponse, responses=_NOT_FOUND, summary="Remove an image"
)
async def delete_image(image_id: str, service: ServiceDep) -> DeleteResponse:
    if not await service.run(service.index.delete, [image_id]):
        raise ItemNotFoundError(f"no image with id {image_id!r} in the index")
    return DeleteResponse(id=image_id, deleted=True)


@router.get("/stats", response_model=IndexStatsResponse, summary="What the index holds")
async def index_stats(service: ServiceDep) -> IndexStatsResponse:
    stats = await service.run(service.index.stats)
    return IndexStatsResponse(
        images=stats.images,
        embedder=EmbedderModel(
            name=stats.embedder.name, version=stats.embedder.version, dim=stats.embedder.dim
        ),
        index_factory=stats.index_factory,
        checkpoint_seq=stats.checkpoint_seq,
        pending_changes=stats.pending_changes,
        bytes_on_disk=stats.bytes_on_disk,
        created_at=stats.created_at,
        updated_at=stats.updated_at,
    )
