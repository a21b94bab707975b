"""The quota ledger (SPEC §5) against a real Redis, through `store.ledger`.

Two draw points. CA-CN-EV-TRQ-2026 (the shipped pack) draws at permit issuance: 49,000
vehicles in quota year 1 (two halves of 24,500 from 1 March), 52,185 in year 2 with 10%
reserved for affordable vehicles; a declaration then uses its permit. The test packs
draw at declarations: TEST-JP-EV-TRQ (tests/packs/test-race.yaml) has quota years from
1 January, two halves of 50 units with 10 of each reserved for affordable vehicles,
over-quota entries refused; TEST-KR-EV-TRQ (test-split.yaml) 10 a year with an
over-quota rate; TEST-TW-EV-PRORATA and TEST-TH-EV-ALLOC (test-modes.yaml) the pro-rata
and importer-allocation modes. Variants of test-race.yaml (quota years from 1 March,
drawn at permits, other modes) are built here from its text.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

import pytest
import yaml

from conftest import OTHER_IMPORTER, TEST_PACKS
from helpers import IMPORTER, permit_terms, vin
from helpers import quota_request as request
from rules.catalog import Catalog
from rules.loader import parse_pack
from rules.measure import Measure
from rules.quota import terms_of, terms_on
from schemas.ledger import LedgerYear, PeriodFigures, QuotaEvent
from schemas.permit import Permit, PermitApplication
from schemas.quota import QuotaTerms
from store import RedisStore
from store_calls import vin_owner
from workers import permits as permit_workflow

NOW = "2026-03-01T12:00:00Z"

EV_TRQ = "CA-CN-EV-TRQ-2026"
EV_H1, EV_H2 = "2026-03-01", "2026-09-01"  # the halves of quota year 1, 24,500 each

RACE = "TEST-JP-EV-TRQ"
H1 = date(2026, 3, 2)  # first half of quota year 1: 2026-01-01 .. 2026-06-30
H2 = date(2026, 8, 3)  # second half: 2026-07-01 .. 2026-12-31
NEXT_YEAR = date(2027, 2, 1)  # first half of quota year 2
H1_KEY, H2_KEY = "2026-01-01", "2026-07-01"
GENERAL_PER_HALF = 40  # 50 units, 10 of them reserved for affordable vehicles


# --- measures and reads ------------------------------------------------------------------


def _measure(catalog: Catalog, measure_id: str) -> Measure:
    found = catalog.measure(measure_id)
    assert found is not None and found[1].quota is not None
    return found[1]


@pytest.fixture
def ev(catalog: Catalog) -> Measure:
    return _measure(catalog, EV_TRQ)


@pytest.fixture
def race(catalog: Catalog) -> Measure:
    return _measure(catalog, RACE)


def race_variant(**quota: Any) -> Measure:
    """TEST-JP-EV-TRQ with some of its quota terms changed (mode, drawn_at, year_start,
    periods_per_year), parsed by the strict loader."""
    data = yaml.safe_load((TEST_PACKS / "test-race.yaml").read_text())
    data["measures"][0]["quota"].update(quota)
    return parse_pack(yaml.safe_dump(data).encode(), f"test-race with {quota}").measures[0]


def view(store: RedisStore, terms: QuotaTerms, as_of: date) -> LedgerYear:
    return store.ledger.view(terms, as_of, limit=1000)


def figures(store: RedisStore, terms: QuotaTerms, as_of: date, key: str) -> PeriodFigures:
    return next(p for p in view(store, terms, as_of).periods if p.start.isoformat() == key)


def events(
    store: RedisStore, terms: QuotaTerms, period: str | None = None, *types: str
) -> list[QuotaEvent]:
    every = view(store, terms, date(9999, 12, 31)).events.events
    return [
        event
        for event in every
        if (period is None or event.period == period) and (not types or event.type in types)
    ]


def replayed(store: RedisStore, terms: QuotaTerms) -> dict[str, int]:
    """Each period's balance replayed from its events (opened + carried_over + returned −
    allocated), checking that each event starts where the last one of its period ended."""
    balance: dict[str, int] = {}
    change = {"opened": 1, "carried_over": 1, "returned": 1, "allocated": -1}
    for event in events(store, terms):
        if event.type.startswith("account_"):
            continue
        before = balance.get(event.period, 0)
        assert event.balance_before == before, event
        assert event.balance_after == before + change.get(event.type, 0) * event.quantity, event
        balance[event.period] = event.balance_after
    return balance


def snapshot(store: RedisStore, quota_id: str) -> dict[str, Any]:
    """Every key of a quota's ledger and its value, to compare before and after."""
    client = store.client
    out: dict[str, Any] = {}
    for raw in client.scan_iter(match=f"{store.prefix}:{{{quota_id}}}:*", count=500):
        key = raw.decode()
        kind = client.type(key).decode()
        if kind == "hash":
            out[key] = client.hgetall(key)
        elif kind == "list":
            out[key] = client.lrange(key, 0, -1)
        elif kind == "zset":
            out[key] = client.zrange(key, 0, -1, withscores=True)
        elif kind == "set":
            out[key] = client.smembers(key)
        else:
            out[key] = client.get(key)
    return out


def prefill(
    store: RedisStore, measure: Measure, day: date, units: int, affordable: bool = False
) -> str:
    """Use `units` of the period containing `day`, as earlier declarations would have."""
    label = f"prefill-{day}-{units}-{affordable}"
    assert store.ledger.allocate(
        label, [request(measure, day, units, affordable=affordable)], day, NOW
    ).applied
    return label


def apply(store: RedisStore, catalog: Catalog, quantity: int, today: date, **fields: Any) -> Any:
    """A permit application for the base importer through the permit workflow."""
    application = PermitApplication(
        business_number=IMPORTER, measure=EV_TRQ, quantity=quantity, **fields
    )
    return permit_workflow.apply(store, catalog, application, today).decision


def permit(store: RedisStore, quota_id: str, number: str) -> Permit:
    found = store.ledger.permit(quota_id, number)
    assert found is not None
    return found


# --- drawn at permit issuance: issuing -----------------------------------------------------


def test_issuing_a_permit_draws_its_units_from_the_period_of_issue(
    store: RedisStore, catalog: Catalog, ev: Measure
) -> None:
    """An issued permit draws its quantity at once from the period containing issued_on,
    with an `allocated` event naming it, and leaves the other half untouched."""
    first = apply(store, catalog, 120, date(2026, 5, 15))
    second = apply(store, catalog, 30, date(2026, 10, 2))

    assert (first.outcome, second.outcome) == ("issued", "issued")
    assert first.permit.period == EV_H1 and second.permit.period == EV_H2
    assert (first.permit.status, first.permit.held, first.permit.reserve) == ("issued", 120, 0)
    assert first.permit.expires_on == date(2026, 7, 13)  # 60 days counting the day of issue
    year = terms_of(ev, 1)
    h1 = figures(store, year, date(2026, 5, 15), EV_H1)
    assert (h1.used, h1.remaining, h1.status) == (120, 24_380, "open")
    assert h1.permits is not None and (h1.permits.issued, h1.permits.outstanding) == (120, 120)
    h2 = figures(store, year, date(2026, 10, 2), EV_H2)
    assert (h2.carried_over, h2.used, h2.remaining) == (24_380, 30, 48_850)
    drawn = events(store, year, None, "allocated")
    assert [(e.period, e.quantity, e.permit_number, e.business_number) for e in drawn] == [
        (EV_H1, 120, first.permit.permit_number, IMPORTER),
        (EV_H2, 30, second.permit.permit_number, IMPORTER),
    ]


