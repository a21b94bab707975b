"""Arrangements: the list, and both sides of one on a date with their measures in force
and the linkage checks. All of it is read from the pack catalog; nothing here touches
the store."""

from __future__ import annotations

from fastapi import APIRouter

from schemas.arrangement import ArrangementList, ArrangementView
from service import arrangements, views
from service.dependencies import AsOf, Caller, Packs, errors, today
from service.errors import ApiError
from service.language import Lang

router = APIRouter(prefix="/v1/arrangements", tags=["arrangements"])


@router.get(
    "",
    summary="Every arrangement: its id, title, parties and dates",
    response_model=ArrangementList,
    responses=errors(401),
)
def arrangement_list(caller: Caller, catalog: Packs, language: Lang) -> ArrangementList:
    return views.in_language(arrangements.listed(catalog), catalog.texts, language)


@router.get(
    "/{arrangement_id}",
    summary="Both sides of an arrangement, their measures in force and the linkage checks",
    response_model=ArrangementView,
    responses=errors(401, 404, 422),
)
def arrangement(
    arrangement_id: str, caller: Caller, catalog: Packs, language: Lang, as_of: AsOf = None
) -> ArrangementView:
    found = catalog.arrangement(arrangement_id)
    if found is None:
        raise ApiError(404, "arrangement not found", {"arrangement": arrangement_id})
    answer = arrangements.view(catalog, found, as_of or today())
    return views.in_language(answer, catalog.texts, language)
