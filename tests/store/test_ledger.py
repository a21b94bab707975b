"""The quota ledger (SPEC §4 step 5, §5) against a real Redis: all-or-nothing allocation,
idempotency, the affordable reserve, carry-over between the half-years of one quota
year, critical and exhausted events, and cancellation.

Everything runs on the TEST-JP-EV-TRQ quota of tests/packs/test-race.yaml: quota years
from 1 January, two half-years of 50 units, 10 of each reserved for affordable vehicles,
over-quota entries refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import pytest

from conftest import TEST_PACKS
from helpers import long_permit, vin
from helpers import quota_request as request
from rules.catalog import Catalog
from rules.pack import Measure, parse_pack
from rules.simulation import MemoryLedger
from store.redis_store import RedisStore

QUOTA = "TEST-JP-EV-TRQ"
H1 = date(2026, 3, 2)  # first half of quota year 1: 2026-01-01 .. 2026-06-30
H2 = date(2026, 8, 3)  # second half: 2026-07-01 .. 2026-12-31
NEXT_YEAR = date(2027, 2, 1)  # first half of quota year 2
H1_KEY, H2_KEY, NEXT_YEAR_KEY = "2026-01-01", "2026-07-01", "2027-01-01"
GENERAL_PER_HALF = 40  # 50 units, 10 of them reserved for affordable vehicles


@pytest.fixture
def measure(catalog: Catalog) -> Measure:
    found = catalog.measure(QUOTA)
    assert found is not None and found[1].quota is not None
    return found[1]


def add_permit(store: RedisStore, number: str, quantity: int) -> None:
    permit = long_permit(number, quantity, QUOTA)
    assert store.add_permit(permit)


def prefill(
    store: RedisStore, measure: Measure, day: date, units: int, affordable: bool = False
) -> str:
    """Use `units` of the period containing `day`, as earlier declarations would have."""
    label = f"prefill-{day}-{units}-{affordable}"
    assert store.allocate(label, [request(measure, day, units, affordable=affordable)]).applied
    return label


def period(store: RedisStore, key: str) -> dict[str, str]:
    return store.quota_periods(QUOTA)[key]


def balance(store: RedisStore, key: str) -> int:
    fields = period(store, key)
    return (
        int(fields["volume"])
        + int(fields["carried"])
        + int(fields["returned"])
        - int(fields["allocated"])
    )


def events(store: RedisStore, key: str | None = None, *types: str) -> list[dict[str, Any]]:
    return [
        event
        for event in store.quota_events(QUOTA)
        if (key is None or event["period"] == key) and (not types or event["type"] in types)
    ]


def ledger(store: RedisStore, permits: Sequence[str] = (), vins: Sequence[str] = ()) -> Any:
    """Everything an allocation may change, to compare before and after."""
    return (
        store.quota_periods(QUOTA),
        store.quota_events(QUOTA),
        {number: store.permit(number) for number in permits},
        {each: store.vin_owner(QUOTA, each) for each in vins},
    )


# --- all or nothing ------------------------------------------------------------------


@pytest.mark.parametrize("failure", ["quota_exhausted", "permit_exhausted", "vin_already_used"])
def test_a_second_line_that_does_not_fit_changes_nothing(
    store: RedisStore, measure: Measure, failure: str
) -> None:
    """When the second line of a declaration cannot be applied, no line is: balances,
    permits and VINs stay as they were and the result names the failing line."""
    prefill(store, measure, H1, GENERAL_PER_HALF - 5)  # 5 general units left
    add_permit(store, "P-FIRST", 10)
    add_permit(store, "P-SECOND", 1 if failure == "permit_exhausted" else 10)
    taken = vin(900)
    assert store.allocate("earlier", [request(measure, H1, 1, vins=[taken])]).applied
    second_vins = [vin(2), vin(3), taken] if failure == "vin_already_used" else [vin(2), vin(3)]
    second = request(
        measure,
        H1,
        len(second_vins) if failure != "quota_exhausted" else 4,
        line=2,
        permit="P-SECOND",
        vins=second_vins if failure != "quota_exhausted" else (),
    )
    first = request(measure, H1, 1, line=1, permit="P-FIRST", vins=[vin(1)])
    watched = [vin(1), vin(2), vin(3), taken]
    before = ledger(store, ["P-FIRST", "P-SECOND"], watched)

    result = store.allocate("two-lines", [first, second])

    assert not result.applied
    assert [(line.line, line.status) for line in result.lines] == [
        (1, "not_applied"),
        (2, failure),
    ]
    assert all(line.in_quota == 0 and line.reserved_used == 0 for line in result.lines)
    assert result.balances == ()
    assert ledger(store, ["P-FIRST", "P-SECOND"], watched) == before
    assert store.vin_owner(QUOTA, taken) == "earlier"
    assert store.permit("P-FIRST").used == 0  # type: ignore[union-attr]
    assert store.permit("P-SECOND").used == 0  # type: ignore[union-attr]
    assert store.give_back("two-lines") == []  # nothing was applied, nothing to give back


def test_a_vin_repeated_across_lines_of_one_declaration_is_refused(
    store: RedisStore, measure: Measure
) -> None:
    """A VIN listed on two lines of one declaration counts once only: the declaration is
    refused whole and the VIN stays free."""
    repeated = vin(7)
    result = store.allocate(
        "repeated-vin",
        [
            request(measure, H1, 1, line=1, vins=[repeated]),
            request(measure, H1, 1, line=2, vins=[repeated]),
        ],
    )
    assert not result.applied
    assert [line.status for line in result.lines] == ["not_applied", "vin_already_used"]
    assert store.vin_owner(QUOTA, repeated) is None
    assert balance(store, H1_KEY) == 50


def test_reserve_units_planned_by_one_line_are_not_counted_again_as_general(
    store: RedisStore, measure: Measure
) -> None:
    """Units an affordable line takes from the reserve leave the balance for the next line
    of the same declaration: general units are never overdrawn into a negative balance."""
    prefill(store, measure, H1, GENERAL_PER_HALF - 3)  # 3 general + 10 reserved left
    too_much = store.allocate(
        "too-much",
        [
            request(measure, H1, 12, line=1, affordable=True),  # 10 reserved + 2 general
            request(measure, H1, 2, line=2),  # only 1 general unit is left
        ],
    )
    assert not too_much.applied
    assert [line.status for line in too_much.lines] == ["not_applied", "quota_exhausted"]
    assert balance(store, H1_KEY) == 13

    fits = store.allocate(
        "fits",
        [request(measure, H1, 12, line=1, affordable=True), request(measure, H1, 1, line=2)],
    )
    assert fits.applied
    assert [(line.in_quota, line.reserved_used) for line in fits.lines] == [(12, 10), (1, 0)]
    assert balance(store, H1_KEY) == 0
    assert period(store, H1_KEY)["status"] == "exhausted"
    assert all(event["balance_after"] >= 0 for event in events(store))


# --- idempotency ---------------------------------------------------------------------


def test_allocating_twice_for_one_declaration_consumes_once(
    store: RedisStore, measure: Measure
) -> None:
    """A second allocation for the same declaration returns the first result and consumes
    no more quota, permit quantity or VINs, and appends no event."""
    add_permit(store, "P-1", 10)
    requests = [
        request(measure, H1, 2, line=1, permit="P-1", vins=[vin(1), vin(2)]),
        request(measure, H1, 3, line=2, affordable=True, permit="P-1"),
    ]
    first = store.allocate("twice", requests)
    state = ledger(store, ["P-1"], [vin(1), vin(2)])
    second = store.allocate("twice", requests)
    third = store.allocate("twice", [request(measure, H1, 9)])  # even if asked otherwise

    assert first.applied
    assert second == first == third
    assert store.allocation("twice") == first
    assert ledger(store, ["P-1"], [vin(1), vin(2)]) == state
    assert balance(store, H1_KEY) == 45
    assert store.permit("P-1").used == 5  # type: ignore[union-attr]
    assert len(events(store, H1_KEY, "allocated")) == 2  # one per line, once


def test_a_refused_allocation_stays_refused_when_repeated(
    store: RedisStore, measure: Measure
) -> None:
    """A declaration refused once gets the same refusal again, even after units came
    free: a redelivered task cannot turn a rejection into an acceptance."""
    earlier = prefill(store, measure, H1, GENERAL_PER_HALF)
    refused = store.allocate("refused", [request(measure, H1, 1)])
    store.give_back(earlier)
    assert balance(store, H1_KEY) == 50
    assert store.allocate("refused", [request(measure, H1, 1)]) == refused
    assert not refused.applied
    assert balance(store, H1_KEY) == 50


# --- the affordable reserve ----------------------------------------------------------


def test_affordable_vehicles_draw_on_the_reserve_first_then_on_general_units(
    store: RedisStore, measure: Measure
) -> None:
    """An affordable line takes reserved units first and general units for the rest."""
    first = store.allocate("aff-1", [request(measure, H1, 4, affordable=True)])
    assert (first.lines[0].in_quota, first.lines[0].reserved_used) == (4, 4)
    assert first.lines[0].sub_quota == "affordable"
    second = store.allocate("aff-2", [request(measure, H1, 8, affordable=True)])
    assert (second.lines[0].in_quota, second.lines[0].reserved_used) == (8, 6)
    fields = period(store, H1_KEY)
    assert fields["reserved_used:affordable"] == "10"
    assert fields["allocated"] == "12"
    general = store.allocate("general", [request(measure, H1, 1)])
    assert general.lines[0].sub_quota is None and general.lines[0].reserved_used == 0


def test_reserved_units_serve_only_affordable_vehicles(store: RedisStore, measure: Measure) -> None:
    """With the general units used up and reserved units left, a non-affordable line is
    refused and an affordable one accepted."""
    prefill(store, measure, H1, GENERAL_PER_HALF)
    assert balance(store, H1_KEY) == 10

    refused = store.allocate("not-affordable", [request(measure, H1, 1)])
    assert not refused.applied
    assert refused.lines[0].status == "quota_exhausted"

    accepted = store.allocate("affordable", [request(measure, H1, 10, affordable=True)])
    assert accepted.applied
    assert (accepted.lines[0].in_quota, accepted.lines[0].reserved_used) == (10, 10)
    assert balance(store, H1_KEY) == 0


# --- carry-over ----------------------------------------------------------------------


def test_unused_units_carry_over_when_the_second_half_opens(
    store: RedisStore, measure: Measure
) -> None:
    """The first declaration of the second half opens it with the first half's unused
    units, reserve included, as `opened` then `carried_over` events, and closes the
    first half."""
    prefill(store, measure, H1, 15)
    prefill(store, measure, H1, 4, affordable=True)  # 31 left, 6 of them reserved
    assert H2_KEY not in store.quota_periods(QUOTA)

    first_of_h2 = store.allocate("h2-first", [request(measure, H2, 1)])

    assert first_of_h2.applied
    assert period(store, H1_KEY)["status"] == "closed"
    fields = period(store, H2_KEY)
    assert (fields["volume"], fields["carried"]) == ("50", "31")
    assert (fields["reserved:affordable"], fields["reserved_carried:affordable"]) == ("10", "6")
    assert [
        (e["type"], e["quantity"], e["balance_before"], e["balance_after"])
        for e in events(store, H2_KEY)
    ] == [("opened", 50, 0, 50), ("carried_over", 31, 50, 81), ("allocated", 1, 81, 80)]
    # 80 left of which 16 reserved: 64 general units, then only affordable vehicles
    assert store.allocate("h2-general", [request(measure, H2, 64)]).applied
    assert not store.allocate("h2-general-more", [request(measure, H2, 1)]).applied
    assert store.allocate("h2-affordable", [request(measure, H2, 16, affordable=True)]).applied
    assert balance(store, H2_KEY) == 0


def test_an_untouched_first_half_carries_over_whole(store: RedisStore, measure: Measure) -> None:
    """When nobody used the first half, all of it, reserve included, carries over."""
    assert store.allocate("h2-only", [request(measure, H2, 1)]).applied
    fields = period(store, H2_KEY)
    assert (fields["carried"], fields["reserved_carried:affordable"]) == ("50", "10")
    assert balance(store, H2_KEY) == 99


def test_a_late_first_half_declaration_finds_the_first_half_closed(
    store: RedisStore, measure: Measure
) -> None:
    """Once the second half has opened (with the first half's units carried over), a
    declaration accepted in the first half is refused: no unit is available twice."""
    assert store.allocate("h2-first", [request(measure, H2, 1)]).applied  # carries 50
    before = ledger(store)

    late = store.allocate("late", [request(measure, H1, 1)])

    assert not late.applied
    assert late.lines[0].status == "quota_exhausted"
    assert ledger(store) == before  # the first half is not opened afresh with its 50 units


def test_a_period_closed_by_carry_over_refuses_allocations(
    store: RedisStore, measure: Measure
) -> None:
    """After carry-over the first half is closed: nothing more is allocated from it."""
    prefill(store, measure, H1, 5)
    assert store.allocate("h2-first", [request(measure, H2, 1)]).applied
    refused = store.allocate("late", [request(measure, H1, 1, affordable=True)])
    assert not refused.applied
    assert refused.lines[0].status == "quota_exhausted"
    assert period(store, H1_KEY)["allocated"] == "5"


def test_nothing_carries_across_quota_years(store: RedisStore, measure: Measure) -> None:
    """The first period of a new quota year opens with its own volume only."""
    prefill(store, measure, H2, 10)  # year 1 ends with units unused
    assert store.allocate("next-year", [request(measure, NEXT_YEAR, 1)]).applied
    fields = period(store, NEXT_YEAR_KEY)
    assert (fields["carried"], fields["reserved_carried:affordable"]) == ("0", "0")
    assert [e["type"] for e in events(store, NEXT_YEAR_KEY)] == ["opened", "allocated"]
    assert balance(store, NEXT_YEAR_KEY) == 49
    assert period(store, H2_KEY)["status"] != "closed"


# --- critical and exhausted ----------------------------------------------------------


def test_critical_and_exhausted_are_announced_once_when_crossed(
    store: RedisStore, measure: Measure
) -> None:
    """`critical` is emitted when 90% is first used and `exhausted` when nothing is left,
    each once, with the balance unchanged across the event."""
    prefill(store, measure, H1, GENERAL_PER_HALF)
    prefill(store, measure, H1, 4, affordable=True)  # 88% used
    assert events(store, H1_KEY, "critical", "exhausted") == []
    assert store.allocate("to-90", [request(measure, H1, 1, affordable=True)]).applied
    assert store.allocate("to-92", [request(measure, H1, 1, affordable=True)]).applied
    assert store.allocate("to-98", [request(measure, H1, 3, affordable=True)]).applied
    assert period(store, H1_KEY)["status"] == "critical"
    assert store.allocate("to-100", [request(measure, H1, 1, affordable=True)]).applied
    assert not store.allocate("beyond", [request(measure, H1, 1, affordable=True)]).applied

    marks = events(store, H1_KEY, "critical", "exhausted")
    assert [(e["type"], e["declaration_id"]) for e in marks] == [
        ("critical", "to-90"),
        ("exhausted", "to-100"),
    ]
    assert [(e["balance_before"], e["balance_after"]) for e in marks] == [(5, 5), (0, 0)]
    assert period(store, H1_KEY)["status"] == "exhausted"


def test_one_allocation_crossing_both_thresholds_announces_both(
    store: RedisStore, measure: Measure
) -> None:
    """An allocation that goes from under 90% to nothing left emits `critical` and then
    `exhausted`."""
    prefill(store, measure, H1, 10)
    assert store.allocate("all", [request(measure, H1, 40, affordable=True)]).applied
    assert [e["type"] for e in events(store, H1_KEY)] == [
        "opened",
        "allocated",
        "allocated",
        "critical",
        "exhausted",
    ]


# --- cancellation --------------------------------------------------------------------


def test_give_back_returns_units_permit_quantity_and_vins(
    store: RedisStore, measure: Measure
) -> None:
    """Cancelling an accepted declaration returns its units as `returned` events, its
    permit quantity and its VINs."""
    add_permit(store, "P-1", 5)
    vins = [vin(1), vin(2)]
    assert store.allocate(
        "cancelled",
        [
            request(measure, H1, 2, line=1, permit="P-1", vins=vins),
            request(measure, H1, 3, line=2, affordable=True, permit="P-1"),
        ],
    ).applied
    assert store.permit("P-1").used == 5  # type: ignore[union-attr]
    assert store.vin_owner(QUOTA, vins[0]) == "cancelled"

    returned = store.give_back("cancelled")

    assert [(item["period"], item["quantity"]) for item in returned] == [(H1_KEY, 2), (H1_KEY, 3)]
    assert [
        (e["quantity"], e["balance_before"], e["balance_after"], e["declaration_id"])
        for e in events(store, H1_KEY, "returned")
    ] == [(2, 45, 47, "cancelled"), (3, 47, 50, "cancelled")]
    assert balance(store, H1_KEY) == 50
    fields = period(store, H1_KEY)
    assert (fields["returned"], fields["reserved_returned:affordable"]) == ("5", "3")
    assert store.permit("P-1").used == 0  # type: ignore[union-attr]
    assert all(store.vin_owner(QUOTA, each) is None for each in vins)
    # the returned units, reserve included, serve the next declarations
    assert store.allocate("again", [request(measure, H1, 2, permit="P-1", vins=vins)]).applied
    assert store.vin_owner(QUOTA, vins[0]) == "again"


def test_give_back_reopens_an_exhausted_period(store: RedisStore, measure: Measure) -> None:
    """Units returned to an exhausted period reopen it, with a `reopened` event."""
    prefill(store, measure, H1, GENERAL_PER_HALF)
    assert store.allocate("last", [request(measure, H1, 10, affordable=True)]).applied
    assert period(store, H1_KEY)["status"] == "exhausted"

    store.give_back("last")

    assert [(e["type"], e["balance_before"], e["balance_after"]) for e in events(store)][-2:] == [
        ("returned", 0, 10),
        ("reopened", 10, 10),
    ]
    assert period(store, H1_KEY)["status"] == "open"  # 80% used
    assert store.allocate("after", [request(measure, H1, 1, affordable=True)]).applied


def test_give_back_is_idempotent(store: RedisStore, measure: Measure) -> None:
    """A second cancellation of the same declaration returns nothing and changes
    nothing."""
    add_permit(store, "P-1", 5)
    once = [vin(1), vin(3), vin(4)]
    assert store.allocate("once", [request(measure, H1, 3, permit="P-1", vins=once)]).applied
    assert store.allocate("other", [request(measure, H1, 2, permit="P-1", vins=[vin(2)])]).applied
    assert store.give_back("once") != []
    state = ledger(store, ["P-1"], [vin(2), *once])

    assert store.give_back("once") == []
    assert ledger(store, ["P-1"], [vin(2), *once]) == state
    assert store.permit("P-1").used == 2  # type: ignore[union-attr]
    assert store.vin_owner(QUOTA, vin(2)) == "other"
    assert len(events(store, H1_KEY, "returned")) == 1


def test_give_back_of_an_unknown_or_refused_declaration_returns_nothing(
    store: RedisStore, measure: Measure
) -> None:
    """Cancelling a declaration that consumed nothing gives nothing back."""
    prefill(store, measure, H1, GENERAL_PER_HALF)
    assert not store.allocate("refused", [request(measure, H1, 1)]).applied
    before = ledger(store)
    assert store.give_back("refused") == []
    assert store.give_back("never-allocated") == []
    assert ledger(store) == before


def test_units_of_a_period_closed_by_carry_over_are_not_returned_to_it(
    store: RedisStore, measure: Measure
) -> None:
    """Cancelling a declaration whose period was closed by carry-over returns no units
    (they were carried into the next period already) but frees its permit quantity and
    VINs."""
    add_permit(store, "P-1", 5)
    vins = [vin(1), vin(2), vin(3)]
    assert store.allocate("h1", [request(measure, H1, 3, permit="P-1", vins=vins)]).applied
    assert store.allocate("h2", [request(measure, H2, 1)]).applied  # carries 47, closes H1
    periods = store.quota_periods(QUOTA)

    assert store.give_back("h1") == []

    assert store.quota_periods(QUOTA) == periods
    assert events(store, None, "returned", "reopened") == []
    assert store.permit("P-1").used == 0  # type: ignore[union-attr]
    assert all(store.vin_owner(QUOTA, each) is None for each in vins)


def test_quarters_carry_what_the_year_left_unused_even_past_an_untouched_quarter(
    store: RedisStore,
) -> None:
    """With four periods, Q3 opening after Q1 was used and Q2 never touched carries Q1's
    balance and all of Q2, closes Q1, and a late Q2 line finds its period closed; the
    in-memory ledger of `accord simulate` agrees."""
    text = (
        (TEST_PACKS / "test-race.yaml")
        .read_text()
        .replace("periods_per_year: 2", "periods_per_year: 4")
    )
    quarters = parse_pack(text.encode(), "test-race, in quarters").measures[0]
    q1, q2, q3 = date(2026, 2, 2), date(2026, 5, 4), date(2026, 8, 3)  # volume 25 a quarter
    memory = MemoryLedger()
    for ledger in (store, memory):
        assert ledger.allocate("q1", [request(quarters, q1, 20)]).applied
        assert ledger.allocate("q3", [request(quarters, q3, 1)]).applied
        late = ledger.allocate("late-q2", [request(quarters, q2, 1)])
        assert [line.status for line in late.lines] == ["quota_exhausted"]
    periods = store.quota_periods(quarters.id)
    assert periods["2026-01-01"]["status"] == "closed"
    assert "2026-04-01" not in periods
    # 20 of Q1's 25 used: 5 (of which 5 reserved) + all 25 of Q2 (5 reserved) carried into Q3
    assert int(periods["2026-07-01"]["carried"]) == 5 + 25
    assert int(periods["2026-07-01"]["reserved_carried:affordable"]) == 5 + 5