def test_a_permit_for_the_affordable_sub_quota_draws_on_the_reserve_first(
    store: RedisStore, ev: Measure
) -> None:
    """In quota year 2 (2,609 affordable units reserved in each half) an affordable permit
    takes the reserve first and general units for the rest; a general permit can never
    take reserved units."""
    year = terms_of(ev, 2)
    day, until = date(2027, 3, 5), date(2027, 5, 3)
    affordable = store.ledger.apply_permit(
        year, permit_terms("AFF", 3000, EV_TRQ, day, until, sub_quota="affordable"), NOW
    )
    assert affordable.outcome == "issued" and affordable.permit is not None
    assert (affordable.permit.reserve, affordable.permit.sub_quota) == (2609, "affordable")
    general_left = 26_092 - 2609 - (3000 - 2609)

    too_many = store.ledger.apply_permit(
        year, permit_terms("GEN-1", general_left + 1, EV_TRQ, day, until), NOW
    )
    assert (too_many.outcome, too_many.remaining) == ("refused", general_left)
    assert (
        store.ledger.apply_permit(
            year, permit_terms("GEN-2", general_left, EV_TRQ, day, until), NOW
        ).outcome
        == "issued"
    )

    h1 = figures(store, year, day, "2027-03-01")
    assert h1.remaining == 0 and h1.status == "exhausted"
    assert [(s.name, s.reserved, s.used, s.remaining) for s in h1.sub_quotas] == [
        ("affordable", 2609, 2609, 0)
    ]
    reserve_events = [e for e in events(store, year, None, "allocated") if e.reserved]
    assert [(e.permit_number, e.reserved, e.sub_quota) for e in reserve_events] == [
        ("AFF", 2609, "affordable")
    ]


def test_an_administrator_cannot_issue_more_than_the_quota(
    store: RedisStore, catalog: Catalog, ev: Measure
) -> None:
    """Three permits of 49,000 vehicles are refused (quota year 1 is 49,000, in halves
    of 24,500) with nothing drawn; at most 24,500 are ever issued in each half and
    never more than 49,000 in the year."""
    year = terms_of(ev, 1)
    for _ in range(3):
        refused = apply(store, catalog, 49_000, date(2026, 3, 2))
        assert (refused.outcome, refused.remaining) == ("refused", 24_500)
    assert events(store, year) == []
    assert apply(store, catalog, 24_501, date(2026, 3, 2)).outcome == "refused"  # not H2's units
    assert apply(store, catalog, 24_500, date(2026, 3, 2)).outcome == "issued"
    assert apply(store, catalog, 1, date(2026, 8, 31)).remaining == 0
    assert apply(store, catalog, 24_501, date(2026, 9, 1)).outcome == "refused"
    assert apply(store, catalog, 24_500, date(2026, 9, 1)).outcome == "issued"
    assert apply(store, catalog, 1, date(2027, 2, 28)).outcome == "refused"
    assert apply(store, catalog, 1, date(2026, 3, 2)).outcome == "refused"  # back-dated
    issued = sum(p.used for p in view(store, year, date(2026, 9, 1)).periods)
    assert issued == 49_000
    assert replayed(store, year) == {EV_H1: 0, EV_H2: 0}


def test_a_refusal_at_the_last_units_says_what_remains_and_draws_nothing(
    store: RedisStore, catalog: Catalog, ev: Measure
) -> None:
    """With 10 vehicles left, an application for 11 is refused with remaining 10 and the
    ledger unchanged; one for 10 is then issued and exhausts the period."""
    day = date(2026, 4, 1)
    assert apply(store, catalog, 24_490, day).outcome == "issued"
    before = snapshot(store, EV_TRQ)

    refused = apply(store, catalog, 11, day, permit_number="LAST-11")

    assert (refused.outcome, refused.remaining) == ("refused", 10)
    assert refused.permit is None or refused.permit.status == "refused"
    assert snapshot(store, EV_TRQ) == before
    last = apply(store, catalog, 10, day, permit_number="LAST-10")
    assert last.outcome == "issued"
    h1 = figures(store, terms_of(ev, 1), day, EV_H1)
    assert (h1.remaining, h1.status) == (0, "exhausted")


def test_applying_twice_for_one_permit_draws_once(store: RedisStore, ev: Measure) -> None:
    """The same application again answers `existing` and draws nothing more; another
    application under the same number is a conflict."""
    year = terms_of(ev, 1)
    terms = permit_terms("P-TWICE", 25, EV_TRQ, date(2026, 3, 3), date(2026, 5, 1))
    assert store.ledger.apply_permit(year, terms, NOW).outcome == "issued"
    state = snapshot(store, EV_TRQ)
    again = store.ledger.apply_permit(year, terms, NOW)
    assert again.outcome == "existing" and again.permit is not None
    assert again.permit.held == 25
    other = permit_terms("P-TWICE", 26, EV_TRQ, date(2026, 3, 3), date(2026, 5, 1))
    assert store.ledger.apply_permit(year, other, NOW).outcome == "conflict"
    assert snapshot(store, EV_TRQ) == state


# --- drawn at permit issuance: use at the border -------------------------------------------


def _issued(store: RedisStore, ev: Measure, number: str, quantity: int, day: date) -> Permit:
    decision = store.ledger.apply_permit(
        terms_on(ev, day),
        permit_terms(number, quantity, EV_TRQ, day, day + timedelta(days=59)),
        NOW,
    )
    assert decision.outcome == "issued" and decision.permit is not None
    return decision.permit


def test_a_declaration_uses_its_permit_and_the_rest_returns_at_once(
    store: RedisStore, ev: Measure
) -> None:
    """A declaration of 4 vehicles on a permit of 10 uses the permit (status used, used_by,
    holding 4) and the 6 it does not declare return at once to the period of the
    acceptance date, as a `returned` event naming permit and declaration."""
    issued_on, accepted = date(2026, 4, 1), date(2026, 4, 20)
    _issued(store, ev, "P-10", 10, issued_on)

    result = store.ledger.allocate(
        "d-uses", [request(ev, issued_on, 4, permit="P-10", vins=[vin(i) for i in range(4)])],
        accepted, NOW,
    )  # fmt: skip

    assert result.applied
    assert [(line.status, line.in_quota, line.period) for line in result.lines] == [
        ("allocated", 4, EV_H1)
    ]
    used = permit(store, EV_TRQ, "P-10")
    assert (used.status, used.used_by, used.used, used.held, used.returned) == (
        "used", "d-uses", 4, 4, 6,
    )  # fmt: skip
    year = terms_of(ev, 1)
    h1 = figures(store, year, accepted, EV_H1)
    assert (h1.used, h1.returned, h1.remaining) == (10, 6, 24_496)
    assert h1.permits is not None
    assert (h1.permits.issued, h1.permits.used, h1.permits.returned, h1.permits.outstanding) == (
        10, 4, 6, 0,
    )  # fmt: skip
    back = events(store, year, EV_H1, "returned")
    assert [(e.quantity, e.permit_number, e.declaration_id, e.on) for e in back] == [
        (6, "P-10", "d-uses", accepted)
    ]
    assert vin_owner(store.ledger, EV_TRQ, vin(0)) == "d-uses"


