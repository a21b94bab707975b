"""Reads of the ledger as of a date on the real ledger (real Redis): a past date counts
only what is dated on or before it, every day of a long stream being its history replayed
up to that day; a read as of the caller's today or later is the ledger now (SPEC §5)."""

from __future__ import annotations

import functools
import random
from datetime import date, timedelta

import pytest
from ledger_replay import check_as_of

from helpers import permit_terms
from helpers import quota_request as request
from rules.catalog import Catalog
from rules.measure import Measure
from rules.quota import terms_of, terms_on
from store import RedisStore
from workers import permits as permit_workflow

NOW = "2026-12-01T12:00:00Z"
EV_TRQ = "CA-CN-EV-TRQ-2026"


@pytest.fixture
def ev(catalog: Catalog) -> Measure:
    found = catalog.measure(EV_TRQ)
    assert found is not None
    return found[1]


def test_a_read_as_of_today_counts_what_is_dated_after_it(store: RedisStore, ev: Measure) -> None:
    """A permit dated 2 December (an acceptance date a time zone ahead, say) is not in a
    read as of 1 December, unless 1 December is the reader's today: as of today or later
    the read is the ledger now, and its events page lists the permit's event."""
    day, ahead = date(2026, 12, 1), date(2026, 12, 2)
    decision = store.ledger.apply_permit(
        terms_on(ev, ahead), permit_terms("P-AHEAD", 7, EV_TRQ, ahead, date(2027, 1, 30)), NOW
    )
    assert decision.outcome == "issued"
    year = terms_of(ev, 1)

    past = store.ledger.view(year, day)
    now = store.ledger.view(year, day, today=day)
    later = store.ledger.view(year, ahead, today=day)

    assert past.current is not None and now.current is not None and later.current is not None
    assert (past.current.used, now.current.used, later.current.used) == (0, 7, 7)
    assert [e.permit_number for e in past.events.events if e.type == "allocated"] == []
    assert [e.permit_number for e in now.events.events if e.type == "allocated"] == ["P-AHEAD"]
    assert now == later.model_copy(update={"as_of": day})


def test_a_stream_over_fourteen_months_reads_as_its_history_on_every_day(
    store: RedisStore, catalog: Catalog, ev: Measure
) -> None:
    """A seeded stream over quota year 1 and past its end: permits issued each day (some
    recorded up to ten days back), declarations using them on their acceptance dates
    with undeclared units returning, permits and declarations cancelled, the expiry sweep
    run each day. Read as of every day from the day before the year to two months after
    it, the ledger is its event history replayed up to that day."""
    rng = random.Random(24)
    year = terms_of(ev, 1)
    terms_of_year = functools.partial(terms_of, ev)
    first, last = date(2026, 3, 1), date(2027, 4, 30)
    issued: list[str] = []
    used: list[tuple[str, str]] = []  # (declaration, permit)
    serial = 0
    day = first
    while day <= last:
        if day <= date(2027, 2, 28):
            for _ in range(rng.randint(0, 2)):
                serial += 1
                number = f"S-{serial}"
                on = max(day - timedelta(days=rng.choice([0, 0, 0, 3, 10])), first)
                expires = on + timedelta(days=rng.choice([20, 59]))
                terms = permit_terms(number, rng.randint(1, 40), EV_TRQ, on, expires)
                if store.ledger.apply_permit(year, terms, NOW).outcome == "issued":
                    issued.append(number)
        for number in list(issued):
            held = store.ledger.permit(EV_TRQ, number)
            assert held is not None
            if held.status != "issued":
                issued.remove(number)
            elif held.issued_on <= day <= held.expires_on and rng.random() < 0.15:
                serial += 1
                declared = rng.randint(1, held.held)
                wanted = [request(ev, held.issued_on, declared, permit=number)]
                if store.ledger.allocate(f"D-{serial}", wanted, day, NOW).applied:
                    used.append((f"D-{serial}", number))
                    issued.remove(number)
            elif rng.random() < 0.03:
                store.ledger.end_permit(terms_of_year, EV_TRQ, number, day, "cancelled", NOW)
                issued.remove(number)
        if used and rng.random() < 0.1:
            declaration_id, number = used.pop(rng.randrange(len(used)))
            store.ledger.give_back(declaration_id, day, NOW)
            issued.append(number)
        permit_workflow.expire_all(store, catalog, day)
        day += timedelta(days=1)

    history = store.ledger.view(year, date.max, limit=1000)
    assert history.events.total == len(history.events.events) <= 1000
    kinds = {event.type for event in history.events.events}
    assert {"allocated", "returned", "lapsed"} <= kinds, kinds
    day = first - timedelta(days=1)
    while day <= last + timedelta(days=1):
        check_as_of(
            year, day, history.events.events, store.ledger.view(year, day, limit=1000), True
        )
        day += timedelta(days=1)
