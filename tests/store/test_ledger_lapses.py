"""No unit leaves the ledger unseen, whatever dates it is given (SPEC §5): units of a permit
that ends unused return to their own period, or, past its end, to the period open on the
day of return within the quota year; after the year they lapse, counted in their period's
`lapsed`, in the permits' figures and in a `lapsed` event. On the real ledger (real Redis)."""

from __future__ import annotations

import functools
from datetime import date

import pytest

from helpers import IMPORTER, permit_terms
from rules.catalog import Catalog
from rules.measure import Measure
from rules.quota import terms_of, terms_on
from schemas.ledger import PeriodFigures
from store import RedisStore
from workers import permits as permit_workflow

NOW = "2026-12-01T12:00:00Z"
EV_TRQ = "CA-CN-EV-TRQ-2026"
EV_H1, EV_H2 = "2026-03-01", "2026-09-01"  # the halves of quota year 1, 24,500 each


@pytest.fixture
def ev(catalog: Catalog) -> Measure:
    found = catalog.measure(EV_TRQ)
    assert found is not None
    return found[1]


def period(store: RedisStore, ev: Measure, as_of: date, key: str) -> PeriodFigures:
    year = store.ledger.view(terms_of(ev, 1), as_of, limit=1000)
    return next(item for item in year.periods if item.start.isoformat() == key)


def issue(
    store: RedisStore, ev: Measure, number: str, quantity: int, on: date, expires: date
) -> None:
    decision = store.ledger.apply_permit(
        terms_on(ev, on), permit_terms(number, quantity, EV_TRQ, on, expires), NOW
    )
    assert decision.outcome == "issued", decision


def test_an_expiry_dated_1990_returns_its_units_to_the_period_they_came_from(
    store: RedisStore, catalog: Catalog, ev: Measure
) -> None:
    """The hole this guards: a permit issued on 30 November 2026 with expires_on
    1990-01-01 is ended by the expiry sweep of 1 December; its 100 units come back to the
    half-year they were drawn from, on the day the expiry was processed, and nothing lapses."""
    issued_on, swept = date(2026, 11, 30), date(2026, 12, 1)
    before = period(store, ev, swept, EV_H2).remaining
    issue(store, ev, "P-1990", 100, issued_on, date(1990, 1, 1))
    assert period(store, ev, swept, EV_H2).remaining == before - 100

    assert permit_workflow.expire_all(store, catalog, swept) == ["P-1990"]

    ended = store.ledger.permit(EV_TRQ, "P-1990")
    assert ended is not None
    assert (ended.status, ended.returned, ended.lapsed) == ("expired", 100, 0)
    h2 = period(store, ev, swept, EV_H2)
    assert (h2.remaining, h2.returned, h2.lapsed) == (before, 100, 0)
    assert h2.permits is not None
    assert (h2.permits.returned, h2.permits.outstanding, h2.permits.lapsed) == (100, 0, 0)
    # as of the day of issue the units were drawn, not yet returned
    assert period(store, ev, issued_on, EV_H2).remaining == before - 100
    returned = [
        event
        for event in store.ledger.view(terms_of(ev, 1), swept, limit=1000).events.events
        if event.type == "returned"
    ]
    assert [(e.on, e.period, e.quantity, e.permit_number) for e in returned] == [
        (swept, EV_H2, 100, "P-1990")
    ]


def test_units_given_back_on_a_day_before_their_period_return_to_it(
    store: RedisStore, ev: Measure
) -> None:
    """A permit of the second half ended on a day no period contains (2 January 1990)
    gives its units back to its own period, not to nowhere, dated no earlier than its
    issue: as of the day before, nothing was drawn and nothing returned."""
    issue(store, ev, "P-EARLY", 40, date(2026, 9, 10), date(2026, 11, 8))
    terms_of_year = functools.partial(terms_of, ev)

    ended = store.ledger.end_permit(
        terms_of_year, EV_TRQ, "P-EARLY", date(1990, 1, 2), "cancelled", NOW
    )

    assert (ended["returned"], ended["period"]) == (40, EV_H2)
    h2 = period(store, ev, date(2026, 9, 10), EV_H2)
    assert (h2.used, h2.returned, h2.remaining, h2.lapsed) == (40, 40, 49_000, 0)
    before = period(store, ev, date(2026, 9, 9), EV_H2)
    assert (before.used, before.returned, before.remaining) == (0, 0, 49_000)
    year = store.ledger.view(terms_of(ev, 1), date(2026, 9, 10), limit=1000)
    assert [(e.type, e.on) for e in year.events.events if e.permit_number == "P-EARLY"] == [
        ("allocated", date(2026, 9, 10)), ("returned", date(2026, 9, 10)),
    ]  # fmt: skip


def test_units_given_back_after_the_quota_year_lapse_and_are_counted(
    store: RedisStore, ev: Measure
) -> None:
    """A permit drawn from the first half and ended after the quota year (1 April 2027)
    lapses its 30 units: as of 31 March they are outstanding; from 1 April they are the
    first half's lapsed, the permits' lapsed and a `lapsed` event, and every unit of the
    year is accounted for (in use, or lapsed)."""
    issue(store, ev, "P-LATE", 30, date(2026, 8, 20), date(2026, 10, 18))
    terms_of_year = functools.partial(terms_of, ev)
    day = date(2027, 4, 1)

    ended = store.ledger.end_permit(terms_of_year, EV_TRQ, "P-LATE", day, "cancelled", NOW)

    assert (ended["returned"], ended["period"]) == (0, None)
    found = store.ledger.permit(EV_TRQ, "P-LATE")
    assert found is not None and (found.returned, found.lapsed) == (0, 30)
    before = period(store, ev, date(2027, 3, 31), EV_H1)
    assert before.lapsed == 0
    assert before.permits is not None and before.permits.outstanding == 30
    h1, h2 = period(store, ev, day, EV_H1), period(store, ev, day, EV_H2)
    assert h1.lapsed == 30
    assert h1.permits is not None
    assert (h1.permits.outstanding, h1.permits.lapsed, h1.permits.returned) == (0, 30, 0)
    assert (h2.status, h2.lapsed) == ("closed", 49_000 - 30)
    assert h1.volume + h2.volume == (h1.used - h1.returned) + (h2.used - h2.returned) + (h2.lapsed)
    lapsed = [
        event
        for event in store.ledger.view(terms_of(ev, 1), day, limit=1000).events.events
        if event.type == "lapsed"
    ]
    assert [(e.on, e.period, e.quantity, e.permit_number, e.business_number) for e in lapsed] == [
        (day, EV_H1, 30, "P-LATE", IMPORTER)
    ]
