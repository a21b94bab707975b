"""Import permits: apply (the quota is drawn as the permit is issued), read, cancel.
The workflow between the application and the ledger is workers/permits.py's."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from rules.catalog import Catalog
from schemas.permit import SERVICE_PERMIT_PREFIX, Permit, PermitApplication, is_service_number
from schemas.responses import PermitView
from service import views
from service.auth import Principal
from service.dependencies import Caller, Packs, Store, Writer, errors, today
from service.errors import ApiError, quota_exhausted
from service.words import _
from store.ledger import HoldsPermits
from workers import permits as permit_workflow

router = APIRouter(prefix="/v1/permits", tags=["permits"])


@router.post(
    "",
    status_code=201,
    summary="Apply for an import permit (admins for any importer, submitters for their own)",
    response_model=PermitView,
    responses={
        200: {
            "model": PermitView,
            "description": "the same application again: the permit as it stands",
        },
        202: {
            "model": PermitView,
            "description": "pending_allocation: waits for its day's pro-rata run",
        },
        **errors(
            400,
            401,
            403,
            409,
            413,
            422,
            503,
            e409="quota exhausted (with the units left), or number taken",
        ),
    },
)
def apply_permit(
    application: PermitApplication, caller: Writer, store: Store, catalog: Packs
) -> JSONResponse:
    if not caller.sees(application.business_number):
        raise ApiError(403, "not your importer", _("a submitter applies for its own permits only"))
    if application.permit_number is not None and is_service_number(application.permit_number):
        # else a caller could take the number the service is about to give another
        raise ApiError(422, "invalid permit", [{"field": "permit_number", "message": _(
            f"numbers beginning {SERVICE_PERMIT_PREFIX} are the service's: leave "
            "permit_number out to be given one"
        )}])  # fmt: skip
    try:
        applied = permit_workflow.apply(
            store, catalog, application, today(), records_earlier=caller.role == "admin"
        )
    except permit_workflow.PermitRefused as exc:
        raise ApiError(
            422, "invalid permit", [{"field": exc.field, "message": exc.message}]
        ) from None
    decision = applied.decision
    if decision.outcome == "conflict":
        raise ApiError(409, "permit number taken", None)
    if decision.outcome == "refused" and decision.remaining is not None:
        raise quota_exhausted(decision.remaining, application.quantity)
    if decision.permit is None:  # refused at its pro-rata run, applied for again
        raise quota_exhausted(0, application.quantity)
    status = {"issued": 201, "pending_allocation": 202}.get(decision.outcome, 200)
    return JSONResponse(views.permit(decision.permit).model_dump(mode="json"), status_code=status)


def visible_permit(store: HoldsPermits, catalog: Catalog, caller: Principal, number: str) -> Permit:
    permit = permit_workflow.find(store, catalog, number)
    if permit is None or not caller.sees(permit.business_number):
        raise ApiError(404, "permit not found", {"permit_number": number})
    return permit


@router.get(
    "/{number}",
    summary="An import permit: status, units held, use",
    response_model=PermitView,
    responses=errors(401, 404, 422, 503),
)
def get_permit(number: str, caller: Caller, store: Store, catalog: Packs) -> PermitView:
    return views.permit(visible_permit(store, catalog, caller, number))


@router.post(
    "/{number}/cancel",
    summary="Cancel an unused permit; its units return to the quota",
    response_model=PermitView,
    responses=errors(401, 403, 404, 409, 422, 503, e409="the permit was used"),
)
def cancel_permit(number: str, caller: Writer, store: Store, catalog: Packs) -> PermitView:
    permit = visible_permit(store, catalog, caller, number)
    if permit.status == "used":
        raise ApiError(
            409, "permit used", _("cancel the declaration that used it first, then the permit")
        )
    if permit.status in ("issued", "pending_allocation"):
        permit = permit_workflow.end(store, catalog, permit, today(), "cancelled") or permit
    return views.permit(permit)
