"""``/feedback``: record, list and undo reviewers' verdicts; a ``not_a_match`` keeps a false
alarm from coming back for the same image or a near-identical copy of it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from ...errors import ItemNotFoundError
from ..deps import ServiceDep
from ..errors import ERROR_RESPONSES
from ..inputs import json_or_form
from ..models import DeleteResponse, FeedbackItem, FeedbackList, FeedbackRequest

__all__ = ["record", "router"]

#: ``POST /feedback`` (a playground token on the server's own machine opens it too), and
#: listing and undoing verdicts (a key only).
record = APIRouter(prefix="/feedback", tags=["review"])
router = APIRouter(prefix="/feedback", tags=["review"])


@record.post("", response_model=FeedbackItem, responses=ERROR_RESPONSES, summary="Record a verdict")
async def add_feedback(
    body: Annotated[FeedbackRequest, json_or_form(FeedbackRequest)], service: ServiceDep
) -> FeedbackItem:
    """A reviewer's verdict on (query image, ``reference_id``), kept in the index folder."""
    data = await service.image(body.source)
    record = await service.run(service.engine.feedback, data, body.reference_id, body.verdict)
    return FeedbackItem.model_validate(record, from_attributes=True)


@router.get("", response_model=FeedbackList, summary="The recorded verdicts")
async def list_feedback(service: ServiceDep, reference_id: str | None = None) -> FeedbackList:
    records = await service.run(service.index.feedback, reference_id)
    return FeedbackList(feedback=[FeedbackItem.model_validate(r, from_attributes=True) for r in records])


@router.delete("/{feedback_id}", response_model=DeleteResponse, summary="Undo a verdict")
async def undo_feedback(feedback_id: int, service: ServiceDep) -> DeleteResponse:
    if not await service.run(service.index.remove_feedback, feedback_id):
        raise ItemNotFoundError(f"no verdict {feedback_id}")
    return DeleteResponse(id=str(feedback_id), deleted=True)
