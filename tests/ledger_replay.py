"""The quota ledger replayed from its event history: what a read as of a day must show,
from the events dated on or before it (SPEC §5), for tests of the read model."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date

from schemas.ledger import LedgerYear, QuotaEvent
from schemas.quota import QuotaTerms


def check_as_of(
    terms: QuotaTerms, day: date, history: Sequence[QuotaEvent], seen: LedgerYear,
    permits_issued: bool,
) -> None:  # fmt: skip
    """`seen` (the year read as of `day`) is `history` (every event of the year, in the
    order written) replayed up to `day`: its events page is the events dated on or before
    it, in that order, and each period's used, returned, lapsed, reserve, carry-over,
    remaining and status follow from them (with `permits_issued`, the units of permits
    issued from it too: a quota drawn at permits, first come first served); no period's
    balance or reserve is below zero on that day."""
    dated = [event for event in history if event.on is not None and event.on <= day]
    assert list(seen.events.events) == dated, day
    assert seen.events.total == len(dated), day
    used: dict[str, int] = defaultdict(int)
    returned: dict[str, int] = defaultdict(int)
    late: dict[str, int] = defaultdict(int)
    reserve: dict[str, int] = defaultdict(int)
    issued: dict[str, int] = defaultdict(int)
    for event in dated:
        if event.type == "allocated":
            used[event.period] += event.quantity
            reserve[event.period] += event.reserved
            if event.permit_number and not event.declaration_id:
                issued[event.period] += event.quantity
        elif event.type == "returned":
            returned[event.period] += event.quantity
            reserve[event.period] -= event.reserved
        elif event.type == "lapsed":
            late[event.period] += event.quantity
    carried, held = 0, 0
    for position, (period, shown) in enumerate(zip(terms.periods, seen.periods, strict=True)):
        key = period.key
        start, end = date.fromisoformat(key), date.fromisoformat(period.end)
        balance = carried + period.volume + returned[key] - used[key]
        held += shown.granted
        # SPEC §5: the balance never goes below zero, as of any day
        assert balance >= 0 and all(sub.remaining >= 0 for sub in shown.sub_quotas), (day, shown)
        assert (shown.used, shown.returned) == (used[key], returned[key]), (day, shown)
        assert sum(sub.used for sub in shown.sub_quotas) == reserve[key], (day, shown)
        closing = balance if end < day and position == len(terms.periods) - 1 else 0
        assert shown.lapsed == late[key] + closing, (day, shown)
        if permits_issued:
            assert shown.permits is not None and shown.permits.issued == issued[key], (day, shown)
        if day < start:
            assert shown.status == "scheduled", (day, shown)
        elif end < day:
            assert shown.status == "closed" and shown.remaining == 0, (day, shown)
            assert shown.carried_forward + closing == balance, (day, shown)
        else:
            assert shown.status in ("open", "critical", "exhausted"), (day, shown)
            assert (shown.carried_over, shown.remaining) == (carried, balance - held), (day, shown)
            assert balance > 0 or shown.status == "exhausted", (day, shown)
        carried = balance
