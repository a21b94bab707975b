"""Quotas: every quota's current period, one quota's year in full (periods, events,
accounts), and the administrator's pro-rata runs and importer allocations. Balances come
from the ledger's read model; nothing here computes one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from rules.catalog import Catalog
from rules.pack import Measure, Pack
from rules.quota import terms_of, terms_on, year_volume
from schemas.ledger import QuotaView
from schemas.requests import AllocationRun, ImporterAllocation
from schemas.responses import AccountsAnswer, AllocationRunAnswer, GrantedPermit, QuotaList
from service import views
from service.dependencies import Admin, App, AsOf, Caller, Packs, Store, errors, today
from service.errors import ApiError
from service.language import Lang
from store.ledger import MAX_EVENTS_PAGE
from store.redis_store import now_rfc3339
from workers import webhooks

router = APIRouter(prefix="/v1/quotas", tags=["quotas"])


def quota_measure(catalog: Catalog, quota_id: str) -> tuple[Pack, Measure]:
    found = catalog.measure(quota_id)
    if found is None or found[1].quota is None:
        raise ApiError(404, "quota not found", {"quota_id": quota_id})
    return found


@router.get(
    "",
    summary="Every quota with its current period",
    response_model=QuotaList,
    responses=errors(401, 422, 503),
)
def quotas(
    caller: Caller, store: Store, catalog: Packs, language: Lang, as_of: AsOf = None
) -> QuotaList:
    day = as_of or today()
    answer = QuotaList(
        quotas=tuple(
            views.quota(store, pack, measure, day, brief=True)
            for pack, measure in views.quota_measures(catalog)
        )
    )
    return views.in_language(answer, catalog.texts, language)


@router.get(
    "/{quota_id}",
    summary="One quota: periods, volumes, used, remaining, permits, events (paged)",
    description=(
        "The quota year containing `as_of`, as the ledger stands on that day: only what is "
        "dated on or before it counts (a permit's issue date, a declaration's acceptance "
        "date for its use of a permit and the units it returns, the day a cancellation or "
        "an expiry was processed), periods and events alike. As of today or later it is the "
        "ledger now; a past date reads what the ledger knows now about that day, so a "
        "declaration entered late changes it."
    ),
    response_model=QuotaView,
    responses=errors(401, 404, 422, 503),
)
def quota(
    quota_id: str,
    caller: Caller,
    store: Store,
    catalog: Packs,
    language: Lang,
    as_of: AsOf = None,
    limit: Annotated[int, Query(ge=1, le=MAX_EVENTS_PAGE)] = 100,
    cursor: Annotated[int, Query(ge=0, le=2**40)] = 0,
) -> QuotaView:
    pack, measure = quota_measure(catalog, quota_id)
    answer = views.quota(
        store, pack, measure, as_of or today(), brief=False, viewer=caller,
        cursor=cursor, limit=limit,
    )  # fmt: skip
    return views.in_language(answer, catalog.texts, language)


@router.post(
    "/{quota_id}/runs",
    summary="Run the pro-rata allocation of a day (admin)",
    response_model=AllocationRunAnswer,
    responses=errors(400, 401, 403, 404, 409, 413, 422, 503, e409="not a daily pro-rata quota"),
)
def run_allocation(
    quota_id: str, run: AllocationRun, caller: Admin, app: App
) -> AllocationRunAnswer:
    _, measure = quota_measure(app.catalog, quota_id)
    assert measure.quota is not None
    if measure.quota.mode != "daily_pro_rata":
        raise ApiError(409, "not a daily pro-rata quota", {"mode": measure.quota.mode})
    result = app.store.ledger.run(terms_on(measure, run.date), run.date, now_rfc3339())
    webhooks.announce_run(app.store, quota_id, result.permits)
    if result.declarations:
        app.enqueue_bulk(result.declarations)
    return AllocationRunAnswer(
        quota_id=quota_id,
        date=run.date,
        declarations=tuple(result.declarations),
        permits=tuple(GrantedPermit.model_validate(item) for item in result.permits),
    )


@router.post(
    "/{quota_id}/allocations",
    summary="Importer allocations and transfers (admin)",
    response_model=AccountsAnswer,
    responses=errors(
        400,
        401,
        403,
        404,
        409,
        413,
        422,
        503,
        e409="not an importer-allocation quota, or the allocation refused (with why)",
    ),
)
def importer_allocation(
    quota_id: str, change: ImporterAllocation, caller: Admin, store: Store, catalog: Packs
) -> AccountsAnswer:
    _, measure = quota_measure(catalog, quota_id)
    assert measure.quota is not None
    if measure.quota.mode != "importer_allocation":
        raise ApiError(409, "not an importer-allocation quota", {"mode": measure.quota.mode})
    terms = terms_of(measure, change.quota_year)
    if change.initial is not None:
        refused = store.ledger.account(
            terms, "initial", change.business_number, change.initial,
            year_volume=year_volume(measure.quota, change.quota_year), now=now_rfc3339(),
        )  # fmt: skip
    else:
        refused = store.ledger.account(
            terms, "transfer", change.business_number, change.quantity or 0,
            to_business_number=change.transfer_to or "", now=now_rfc3339(),
        )  # fmt: skip
    if refused:
        raise ApiError(409, "allocation refused", refused)
    holders = store.ledger.account_holders(quota_id, change.quota_year)
    accounts = store.ledger.view(terms, today(), limit=1, accounts=holders).accounts
    return AccountsAnswer(quota_id=quota_id, quota_year=change.quota_year, accounts=accounts)
