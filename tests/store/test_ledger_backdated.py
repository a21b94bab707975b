"""Draws dated before units came back (SPEC §5 invariants as of every day): a permit an
administrator records as issued on an earlier day, or a declaration accepted on an
earlier day, may take only units the ledger held on that day and on every day since."""

from __future__ import annotations

from datetime import date, timedelta

from helpers import permit_terms
from rules.catalog import Catalog
from rules.quota import QuotaTerms, terms_of
from store import RedisStore

NOW = "2026-05-20T12:00:00Z"
EV_TRQ = "CA-CN-EV-TRQ-2026"
EV_H1 = "2026-03-01"


def given_back(
    store: RedisStore, catalog: Catalog, number: str, quantity: int, issued: date, back: date
) -> QuotaTerms:
    """A permit of `quantity` issued on `issued` and cancelled on `back`; the terms of
    the quota year it drew on."""
    found = catalog.measure(EV_TRQ)
    assert found is not None
    year = terms_of(found[1], 1)
    terms = permit_terms(number, quantity, EV_TRQ, issued, issued + timedelta(days=59))
    assert store.ledger.apply_permit(year, terms, NOW).outcome == "issued"
    store.ledger.end_permit(lambda n: terms_of(found[1], n), EV_TRQ, number, back, "cancelled", NOW)
    return year


def test_a_backdated_permit_cannot_take_units_returned_after_its_issue_date(
    store: RedisStore, catalog: Catalog
) -> None:
    """Units returned on 10 May were not in the quota on 5 May: a permit recorded as
    issued on 5 May is refused them, and no day reads a balance below zero."""
    year = given_back(store, catalog, "A", 24_500, date(2026, 5, 1), date(2026, 5, 10))
    late = permit_terms("B", 24_500, EV_TRQ, date(2026, 5, 5), date(2026, 7, 3))
    decision = store.ledger.apply_permit(year, late, NOW)

    assert decision.outcome == "refused"
    for day in (date(2026, 5, 1), date(2026, 5, 5), date(2026, 5, 9), date(2026, 5, 10)):
        h1 = next(p for p in store.ledger.view(year, day).periods if p.start.isoformat() == EV_H1)
        assert h1.remaining >= 0, (day, h1)


def _h1_remaining(store: RedisStore, year: QuotaTerms, day: date) -> int:
    return next(
        p.remaining for p in store.ledger.view(year, day).periods if p.start.isoformat() == EV_H1
    )


def test_a_backdated_draw_finds_the_least_between_two_returns(
    store: RedisStore, catalog: Catalog
) -> None:
    """Units came back on 10 May and again on 15 May, and 12 May drew nearly all of them:
    a permit recorded as issued on 11 May may take only what 12 May left (500), although
    11 May itself and today each show 24,500 free."""
    given_back(store, catalog, "A", 20_000, date(2026, 5, 1), date(2026, 5, 10))
    year = given_back(store, catalog, "C", 24_000, date(2026, 5, 12), date(2026, 5, 15))
    assert _h1_remaining(store, year, date(2026, 5, 11)) == 24_500
    assert _h1_remaining(store, year, date(2026, 5, 12)) == 500

    too_many = permit_terms("B", 501, EV_TRQ, date(2026, 5, 11), date(2026, 7, 9))
    refused = store.ledger.apply_permit(year, too_many, NOW)
    assert (refused.outcome, refused.remaining) == ("refused", 500)
    enough = permit_terms("D", 500, EV_TRQ, date(2026, 5, 11), date(2026, 7, 9))
    assert store.ledger.apply_permit(year, enough, NOW).outcome == "issued"
    assert _h1_remaining(store, year, date(2026, 5, 12)) == 0


def test_a_ledger_written_before_its_raised_days_were_kept_is_indexed_on_first_draw(
    store: RedisStore, catalog: Catalog
) -> None:
    """The days on which units came back are kept as they are written; a ledger that
    holds changes from before (its index of them absent) is indexed from its daily
    changes on the first backdated draw, which is then refused as it would have been."""
    year = given_back(store, catalog, "A", 24_500, date(2026, 5, 1), date(2026, 5, 10))
    raised = store.ledger.key(f"{EV_TRQ}|raised|{year.year}")
    assert store.client.zrange(raised, 0, -1) == [b"*", b"2026-05-10"]
    store.client.delete(raised)

    late = permit_terms("B", 24_500, EV_TRQ, date(2026, 5, 5), date(2026, 7, 3))
    assert store.ledger.apply_permit(year, late, NOW).outcome == "refused"
    assert store.client.zrange(raised, 0, -1, withscores=True) == [
        (b"*", 0.0),
        (b"2026-05-10", 20260510.0),
    ]