def test_undeclared_units_return_to_the_period_of_the_acceptance_date(
    store: RedisStore, ev: Measure
) -> None:
    """A permit drawn in the first half and used in the second returns what it does not
    declare to the second half."""
    _issued(store, ev, "P-LATE", 10, date(2026, 8, 20))
    accepted = date(2026, 9, 5)
    assert store.ledger.allocate(
        "d-sept", [request(ev, date(2026, 8, 20), 3, permit="P-LATE")], accepted, NOW
    ).applied
    year = view(store, terms_of(ev, 1), accepted)
    h1, h2 = year.periods
    assert (h1.used, h1.returned, h1.carried_forward) == (10, 0, 24_490)
    assert (h2.carried_over, h2.returned, h2.remaining) == (24_490, 7, 24_490 + 24_500 + 7)


@pytest.mark.parametrize(
    ("asked", "number"), [(11, "P-10"), (4, "P-USED"), (1, "P-NONE"), (1, None)]
)
def test_a_declaration_cannot_use_a_permit_that_does_not_cover_it(
    store: RedisStore, ev: Measure, asked: int, number: str | None
) -> None:
    """A permit holding fewer units, a permit another declaration used, a permit never
    issued, or no permit at all: the declaration is refused and the ledger unchanged."""
    day = date(2026, 4, 1)
    _issued(store, ev, "P-10", 10, day)
    _issued(store, ev, "P-USED", 5, day)
    assert store.ledger.allocate("first", [request(ev, day, 5, permit="P-USED")], day, NOW).applied
    before = snapshot(store, EV_TRQ)

    result = store.ledger.allocate("second", [request(ev, day, asked, permit=number)], day, NOW)

    assert not result.applied
    expected = "permit_missing" if number is None else "permit_exhausted"
    assert [(line.status, line.in_quota) for line in result.lines] == [(expected, 0)]
    assert snapshot(store, EV_TRQ) == before
    assert permit(store, EV_TRQ, "P-USED").used_by == "first"


def test_cancelling_an_unused_permit_returns_its_units(
    store: RedisStore, catalog: Catalog, ev: Measure
) -> None:
    """An unused permit cancelled returns all its units to the period of the day of return;
    cancelling it again changes nothing, and no declaration can use it."""
    issued = apply(store, catalog, 40, date(2026, 5, 1)).permit
    day = date(2026, 5, 20)

    ended = permit_workflow.end(store, catalog, issued, day, "cancelled")

    assert ended is not None
    assert (ended.status, ended.returned, ended.remaining) == ("cancelled", 40, 0)
    year = terms_of(ev, 1)
    h1 = figures(store, year, day, EV_H1)
    assert (h1.used, h1.returned, h1.remaining) == (40, 40, 24_500)
    assert h1.permits is not None and h1.permits.outstanding == 0
    state = snapshot(store, EV_TRQ)
    again = permit_workflow.end(store, catalog, issued, date(2026, 5, 21), "cancelled")
    assert again is not None and again.returned == 40
    assert snapshot(store, EV_TRQ) == state
    use = store.ledger.allocate(
        "too-late", [request(ev, date(2026, 5, 1), 1, permit=issued.permit_number)], day, NOW
    )
    assert [line.status for line in use.lines] == ["permit_exhausted"]


def test_expired_permits_return_their_units_after_the_accounting_grace(
    store: RedisStore, catalog: Catalog, ev: Measure
) -> None:
    """The expiry sweep ends unused permits once the pack's grace after their last valid
    day has passed (10 days for the EV quota: a declaration accepted on the last day may
    be accounted for later); their units return the day after the grace, here into the
    second half; a used permit does not expire."""
    expiring = apply(store, catalog, 12, date(2026, 7, 5)).permit  # valid through 2026-09-02
    used = apply(store, catalog, 8, date(2026, 7, 5)).permit
    assert store.ledger.allocate(
        "d-used", [request(ev, date(2026, 7, 5), 8, permit=used.permit_number)],
        date(2026, 7, 6), NOW,
    ).applied  # fmt: skip
    assert expiring.expires_on == date(2026, 9, 2)

    assert permit_workflow.expire_all(store, catalog, date(2026, 9, 4)) == []
    assert permit_workflow.expire_all(store, catalog, date(2026, 9, 12)) == []
    assert permit_workflow.expire_all(store, catalog, date(2026, 9, 13)) == [expiring.permit_number]

    ended = permit(store, EV_TRQ, expiring.permit_number)
    assert (ended.status, ended.returned) == ("expired", 12)
    assert permit(store, EV_TRQ, used.permit_number).status == "used"
    back = events(store, terms_of(ev, 1), None, "returned")
    assert [(e.period, e.quantity, e.on) for e in back] == [(EV_H2, 12, date(2026, 9, 13))]
    assert permit_workflow.expire_all(store, catalog, date(2026, 9, 30)) == []


def test_permit_units_returned_after_their_quota_year_lapse(
    store: RedisStore, catalog: Catalog, ev: Measure
) -> None:
    """A permit of quota year 1 that expires in quota year 2 returns nothing to either
    year: its units lapse."""
    issued = apply(store, catalog, 9, date(2027, 2, 1)).permit  # valid through 2027-04-01
    assert permit_workflow.expire_all(store, catalog, date(2027, 4, 20)) == [issued.permit_number]
    ended = permit(store, EV_TRQ, issued.permit_number)
    assert (ended.status, ended.returned, ended.lapsed) == ("expired", 0, 9)
    assert events(store, terms_of(ev, 1), None, "returned") == []
    assert events(store, terms_of(ev, 2)) == []


def test_a_cancelled_declaration_makes_its_permit_usable_again_for_what_it_declared(
    store: RedisStore, ev: Measure
) -> None:
    """Cancelling the declaration that used a permit frees its VINs and makes the permit
    issued again for the 4 units declared: the 6 returned stay returned, so another
    declaration can use it for 4 and not for 5."""
    day = date(2026, 4, 1)
    _issued(store, ev, "P-10", 10, day)
    vins = [vin(1), vin(2), vin(3), vin(4)]
    assert store.ledger.allocate(
        "d-cancelled", [request(ev, day, 4, permit="P-10", vins=vins)], day, NOW
    ).applied

    assert store.ledger.give_back("d-cancelled", date(2026, 4, 3), NOW) == []

    again = permit(store, EV_TRQ, "P-10")
    assert (again.status, again.held, again.used, again.used_by, again.returned) == (
        "issued", 4, 0, None, 6,
    )  # fmt: skip
    assert vin_owner(store.ledger, EV_TRQ, vins[0]) is None
    # as of the cancellation (3 April): the permit is outstanding again for its 4 units
    h1 = figures(store, terms_of(ev, 1), date(2026, 4, 3), EV_H1)
    assert (h1.used, h1.returned) == (10, 6)
    assert h1.permits is not None and h1.permits.outstanding == 4
    five = store.ledger.allocate("d-five", [request(ev, day, 5, permit="P-10")], day, NOW)
    assert [line.status for line in five.lines] == ["permit_exhausted"]
    four = store.ledger.allocate(
        "d-four", [request(ev, day, 4, permit="P-10", vins=vins)], day, NOW
    )
    assert four.applied
    assert permit(store, EV_TRQ, "P-10").used_by == "d-four"
    assert vin_owner(store.ledger, EV_TRQ, vins[0]) == "d-four"


