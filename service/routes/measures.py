"""Measures and arrangements: what is in force on a date, a measure's WTO, notification
and linkage checks, and both sides of an arrangement. All of it is read from the pack
catalog; nothing here touches the store."""

from __future__ import annotations

from fastapi import APIRouter

from schemas.arrangement import ArrangementView
from schemas.responses import MeasureChecks, MeasureList
from service import arrangements, views
from service.dependencies import AsOf, Caller, Packs, errors, today
from service.errors import ApiError

router = APIRouter(prefix="/v1", tags=["measures"])


@router.get(
    "/measures",
    summary="Measures in force on a date",
    response_model=MeasureList,
    responses=errors(401, 422),
)
def measures(caller: Caller, catalog: Packs, as_of: AsOf = None) -> MeasureList:
    return views.measures(catalog, as_of or today())


@router.get(
    "/measures/{measure_id}/checks",
    summary="WTO and notification checks on a date",
    response_model=MeasureChecks,
    responses=errors(401, 404, 422),
)
def checks(measure_id: str, caller: Caller, catalog: Packs, as_of: AsOf = None) -> MeasureChecks:
    day = as_of or today()
    found = catalog.measure_on(measure_id, day)
    if found is None:
        raise ApiError(404, "measure not found", {"measure": measure_id})
    return views.checks(found[0], found[1], day, catalog.current)


@router.get(
    "/arrangements/{arrangement_id}",
    summary="Both sides of an arrangement, their measures in force and the linkage checks",
    response_model=ArrangementView,
    responses=errors(401, 404, 422),
)
def arrangement(
    arrangement_id: str, caller: Caller, catalog: Packs, as_of: AsOf = None
) -> ArrangementView:
    found = catalog.arrangement(arrangement_id)
    if found is None:
        raise ApiError(404, "arrangement not found", {"arrangement": arrangement_id})
    return arrangements.view(catalog, found, as_of or today())
