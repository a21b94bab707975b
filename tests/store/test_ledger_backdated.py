"""Draws dated before units came back (SPEC §5 invariants as of every day): a permit an
administrator records as issued on an earlier day, or a declaration accepted on an
earlier day, may take only units the ledger held on that day and on every day since."""

from __future__ import annotations

from datetime import date

from helpers import permit_terms
from rules.catalog import Catalog
from rules.quota import terms_of
from store import RedisStore

NOW = "2026-05-20T12:00:00Z"
EV_TRQ = "CA-CN-EV-TRQ-2026"
EV_H1 = "2026-03-01"


def test_a_backdated_permit_cannot_take_units_returned_after_its_issue_date(
    store: RedisStore, catalog: Catalog
) -> None:
    """Units returned on 10 May were not in the quota on 5 May: a permit recorded as
    issued on 5 May is refused them, and no day reads a balance below zero."""
    found = catalog.measure(EV_TRQ)
    assert found is not None
    year = terms_of(found[1], 1)
    first = permit_terms("A", 24_500, EV_TRQ, date(2026, 5, 1), date(2026, 6, 29))
    assert store.ledger.apply_permit(year, first, NOW).outcome == "issued"
    store.ledger.end_permit(
        lambda n: terms_of(found[1], n), EV_TRQ, "A", date(2026, 5, 10), "cancelled", NOW
    )
    late = permit_terms("B", 24_500, EV_TRQ, date(2026, 5, 5), date(2026, 7, 3))
    decision = store.ledger.apply_permit(year, late, NOW)

    assert decision.outcome == "refused"
    for day in (date(2026, 5, 1), date(2026, 5, 5), date(2026, 5, 9), date(2026, 5, 10)):
        h1 = next(p for p in store.ledger.view(year, day).periods if p.start.isoformat() == EV_H1)
        assert h1.remaining >= 0, (day, h1)