def test_a_declaration_cancelled_after_its_permit_expired_returns_the_units(
    store: RedisStore, ev: Measure
) -> None:
    """A permit whose declaration is cancelled after the permit's validity ends is not
    usable again: it ends expired and the units it held return."""
    day = date(2026, 4, 1)
    issued = _issued(store, ev, "P-OLD", 10, day)
    assert store.ledger.allocate("d", [request(ev, day, 10, permit="P-OLD")], day, NOW).applied
    after = issued.expires_on + timedelta(days=5)

    returned = store.ledger.give_back("d", after, NOW)

    assert [(r["period"], r["quantity"], r["permit_number"]) for r in returned] == [
        (EV_H1, 10, "P-OLD")
    ]
    ended = permit(store, EV_TRQ, "P-OLD")
    assert (ended.status, ended.returned) == ("expired", 10)
    assert figures(store, terms_of(ev, 1), after, EV_H1).remaining == 24_500


# --- drawn at declarations: all or nothing, VINs, reserve, split ----------------------------


@pytest.mark.parametrize("failure", ["quota_exhausted", "permit_exhausted", "vin_already_used"])
def test_a_second_line_that_does_not_fit_changes_nothing(
    store: RedisStore, race: Measure, failure: str
) -> None:
    """When the second line of a declaration cannot be applied, no line is: balances,
    permits and VINs stay as they were and the result names the failing line."""
    year = terms_on(race, H1)
    prefill(store, race, H1, GENERAL_PER_HALF - 5)  # 5 general units left
    for number, quantity in (
        ("P-FIRST", 10),
        ("P-SECOND", 1 if failure == "permit_exhausted" else 10),
    ):
        assert (
            store.ledger.apply_permit(year, permit_terms(number, quantity, RACE), NOW).outcome
            == "issued"
        )
    taken = vin(900)
    assert store.ledger.allocate("earlier", [request(race, H1, 1, vins=[taken])], H1, NOW).applied
    second_vins = [vin(2), vin(3), taken] if failure == "vin_already_used" else [vin(2), vin(3)]
    second = request(
        race, H1, len(second_vins) if failure != "quota_exhausted" else 5, line=2,
        permit="P-SECOND", vins=second_vins if failure != "quota_exhausted" else (),
    )  # fmt: skip
    first = request(race, H1, 1, line=1, permit="P-FIRST", vins=[vin(1)])
    before = snapshot(store, RACE)

    result = store.ledger.allocate("two-lines", [first, second], H1, NOW)

    assert not result.applied
    assert [(line.line, line.status) for line in result.lines] == [
        (1, "not_applied"),
        (2, failure),
    ]
    assert all(line.in_quota == 0 and line.reserved_used == 0 for line in result.lines)
    assert result.balances == ()
    assert snapshot(store, RACE) == before
    assert permit(store, RACE, "P-FIRST").status == "issued"
    assert vin_owner(store.ledger, RACE, taken) == "earlier"
    assert vin_owner(store.ledger, RACE, vin(1)) is None
    assert store.ledger.give_back("two-lines", H1, NOW) == []


def test_a_vin_repeated_across_lines_of_one_declaration_is_refused(
    store: RedisStore, race: Measure
) -> None:
    """A VIN listed on two lines of one declaration counts once only: the declaration is
    refused whole and the VIN stays free."""
    repeated = vin(7)
    result = store.ledger.allocate(
        "repeated-vin",
        [request(race, H1, 1, line=1, vins=[repeated]), request(race, H1, 1, line=2, vins=[repeated])],
        H1, NOW,
    )  # fmt: skip
    assert not result.applied
    assert [line.status for line in result.lines] == ["not_applied", "vin_already_used"]
    assert vin_owner(store.ledger, RACE, repeated) is None
    assert figures(store, terms_on(race, H1), H1, H1_KEY).remaining == 50


def test_a_vin_counts_once_until_its_declaration_is_cancelled(
    store: RedisStore, race: Measure
) -> None:
    """A VIN counted by one accepted declaration refuses another, until the first is
    cancelled."""
    shared = vin(11)
    assert store.ledger.allocate("owner", [request(race, H1, 1, vins=[shared])], H1, NOW).applied
    refused = store.ledger.allocate("copy", [request(race, H1, 1, vins=[shared])], H1, NOW)
    assert [line.status for line in refused.lines] == ["vin_already_used"]
    store.ledger.give_back("owner", H1, NOW)
    assert store.ledger.allocate("after", [request(race, H1, 1, vins=[shared])], H1, NOW).applied
    assert vin_owner(store.ledger, RACE, shared) == "after"


def test_reserve_units_planned_by_one_line_are_not_counted_again_as_general(
    store: RedisStore, race: Measure
) -> None:
    """Units an affordable line takes from the reserve leave the balance for the next line
    of the same declaration: general units are never overdrawn."""
    year = terms_on(race, H1)
    prefill(store, race, H1, GENERAL_PER_HALF - 3)  # 3 general + 10 reserved left
    too_much = store.ledger.allocate(
        "too-much",
        [request(race, H1, 12, line=1, affordable=True), request(race, H1, 2, line=2)],
        H1, NOW,
    )  # fmt: skip
    assert not too_much.applied
    assert [line.status for line in too_much.lines] == ["not_applied", "quota_exhausted"]
    assert figures(store, year, H1, H1_KEY).remaining == 13

    fits = store.ledger.allocate(
        "fits",
        [request(race, H1, 12, line=1, affordable=True), request(race, H1, 1, line=2)],
        H1, NOW,
    )  # fmt: skip
    assert fits.applied
    assert [(line.in_quota, line.reserved_used) for line in fits.lines] == [(12, 10), (1, 0)]
    h1 = figures(store, year, H1, H1_KEY)
    assert (h1.remaining, h1.status) == (0, "exhausted")
    assert all(event.balance_after >= 0 for event in events(store, year))


def test_allocating_twice_for_one_declaration_consumes_once(
    store: RedisStore, race: Measure
) -> None:
    """A second allocation for the same declaration returns the first result and consumes
    no more quota, permit or VINs, and appends no event, even if asked otherwise."""
    year = terms_on(race, H1)
    assert store.ledger.apply_permit(year, permit_terms("P-1", 10, RACE), NOW).outcome == "issued"
    requests = [
        request(race, H1, 2, line=1, permit="P-1", vins=[vin(1), vin(2)]),
        request(race, H1, 3, line=2, affordable=True, permit="P-1"),
    ]
    first = store.ledger.allocate("twice", requests, H1, NOW)
    state = snapshot(store, RACE)
    second = store.ledger.allocate("twice", requests, H1, NOW)
    third = store.ledger.allocate("twice", [request(race, H1, 9)], H1, NOW)

    assert first.applied
    assert second == first == third
    assert store.ledger.allocation("twice") == first
    assert snapshot(store, RACE) == state
    assert figures(store, year, H1, H1_KEY).remaining == 45
    assert permit(store, RACE, "P-1").used == 5
    assert len(events(store, year, H1_KEY, "allocated")) == 2  # one per line, once


