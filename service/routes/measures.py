"""Measures: what is in force on a date, and a measure's WTO, notification and linkage
checks. All of it is read from the pack catalog; nothing here touches the store."""

from __future__ import annotations

from fastapi import APIRouter

from schemas.responses import MeasureChecks, MeasureList
from service import views
from service.dependencies import AsOf, Caller, Packs, errors, today
from service.errors import ApiError
from service.language import Lang

router = APIRouter(prefix="/v1", tags=["measures"])


@router.get(
    "/measures",
    summary="Measures in force on a date",
    response_model=MeasureList,
    responses=errors(401, 422),
)
def measures(caller: Caller, catalog: Packs, language: Lang, as_of: AsOf = None) -> MeasureList:
    return views.in_language(views.measures(catalog, as_of or today()), catalog.texts, language)


@router.get(
    "/measures/{measure_id}/checks",
    summary="WTO and notification checks on a date",
    response_model=MeasureChecks,
    responses=errors(401, 404, 422),
)
def checks(
    measure_id: str, caller: Caller, catalog: Packs, language: Lang, as_of: AsOf = None
) -> MeasureChecks:
    day = as_of or today()
    found = catalog.measure_on(measure_id, day)
    if found is None:
        raise ApiError(404, "measure not found", {"measure": measure_id})
    answer = views.checks(found[0], found[1], day, catalog.current)
    return views.in_language(answer, catalog.texts, language)
