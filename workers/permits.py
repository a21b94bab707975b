"""Permit applications and their end (SPEC §5): the workflow between a caller (the API,
`accord simulate`) and the ledger. It settles what the application leaves open (number,
dates, the quota year) from the pack, refuses what no permit may be, and lets the ledger
draw, register or refuse atomically. The ledger's arithmetic is not here: see
store/ledger.py."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, timedelta

from rules.catalog import Catalog
from rules.measure import Measure
from rules.quota import quota_year_of, terms_of
from schemas.permit import Permit, PermitApplication
from store import HoldsPermits, PermitDecision, now_rfc3339
from workers import webhooks


class PermitRefused(Exception):
    """The application names something no permit may be; `field` says which."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Applied:
    decision: PermitDecision
    measure: Measure


def permit_measure(catalog: Catalog, measure_id: str) -> Measure:
    found = catalog.measure(measure_id)
    if found is None or found[1].quota is None or found[1].quota.permits is None:
        raise PermitRefused("measure", f"{measure_id} is no measure that takes permits")
    return found[1]


def apply(
    store: HoldsPermits,
    catalog: Catalog,
    application: PermitApplication,
    today: date,
    records_earlier: bool = True,
) -> Applied:
    """Apply for a permit as of `today` (issued_on defaults to it and never passes it).
    An importer's application is issued on the day it is processed; only a caller that
    `records_earlier` (an administrator entering a permit issued before it was entered)
    may name an earlier issued_on, with an optional reason the quota's events keep."""
    measure = permit_measure(catalog, application.measure)
    quota = measure.quota
    assert quota is not None
    assert quota.permits is not None
    issued_on = application.issued_on or today
    if issued_on > today:
        raise PermitRefused(
            "issued_on",
            f"issued_on {issued_on} is in the future: a permit is issued on the day it is "
            f"processed ({today}) or, recorded by an administrator, earlier",
        )
    if issued_on < today and not records_earlier:
        raise PermitRefused(
            "issued_on",
            f"issued_on {issued_on} is in the past: an importer's application is issued on the "
            f"day it is processed ({today}); leave issued_on out, or give {today}",
        )
    if application.reason is not None and not records_earlier:
        raise PermitRefused(
            "reason", "only an administrator recording a permit issued earlier gives a reason"
        )
    if not measure.effective.contains(issued_on):
        raise PermitRefused("issued_on", f"{measure.id} is not in force on {issued_on}")
    names = {sub.name for sub in quota.sub_quotas}
    if application.sub_quota is not None and application.sub_quota not in names:
        known = ", ".join(sorted(names)) or "none"
        raise PermitRefused(
            "sub_quota",
            f"{measure.id} has no sub-quota {application.sub_quota!r} (it has: {known})",
        )
    validity = quota.permits.validity_days
    last_day = issued_on + timedelta(days=validity - 1)
    if application.expires_on is not None and application.expires_on > last_day:
        raise PermitRefused(
            "expires_on",
            f"a permit of {measure.id} is valid {validity} days counting the day of issue: "
            f"expires_on may be {last_day} at the latest",
        )
    # whether issued_on was given or is today: a permit that ends before it begins would
    # hand its units back to a day no period contains
    if application.expires_on is not None and application.expires_on < issued_on:
        raise PermitRefused("expires_on", f"expires_on is before issued_on ({issued_on})")
    year = max(quota_year_of(measure, issued_on), 1)
    terms = terms_of(measure, year)
    volume = sum(period.volume for period in terms.periods)
    if application.quantity > volume:
        raise PermitRefused(
            "quantity",
            f"{measure.id} has {volume} units in quota year {year}: no permit may ask for more",
        )
    for _ in range(_NUMBER_TRIES):
        number = application.permit_number or store.ledger.next_permit_number(measure.id, year)
        permit = application.terms(number, issued_on, validity)
        decision = store.ledger.apply_permit(terms, permit, now_rfc3339())
        # a drawn number that another permit holds (one chance in 2^50) is drawn again
        if decision.outcome != "conflict" or application.permit_number is not None:
            break
    webhooks.announce_application(store, decision, permit)
    return Applied(decision, measure)


_NUMBER_TRIES = 3


def end(
    store: HoldsPermits, catalog: Catalog, permit: Permit, day: date, status: str
) -> Permit | None:
    """Cancel (or expire) an unused permit; its units return on `day`."""
    measure = permit_measure(catalog, permit.measure)
    store.ledger.end_permit(
        functools.partial(terms_of, measure), measure.id, permit.permit_number, day, status,
        now_rfc3339(),
    )  # fmt: skip
    return store.ledger.permit(measure.id, permit.permit_number)


class PermitUsed(Exception):
    """A used permit is not cancelled: the declaration that used it is, first."""


def cancel(store: HoldsPermits, catalog: Catalog, permit: Permit, day: date) -> Permit:
    """Cancel a permit its holder no longer needs: an unused one ends and its units
    return on `day`; one ended already stays as it is; a used one is refused."""
    if permit.status == "used":
        raise PermitUsed(permit.permit_number)
    if permit.status in ("issued", "pending_allocation"):
        return end(store, catalog, permit, day, "cancelled") or permit
    return permit


def expire_all(store: HoldsPermits, catalog: Catalog, today: date) -> list[str]:
    """End every permit that expired unused, once the pack's grace after its last valid
    day has passed (the periodic sweep)."""
    ended = []
    for quota_id in catalog.permit_quotas():
        measure = permit_measure(catalog, quota_id)
        assert measure.quota is not None
        assert measure.quota.permits is not None
        grace = measure.quota.permits.grace_days
        expired = store.ledger.expire(
            functools.partial(terms_of, measure), quota_id, today, now_rfc3339(), grace
        )
        found = store.ledger.permits([(quota_id, number) for number in expired])
        webhooks.announce_expired(store, list(found.values()))
        ended += expired
    return ended


def find(store: HoldsPermits, catalog: Catalog, number: str) -> Permit | None:
    """A permit by number, in whichever quota holds it."""
    found = store.ledger.permits([(quota_id, number) for quota_id in catalog.permit_quotas()])
    return next(iter(found.values()), None)