def test_a_refused_allocation_stays_refused_when_repeated(store: RedisStore, race: Measure) -> None:
    """A declaration refused once gets the same refusal again, even after units came
    free: a redelivered task cannot turn a rejection into an acceptance."""
    earlier = prefill(store, race, H1, GENERAL_PER_HALF)
    refused = store.ledger.allocate("refused", [request(race, H1, 1)], H1, NOW)
    store.ledger.give_back(earlier, H1, NOW)
    assert figures(store, terms_on(race, H1), H1, H1_KEY).remaining == 50
    assert store.ledger.allocate("refused", [request(race, H1, 1)], H1, NOW) == refused
    assert not refused.applied
    assert figures(store, terms_on(race, H1), H1, H1_KEY).remaining == 50


def test_affordable_vehicles_draw_on_the_reserve_first_then_on_general_units(
    store: RedisStore, race: Measure
) -> None:
    """An affordable line takes reserved units first and general units for the rest; a
    general line takes no reserved unit."""
    first = store.ledger.allocate("aff-1", [request(race, H1, 4, affordable=True)], H1, NOW)
    assert (first.lines[0].in_quota, first.lines[0].reserved_used) == (4, 4)
    assert first.lines[0].sub_quota == "affordable"
    second = store.ledger.allocate("aff-2", [request(race, H1, 8, affordable=True)], H1, NOW)
    assert (second.lines[0].in_quota, second.lines[0].reserved_used) == (8, 6)
    h1 = figures(store, terms_on(race, H1), H1, H1_KEY)
    assert (h1.used, h1.sub_quotas[0].used, h1.sub_quotas[0].remaining) == (12, 10, 0)
    general = store.ledger.allocate("general", [request(race, H1, 1)], H1, NOW)
    assert general.lines[0].sub_quota is None and general.lines[0].reserved_used == 0


def test_reserved_units_serve_only_affordable_vehicles(store: RedisStore, race: Measure) -> None:
    """With the general units used up and reserved units left, a non-affordable line is
    refused and an affordable one accepted."""
    prefill(store, race, H1, GENERAL_PER_HALF)
    refused = store.ledger.allocate("not-affordable", [request(race, H1, 1)], H1, NOW)
    assert [line.status for line in refused.lines] == ["quota_exhausted"]
    accepted = store.ledger.allocate(
        "affordable", [request(race, H1, 10, affordable=True)], H1, NOW
    )
    assert (accepted.lines[0].in_quota, accepted.lines[0].reserved_used) == (10, 10)
    assert figures(store, terms_on(race, H1), H1, H1_KEY).remaining == 0


def test_an_over_quota_rate_splits_a_line_instead_of_refusing_it(
    store: RedisStore, catalog: Catalog
) -> None:
    """On a quota with an over-quota rate, a line that does not fit is split, and one that
    finds nothing left is over quota; both are applied."""
    split = _measure(catalog, "TEST-KR-EV-TRQ")  # 10 a year
    day = date(2026, 5, 4)
    ledger = store.ledger
    assert ledger.allocate("eight", [request(split, day, 8, over_quota="rate")], day, NOW).applied
    partly = ledger.allocate("five", [request(split, day, 5, over_quota="rate")], day, NOW)
    none = ledger.allocate("four", [request(split, day, 4, over_quota="rate")], day, NOW)
    assert partly.applied and none.applied
    assert [(line.status, line.in_quota, line.over_quota) for line in partly.lines] == [
        ("split", 2, 3)
    ]
    assert [(line.status, line.in_quota, line.over_quota) for line in none.lines] == [
        ("over_quota", 0, 4)
    ]
    year = terms_on(split, day)
    assert figures(store, year, day, "2026-01-01").remaining == 0
    assert [e.quantity for e in events(store, year, None, "allocated")] == [8, 2]


# --- drawn at declarations: periods, carry-over and the late declaration --------------------


def test_a_late_declaration_still_draws_on_its_own_period(store: RedisStore) -> None:
    """With halves from 1 March, a declaration accepted on 2026-08-31 and processed after
    one accepted on 2026-09-01 draws on the first half's units (carried into the second),
    as long as the second half has not used them."""
    halves = race_variant(year_start="03-01")
    august, september = date(2026, 8, 31), date(2026, 9, 1)
    year = terms_on(halves, august)
    assert [(p.key, p.end, p.volume) for p in year.periods] == [
        ("2026-03-01", "2026-08-31", 50), ("2026-09-01", "2027-02-28", 50),
    ]  # fmt: skip
    prefill(store, halves, date(2026, 5, 4), 30)  # 20 left in the first half (10 reserved)
    assert store.ledger.allocate("sept", [request(halves, september, 5)], september, NOW).applied

    late = store.ledger.allocate("aug", [request(halves, august, 7)], august, NOW)

    assert late.applied
    assert [(line.period, line.in_quota) for line in late.lines] == [("2026-03-01", 7)]
    h1, h2 = view(store, year, september).periods
    assert (h1.used, h1.status, h1.carried_forward) == (37, "closed", 13)
    assert (h2.carried_over, h2.used, h2.remaining) == (13, 5, 58)
    assert [(e.type, e.quantity, e.declaration_id) for e in events(store, year, "2026-09-01")] == [
        ("opened", 50, None), ("carried_over", 20, None), ("allocated", 5, "sept"),
        ("carried_over", -7, None),
    ]  # fmt: skip
    assert replayed(store, year) == {"2026-03-01": 13, "2026-09-01": 58}


def test_a_late_declaration_cannot_draw_units_a_later_period_used(store: RedisStore) -> None:
    """Once the second half has used the general units the first half carried, a late
    first-half declaration finds none, though the first half's own figures show them;
    its reserved units, still unused later, remain drawable."""
    halves = race_variant(year_start="03-01")
    august, october = date(2026, 8, 31), date(2026, 10, 5)
    year = terms_on(halves, august)
    prefill(store, halves, date(2026, 5, 4), 30)  # carries 20: 10 general, 10 reserved
    prefill(store, halves, october, 50)  # the second half's 40 general + the 10 carried
    before = snapshot(store, halves.id)

    general = store.ledger.allocate("late-general", [request(halves, august, 1)], august, NOW)
    assert [line.status for line in general.lines] == ["quota_exhausted"]
    assert snapshot(store, halves.id) == before
    affordable = store.ledger.allocate(
        "late-affordable", [request(halves, august, 10, affordable=True)], august, NOW
    )
    assert [(line.in_quota, line.reserved_used) for line in affordable.lines] == [(10, 10)]
    h2 = figures(store, year, october, "2026-09-01")
    assert (h2.carried_over, h2.remaining) == (10, 10)
    assert all(e.balance_after >= 0 for e in events(store, year))


