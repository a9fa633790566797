"""``POST /listings/gate``: block, review or pass one listing image before it goes live;
``POST /listings/clusters``: group a batch of listing images into clusters of copies."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter

from ...errors import LookalikeError
from ...review import ReviewItem, cluster_images
from ...score.gate import GateRule
from ..deps import ServiceDep
from ..errors import ERROR_RESPONSES
from ..inputs import fetch_all, json_or_form
from ..models import ClusterImage, ClustersRequest, ClustersResponse, GateRequest, GateResponse

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


def _cluster_source(image: ClusterImage, batch: ClustersRequest) -> str | bytes | LookalikeError:
    try:
        if image.upload is not None:
            return batch.upload(image.upload)
    except LookalikeError as exc:
        return exc
    return image.image if image.image is not None else str(image.image_url)


@router.post(
    "/listings/clusters",
    response_model=ClustersResponse,
    response_model_exclude_none=True,
    responses=ERROR_RESPONSES,
    summary="Group a batch of listing images into clusters of copies",
)
async def cluster_listings(
    batch: Annotated[ClustersRequest, json_or_form(ClustersRequest)], service: ServiceDep
) -> ClustersResponse:
    """Up to 200 images (URLs through the URL guard, base64, or multipart parts named by
    ``upload``) are grouped into clusters of copies: every member scores at least
    ``threshold`` against its cluster's representative. Each cluster's representative is
    checked once against the catalog (the gate's bands). An image that cannot be fetched
    or decoded is reported in ``failed`` and does not fail the batch."""
    images = await fetch_all(service, [_cluster_source(image, batch) for image in batch.images])
    failed = [
        (image.id, data)
        for image, data in zip(batch.images, images, strict=True)
        if not isinstance(data, bytes)
    ]
    items = [
        ReviewItem(image.id, data)
        for image, data in zip(batch.images, images, strict=True)
        if isinstance(data, bytes)
    ]
    rule = GateRule(batch.block_threshold, batch.review_threshold)
    report = await service.run(cluster_images, service.engine, items, batch.threshold, rule)
    report = replace(report, failed=[*failed, *report.failed])
    return ClustersResponse.model_validate(report, from_attributes=True)
