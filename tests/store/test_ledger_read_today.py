"""Reads of the ledger as of a date on the real ledger (real Redis): a past date counts
only what is dated on or before it; a read as of the caller's today or later is the
ledger now (SPEC §5)."""

from __future__ import annotations

from datetime import date

import pytest

from helpers import permit_terms
from rules.catalog import Catalog
from rules.pack import Measure
from rules.quota import terms_of, terms_on
from store.redis_store import RedisStore

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