def test_an_untouched_first_half_carries_over_whole(store: RedisStore, race: Measure) -> None:
    """When nobody used the first half, all of it, reserve included, carries over."""
    assert store.ledger.allocate("h2-only", [request(race, H2, 1)], H2, NOW).applied
    h2 = figures(store, terms_on(race, H2), H2, H2_KEY)
    assert (h2.carried_over, h2.remaining, h2.sub_quotas[0].reserved) == (50, 99, 20)
    assert [(e.type, e.quantity) for e in events(store, terms_on(race, H2), H2_KEY)] == [
        ("opened", 50), ("carried_over", 50), ("allocated", 1),
    ]  # fmt: skip


def test_nothing_carries_across_quota_years(store: RedisStore, race: Measure) -> None:
    """The first period of a new quota year opens with its own volume only, and the last
    period of the year before shows its unused units lapsed."""
    prefill(store, race, H2, 10)
    assert store.ledger.allocate("next-year", [request(race, NEXT_YEAR, 1)], NEXT_YEAR, NOW).applied
    next_year = figures(store, terms_on(race, NEXT_YEAR), NEXT_YEAR, "2027-01-01")
    assert (next_year.carried_over, next_year.remaining) == (0, 49)
    closed = view(store, terms_on(race, H2), NEXT_YEAR).periods[-1]
    assert (closed.status, closed.remaining, closed.lapsed, closed.carried_forward) == (
        "closed", 0, 90, 0,
    )  # fmt: skip


def test_quarters_carry_what_the_year_left_even_past_an_untouched_quarter(
    store: RedisStore,
) -> None:
    """With four periods, Q3 carries Q1's balance and all of an untouched Q2; a late Q2
    line still draws on Q2's units, which leave Q3 as a negative carry-over."""
    quarters = race_variant(periods_per_year=4)
    q1, q2, q3 = date(2026, 2, 2), date(2026, 5, 4), date(2026, 8, 3)  # volume 25 a quarter
    ledger = store.ledger
    assert ledger.allocate("q1", [request(quarters, q1, 20)], q1, NOW).applied
    assert ledger.allocate("q3", [request(quarters, q3, 1)], q3, NOW).applied
    year = terms_on(quarters, q3)
    assert figures(store, year, q3, "2026-07-01").carried_over == 5 + 25
    late = ledger.allocate("late-q2", [request(quarters, q2, 1)], q2, NOW)
    assert [(line.status, line.period) for line in late.lines] == [("allocated", "2026-04-01")]
    q1_view, q2_view, q3_view, q4_view = view(store, year, q3).periods
    assert (q1_view.status, q1_view.carried_forward) == ("closed", 5)
    assert (q2_view.status, q2_view.carried_forward) == ("closed", 29)
    assert (q3_view.carried_over, q3_view.remaining) == (29, 53)
    assert q4_view.status == "scheduled"
    assert replayed(store, year) == {"2026-01-01": 5, "2026-04-01": 29, "2026-07-01": 53}


# --- the ledger as of a date ---------------------------------------------------------------


def test_the_view_as_of_a_date_shows_carry_over_before_any_write(store: RedisStore) -> None:
    """With 30 units used in the first half and nothing written in the second, the view as
    of a day of the second half shows the first half closed (remaining 0, 20 carried
    forward) and the second half open with those 20 carried over; the view writes
    nothing, and the year's end shows them lapsed."""
    halves = race_variant(year_start="03-01")
    year = terms_on(halves, date(2026, 5, 4))
    prefill(store, halves, date(2026, 5, 4), 26)
    prefill(store, halves, date(2026, 5, 4), 4, affordable=True)
    before = snapshot(store, halves.id)

    first, second = view(store, year, date(2026, 10, 15)).periods

    assert (first.status, first.remaining, first.carried_forward, first.lapsed) == (
        "closed", 0, 20, 0,
    )  # fmt: skip
    assert (first.used, first.sub_quotas[0].remaining) == (30, 0)
    assert (second.status, second.carried_over, second.used, second.remaining) == (
        "open", 20, 0, 70,
    )  # fmt: skip
    assert (second.sub_quotas[0].reserved, second.sub_quotas[0].remaining) == (16, 16)
    current = view(store, year, date(2026, 10, 15)).current
    assert current is not None and current.start == date(2026, 9, 1)
    assert snapshot(store, halves.id) == before  # read only: no event, no period opened

    during, scheduled = view(store, year, date(2026, 6, 1)).periods
    assert (during.status, during.remaining, during.carried_forward) == ("open", 20, 0)
    assert (scheduled.status, scheduled.carried_over, scheduled.remaining) == (
        "scheduled", 0, 50,
    )  # fmt: skip
    after_year = view(store, year, date(2027, 3, 10))
    assert [p.status for p in after_year.periods] == ["closed", "closed"]
    assert (after_year.periods[1].lapsed, after_year.periods[1].carried_forward) == (70, 0)
    assert after_year.current is None


def test_every_current_period_adds_up(store: RedisStore, race: Measure) -> None:
    """volume + carried_over + returned − used − granted = remaining for the period that
    is current, after draws, returns and a late draw."""
    prefill(store, race, H1, 12)
    returning = prefill(store, race, H1, 3, affordable=True)
    assert store.ledger.allocate("h2", [request(race, H2, 6)], H2, NOW).applied
    store.ledger.give_back(returning, H2, NOW)
    year = terms_on(race, H1)
    for as_of in (H1, H2):
        current = view(store, year, as_of).current
        assert current is not None
        assert (
            current.volume + current.carried_over + current.returned - current.used
            - current.granted
        ) == current.remaining  # fmt: skip
    h2 = figures(store, year, H2, H2_KEY)
    assert (h2.carried_over, h2.returned, h2.used, h2.remaining) == (35, 3, 6, 82)


def test_events_are_paged_with_a_cursor(store: RedisStore, race: Measure) -> None:
    """A quota year's events come in pages of `limit`, each naming the cursor of the next,
    the last none; together they are the whole history, in order."""
    for index in range(6):
        prefill(store, race, H1, index + 1)
    year = terms_on(race, H1)
    whole = store.ledger.view(year, H1, limit=1000).events
    assert whole.total == 7 and whole.next_cursor is None  # opened + 6 allocated
    pages, cursor = [], 0
    while True:
        page = store.ledger.view(year, H1, cursor=cursor, limit=3).events
        assert page.total == 7
        pages.append(page.events)
        if page.next_cursor is None:
            break
        cursor = int(page.next_cursor)
    assert [len(page) for page in pages] == [3, 3, 1]
    assert tuple(event for page in pages for event in page) == whole.events
    assert [e.type for e in whole.events] == ["opened"] + ["allocated"] * 6


# --- critical, exhausted, cancellation ------------------------------------------------------


def test_critical_and_exhausted_are_announced_once_when_crossed(
    store: RedisStore, race: Measure
) -> None:
    """`critical` is emitted when 90% is first used and `exhausted` when nothing is left,
    each once, with the balance unchanged across the event."""
    prefill(store, race, H1, GENERAL_PER_HALF)
    prefill(store, race, H1, 4, affordable=True)  # 88% used
    year = terms_on(race, H1)
    assert events(store, year, H1_KEY, "critical", "exhausted") == []
    for label, units in (("to-90", 1), ("to-92", 1), ("to-98", 3)):
        assert store.ledger.allocate(
            label, [request(race, H1, units, affordable=True)], H1, NOW
        ).applied
    assert figures(store, year, H1, H1_KEY).status == "critical"
    assert store.ledger.allocate("to-100", [request(race, H1, 1, affordable=True)], H1, NOW).applied
    assert not store.ledger.allocate(
        "beyond", [request(race, H1, 1, affordable=True)], H1, NOW
    ).applied

    marks = events(store, year, H1_KEY, "critical", "exhausted")
    assert [(e.type, e.balance_before, e.balance_after) for e in marks] == [
        ("critical", 5, 5), ("exhausted", 0, 0),
    ]  # fmt: skip
    assert figures(store, year, H1, H1_KEY).status == "exhausted"


def test_one_allocation_crossing_both_thresholds_announces_both(
    store: RedisStore, race: Measure
) -> None:
    """An allocation that goes from under 90% to nothing left emits `critical` and then
    `exhausted`."""
    prefill(store, race, H1, 10)
    assert store.ledger.allocate("all", [request(race, H1, 40, affordable=True)], H1, NOW).applied
    assert [e.type for e in events(store, terms_on(race, H1), H1_KEY)] == [
        "opened", "allocated", "allocated", "critical", "exhausted",
    ]  # fmt: skip


def test_give_back_returns_units_to_the_period_of_the_day_and_reopens_it(
    store: RedisStore, race: Measure
) -> None:
    """Cancelling an accepted declaration returns its units, reserve included, to the
    period of the day of return, reopening an exhausted period for declarations accepted
    from that day, and frees its VINs."""
    year = terms_on(race, H1)
    prefill(store, race, H1, GENERAL_PER_HALF)
    vins = [vin(1), vin(2)]
    assert store.ledger.allocate(
        "last", [request(race, H1, 10, affordable=True, vins=vins)], H1, NOW
    ).applied
    assert figures(store, year, H1, H1_KEY).status == "exhausted"

    returned = store.ledger.give_back("last", H1 + timedelta(days=3), NOW)

    assert [(r["period"], r["quantity"]) for r in returned] == [(H1_KEY, 10)]
    assert [(e.type, e.balance_before, e.balance_after) for e in events(store, year)][-2:] == [
        ("returned", 0, 10), ("reopened", 10, 10),
    ]  # fmt: skip
    h1 = figures(store, year, H1 + timedelta(days=3), H1_KEY)
    assert (h1.status, h1.returned, h1.sub_quotas[0].remaining) == ("open", 10, 10)
    assert vin_owner(store.ledger, RACE, vins[0]) is None
    back = H1 + timedelta(days=3)
    again = store.ledger.allocate("after", [request(race, back, 10, affordable=True)], back, NOW)
    assert [(line.in_quota, line.reserved_used) for line in again.lines] == [(10, 10)]


def test_units_given_back_in_a_later_period_return_to_it(store: RedisStore, race: Measure) -> None:
    """A first-half declaration cancelled in the second half returns its units to the
    second half, where they are drawable at once."""
    drawn = prefill(store, race, H1, 8)
    assert store.ledger.give_back(drawn, H2, NOW) == [
        {"quota_id": RACE, "period": H2_KEY, "quantity": 8}
    ]
    h1, h2 = view(store, terms_on(race, H1), H2).periods
    assert (h1.used, h1.returned, h1.carried_forward) == (8, 0, 42)
    assert (h2.returned, h2.remaining) == (8, 100)


def test_give_back_is_idempotent_and_gives_nothing_for_nothing(
    store: RedisStore, race: Measure
) -> None:
    """A second cancellation returns nothing and changes nothing; a refused or unknown
    declaration gives nothing back."""
    once = prefill(store, race, H1, 3)
    assert store.ledger.give_back(once, H1, NOW) != []
    prefill(store, race, H1, GENERAL_PER_HALF)
    assert not store.ledger.allocate("refused", [request(race, H1, 1)], H1, NOW).applied
    state = snapshot(store, RACE)

    assert store.ledger.give_back(once, H1, NOW) == []
    assert store.ledger.give_back("refused", H1, NOW) == []
    assert store.ledger.give_back("never-allocated", H1, NOW) == []
    assert snapshot(store, RACE) == state
    assert len(events(store, terms_on(race, H1), H1_KEY, "returned")) == 1


# --- allocation modes ----------------------------------------------------------------------


def test_pro_rata_declarations_wait_for_the_run_and_share_by_largest_remainder(
    store: RedisStore, catalog: Catalog
) -> None:
    """Declarations of one day wait pending; the day's run shares the 500 units among
    requests for 300, 200 and 100 as 250, 167 and 83; each then takes its grant."""
    prorata = _measure(catalog, "TEST-TW-EV-PRORATA")
    day = date(2026, 3, 2)
    year = terms_on(prorata, day)
    asks = {"a": 300, "b": 200, "c": 100}
    for declaration_id, units in asks.items():
        waiting = store.ledger.allocate(
            declaration_id, [request(prorata, day, units, over_quota="rate")], day, NOW
        )
        assert waiting.pending and not waiting.applied
        assert [line.status for line in waiting.lines] == ["pending"]
    assert store.ledger.pro_rata_days(prorata.id) == [day]

    run = store.ledger.run(year, day, NOW)

    assert (run.declarations, run.requested) == (["a", "b", "c"], 600)
    assert store.ledger.pro_rata_days(prorata.id) == []
    taken = {}
    for declaration_id, units in asks.items():
        result = store.ledger.allocate(
            declaration_id, [request(prorata, day, units, over_quota="rate")], day, NOW
        )
        assert result.applied
        taken[declaration_id] = (result.lines[0].in_quota, result.lines[0].over_quota)
    assert taken == {"a": (250, 50), "b": (167, 33), "c": (83, 17)}
    whole = figures(store, year, day, "2026-01-01")
    assert (whole.used, whole.granted, whole.remaining) == (500, 0, 0)


def test_pro_rata_permits_are_issued_for_their_share_at_the_run(store: RedisStore) -> None:
    """Permit applications of one day wait pending; a cancelled one leaves the run; the run
    issues the others for their shares of the 40 general units (12, 8 and 20 of 30, 20
    and 50) and refuses one whose share is nothing."""
    prorata = race_variant(mode="daily_pro_rata", drawn_at="permit")
    day = date(2026, 3, 2)
    year = terms_on(prorata, day)
    for number, units in (("A", 30), ("B", 20), ("C", 25), ("D", 50)):
        decision = store.ledger.apply_permit(
            year, permit_terms(number, units, prorata.id, issued_on=day), NOW
        )
        assert decision.outcome == "pending_allocation"
    store.ledger.end_permit(
        functools.partial(terms_of, prorata), prorata.id, "C", day, "cancelled", NOW
    )

    run = store.ledger.run(year, day, NOW)

    assert {p["permit_number"]: (p["status"], p["quantity"]) for p in run.permits} == {
        "A": ("issued", 12), "B": ("issued", 8), "D": ("issued", 20),
    }  # fmt: skip
    assert [(p.status, p.held) for p in (permit(store, prorata.id, n) for n in "ABCD")] == [
        ("issued", 12), ("issued", 8), ("cancelled", 0), ("issued", 20),
    ]  # fmt: skip
    assert figures(store, year, day, H1_KEY).used == 40
    assert (
        store.ledger.apply_permit(
            year, permit_terms("E", 1, prorata.id, issued_on=day), NOW
        ).outcome
        == "pending_allocation"
    )
    assert store.ledger.run(year, day, NOW).permits == [
        {"permit_number": "E", "status": "refused", "quantity": 0}
    ]
    assert permit(store, prorata.id, "E").status == "refused"


def test_pro_rata_grants_keep_the_event_history_replaying_to_the_balance(
    store: RedisStore,
) -> None:
    """While grants of a run wait to be taken, every event still starts from the balance
    the previous event of its period left (SPEC §5: opened + carried + returned −
    allocated = balance at every event)."""
    prorata = race_variant(mode="daily_pro_rata")
    day = date(2026, 3, 2)
    year = terms_on(prorata, day)
    for declaration_id in ("a", "b", "c"):
        store.ledger.allocate(
            declaration_id, [request(prorata, day, 30, over_quota="rate")], day, NOW
        )
    store.ledger.run(year, day, NOW)  # 40 general units: grants of 14, 13 and 13
    assert store.ledger.allocate(
        "a", [request(prorata, day, 30, over_quota="rate")], day, NOW
    ).applied

    h1 = figures(store, year, day, H1_KEY)
    assert (h1.used, h1.granted, h1.remaining) == (14, 26, 10)
    balance = replayed(store, year)  # fails on an event that does not start where the last ended
    assert balance[H1_KEY] in (h1.remaining, h1.remaining + h1.granted)


def test_importer_allocations_bound_what_each_importer_draws(
    store: RedisStore, catalog: Catalog
) -> None:
    """Initial allocations never add up to more than the year's volume; an importer draws
    on its own allocation (with transfers), is refused beyond it, and gets its units back
    when a declaration is cancelled."""
    allocation = _measure(catalog, "TEST-TH-EV-ALLOC")  # 100 a year
    day = date(2026, 3, 2)
    year = terms_on(allocation, day)
    ledger = store.ledger
    assert ledger.account(year, "initial", IMPORTER, 30, year_volume=100, now=NOW) is None
    assert ledger.account(year, "initial", OTHER_IMPORTER, 71, year_volume=100, now=NOW)
    assert ledger.account(year, "initial", OTHER_IMPORTER, 70, year_volume=100, now=NOW) is None
    assert ledger.account(year, "transfer", OTHER_IMPORTER, 5, IMPORTER, now=NOW) is None
    assert ledger.account(year, "transfer", IMPORTER, 36, OTHER_IMPORTER, now=NOW)

    refused = ledger.allocate("too-many", [request(allocation, day, 36)], day, NOW)
    assert [line.status for line in refused.lines] == ["quota_exhausted"]
    assert ledger.allocate("mine", [request(allocation, day, 35)], day, NOW).applied
    accounts = {
        a.business_number: a
        for a in ledger.view(year, day, accounts=[IMPORTER, OTHER_IMPORTER]).accounts
    }
    assert (accounts[IMPORTER].used, accounts[IMPORTER].remaining) == (35, 0)
    assert accounts[OTHER_IMPORTER].remaining == 65
    ledger.give_back("mine", day, NOW)
    again = ledger.view(year, day, accounts=[IMPORTER]).accounts[0]
    assert (again.returned, again.remaining) == (35, 35)
    assert ledger.account_holders(allocation.id, year.year) == sorted([IMPORTER, OTHER_IMPORTER])


def test_importer_allocations_bound_the_permits_issued(store: RedisStore) -> None:
    """Drawn at permits, an importer's permit is refused beyond its allocation and the
    units its declaration does not use come back to its allocation."""
    allocation = race_variant(mode="importer_allocation", drawn_at="permit")
    day = date(2026, 3, 2)
    year = terms_on(allocation, day)
    assert store.ledger.account(year, "initial", IMPORTER, 30, year_volume=100, now=NOW) is None
    refused = store.ledger.apply_permit(
        year, permit_terms("P-31", 31, allocation.id, issued_on=day), NOW
    )
    assert (refused.outcome, refused.remaining) == ("refused", 30)
    assert (
        store.ledger.apply_permit(
            year, permit_terms("P-30", 30, allocation.id, issued_on=day), NOW
        ).outcome
        == "issued"
    )
    assert store.ledger.allocate(
        "d", [request(allocation, day, 12, permit="P-30")], day, NOW
    ).applied
    account = store.ledger.view(year, day, accounts=[IMPORTER]).accounts[0]
    assert (account.used, account.returned, account.remaining) == (30, 18, 18)


# --- keys ----------------------------------------------------------------------------------


def test_every_ledger_key_carries_its_quota_hash_tag(store: RedisStore, ev: Measure) -> None:
    """Permits, periods, events, VINs and the expiry index of a quota live under
    prefix:{QUOTA}:, so each quota's keys hash to one slot."""
    day = date(2026, 4, 1)
    _issued(store, ev, "P-TAG", 3, day)
    assert store.ledger.allocate(
        "tagged", [request(ev, day, 2, permit="P-TAG", vins=[vin(5)])], day, NOW
    ).applied
    keys = sorted(k.decode() for k in store.client.scan_iter(match=f"{store.prefix}:*"))
    ledger_keys = [k for k in keys if k.split(":")[1] not in ("alloc", "allocreq", "decl")]
    assert ledger_keys and all(k.startswith(f"{store.prefix}:{{{EV_TRQ}}}:") for k in ledger_keys)
    roles = defaultdict(int)
    for key in ledger_keys:
        roles[key.split(":")[2]] += 1
    assert set(roles) >= {"period", "events", "permit", "vins"}


def test_a_permit_that_expires_after_its_declaration_is_cancelled_credits_the_importer(
    store: RedisStore,
) -> None:
    """Importer allocations drawn at permits: the units of a permit that ends expired when
    its declaration is cancelled after its validity return to the importer's allocation,
    as they do when the expiry sweep ends an unused permit."""
    allocation = race_variant(mode="importer_allocation", drawn_at="permit")
    day, until, later = date(2026, 3, 2), date(2026, 4, 30), date(2026, 5, 10)
    year = terms_on(allocation, day)
    assert store.ledger.account(year, "initial", IMPORTER, 30, year_volume=100, now=NOW) is None
    assert (
        store.ledger.apply_permit(
            year, permit_terms("P-30", 30, allocation.id, day, until), NOW
        ).outcome
        == "issued"
    )
    assert store.ledger.allocate(
        "d", [request(allocation, day, 30, permit="P-30")], day, NOW
    ).applied

    store.ledger.give_back("d", later, NOW)

    ended = permit(store, allocation.id, "P-30")
    assert (ended.status, ended.returned) == ("expired", 30)
    assert figures(store, year, later, H1_KEY).remaining == 50  # back in the quota
    account = store.ledger.view(year, later, accounts=[IMPORTER]).accounts[0]
    assert (account.returned, account.remaining) == (30, 30)  # and in the importer's allocation
