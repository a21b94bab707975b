"""Ledger invariants (SPEC §5) under random sequences of allocations, repeated
allocations, cancellations and the opening of later periods, on a real Redis.

After every step, from what the store holds: each period's balance is volume + carried
+ returned − allocated and never negative, its reserve likewise; the event history
replays to that balance; no VIN counts for two live declarations; the period totals,
the permits' use and the `allocated` events match the stored allocation results.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date
from typing import Any, ClassVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from helpers import long_permit, vin
from rules.catalog import Catalog
from rules.pack import Measure
from rules.quota import period_of
from schemas.quota import Allocation, QuotaRequest
from store.redis_store import RedisStore

QUOTA = "TEST-JP-EV-TRQ"
# one day in each of four consecutive periods: two half-years of quota year 1, then year 2
DAYS = (date(2026, 3, 2), date(2026, 8, 3), date(2027, 2, 1), date(2027, 8, 2))
PERMITS = {"P-0": 6, "P-1": 12, "P-2": 30}
VIN_POOL = tuple(vin(serial) for serial in range(8))

line_strategy = st.fixed_dictionaries(
    {
        "quantity": st.integers(1, 12),
        "affordable": st.booleans(),
        "permit": st.sampled_from([None, *PERMITS]),
        "vins": st.lists(st.sampled_from(VIN_POOL), max_size=2, unique=True),
    }
)


class LedgerMachine(RuleBasedStateMachine):
    """Drives one store (a fresh key prefix per example) and keeps a small model of what
    each declaration asked and whether it was given back."""

    url: ClassVar[str]
    measure: ClassVar[Measure]

    declarations = Bundle("declarations")

    def __init__(self) -> None:
        super().__init__()
        self.store = RedisStore.from_url(self.url, prefix=f"h-{uuid.uuid4().hex}")
        self.now = 0  # index into DAYS of the latest period declarations arrive in
        self.counter = 0
        self.requests: dict[str, list[QuotaRequest]] = {}
        self.results: dict[str, Allocation] = {}
        self.given_back: set[str] = set()
        self.returned: dict[str, int] = defaultdict(int)  # period -> units given back to it
        for number, quantity in PERMITS.items():
            assert self.store.add_permit(long_permit(number, quantity, QUOTA))

    def teardown(self) -> None:
        keys = list(self.store.client.scan_iter(match=f"{self.store.prefix}:*", count=500))
        if keys:
            self.store.client.delete(*keys)
        self.store.close()

    # --- steps -------------------------------------------------------------------------

    def _request(self, day: date, line: int, spec: dict[str, Any]) -> QuotaRequest:
        assert self.measure.quota is not None
        period, previous = period_of(self.measure, day)
        vins = tuple(spec["vins"])
        return QuotaRequest(
            quota_id=QUOTA,
            line=line,
            quantity=len(vins) or spec["quantity"],
            sub_quota="affordable" if spec["affordable"] else None,
            over_quota="reject",
            mode=self.measure.quota.mode,
            critical_threshold=str(self.measure.quota.critical_threshold),
            period=period,
            previous_period=previous,
            permit_number=spec["permit"],
            vins=vins,
        )

    def _allocate(self, requests: list[QuotaRequest]) -> str:
        self.counter += 1
        declaration_id = f"d-{self.counter}"
        result = self.store.allocate(declaration_id, requests)
        self.requests[declaration_id] = requests
        self.results[declaration_id] = result
        assert len(result.lines) == len(requests)
        if result.applied:
            assert all(line.status == "allocated" for line in result.lines)
            assert [line.in_quota for line in result.lines] == [r.quantity for r in requests]
        else:
            assert all(line.in_quota == 0 for line in result.lines)
            assert any(line.status != "not_applied" for line in result.lines)
        return declaration_id

    @rule(
        target=declarations,
        lines=st.lists(line_strategy, min_size=1, max_size=2),
        late=st.booleans(),
    )
    def allocate(self, lines: list[dict[str, Any]], late: bool) -> str:
        """A declaration accepted now, or (late) in the period before now."""
        day = DAYS[self.now - 1] if late and self.now else DAYS[self.now]
        return self._allocate(
            [self._request(day, index, spec) for index, spec in enumerate(lines, start=1)]
        )

    @precondition(lambda self: self.now + 1 < len(DAYS))
    @rule(target=declarations, spec=line_strategy)
    def open_next_period(self, spec: dict[str, Any]) -> str:
        """Time moves on: the first declaration of the next period opens it."""
        self.now += 1
        return self._allocate([self._request(DAYS[self.now], 1, spec)])

    @rule(declaration_id=declarations)
    def allocate_again(self, declaration_id: str) -> None:
        """A redelivery: the same declaration again changes nothing."""
        before = self._everything()
        again = self.store.allocate(declaration_id, self.requests[declaration_id])
        assert again == self.results[declaration_id]
        assert self._everything() == before

    @rule(declaration_id=declarations)
    def give_back(self, declaration_id: str) -> None:
        """A cancellation, possibly of one already cancelled or never applied."""
        result = self.results[declaration_id]
        periods = self.store.quota_periods(QUOTA)
        expected: dict[str, int] = defaultdict(int)
        if result.applied and declaration_id not in self.given_back:
            for line in result.lines:
                if periods[line.period]["status"] != "closed":
                    expected[line.period] += line.in_quota
        returned = self.store.give_back(declaration_id)
        got: dict[str, int] = defaultdict(int)
        for item in returned:
            got[item["period"]] += item["quantity"]
        assert got == expected
        for key, units in got.items():
            self.returned[key] += units
        if result.applied:
            self.given_back.add(declaration_id)

    # --- invariants --------------------------------------------------------------------

    def _everything(self) -> Any:
        client, prefix = self.store.client, self.store.prefix
        return (
            self.store.quota_periods(QUOTA),
            self.store.quota_events(QUOTA),
            client.hgetall(f"{prefix}:vins:{QUOTA}"),
            {number: self.store.permit(number) for number in PERMITS},
        )

    def _live(self) -> list[str]:
        """Declarations whose allocation stands: applied and not given back."""
        return [
            declaration_id
            for declaration_id, result in self.results.items()
            if result.applied and declaration_id not in self.given_back
        ]

    @invariant()
    def balances_add_up_and_never_go_negative(self) -> None:
        for key, fields in self.store.quota_periods(QUOTA).items():
            number = {name: int(value) for name, value in fields.items() if value.isdigit()}
            balance = (
                number["volume"] + number["carried"] + number["returned"] - number["allocated"]
            )
            assert balance >= 0, (key, fields)
            reserve = (
                number["reserved:affordable"]
                + number["reserved_carried:affordable"]
                + number["reserved_returned:affordable"]
                - number["reserved_used:affordable"]
            )
            assert 0 <= reserve <= balance, (key, fields)
            assert number["returned"] == self.returned[key]
            allocated = sum(
                line.in_quota
                for result in self.results.values()
                if result.applied
                for line in result.lines
                if line.period == key
            )
            assert number["allocated"] == allocated, key

    @invariant()
    def the_event_history_replays_to_the_balance(self) -> None:
        periods = self.store.quota_periods(QUOTA)
        replayed: dict[str, int] = {}
        for event in self.store.quota_events(QUOTA):
            key, kind, quantity = event["period"], event["type"], event["quantity"]
            before = replayed.get(key)
            if kind == "opened":
                assert before is None, event
                assert event["balance_before"] == 0 and event["balance_after"] == quantity
            else:
                assert before is not None and event["balance_before"] == before, event
                change = {"allocated": -quantity, "returned": quantity, "carried_over": quantity}
                assert event["balance_after"] == before + change.get(kind, 0), event
            assert event["balance_after"] >= 0, event
            replayed[key] = event["balance_after"]
        assert set(replayed) == set(periods)
        for key, fields in periods.items():
            balance = (
                int(fields["volume"])
                + int(fields["carried"])
                + int(fields["returned"])
                - int(fields["allocated"])
            )
            assert replayed[key] == balance, key

    @invariant()
    def a_vin_counts_for_one_live_declaration(self) -> None:
        owners = {
            key.decode(): value.decode()
            for key, value in self.store.client.hgetall(f"{self.store.prefix}:vins:{QUOTA}").items()
        }
        expected: dict[str, str] = {}
        for declaration_id in self._live():
            for request in self.requests[declaration_id]:
                for each in request.vins:
                    assert each not in expected, (each, expected[each], declaration_id)
                    expected[each] = declaration_id
        assert owners == expected

    @invariant()
    def permits_and_events_match_the_allocation_results(self) -> None:
        used: dict[str, int] = defaultdict(int)
        for declaration_id in self._live():
            for request in self.requests[declaration_id]:
                if request.permit_number is not None:
                    used[request.permit_number] += request.quantity
        for number, quantity in PERMITS.items():
            permit = self.store.permit(number)
            assert permit is not None
            assert permit.used == used[number] <= quantity
        allocated_events: dict[str, int] = defaultdict(int)
        for event in self.store.quota_events(QUOTA):
            if event["type"] == "allocated":
                allocated_events[event["declaration_id"]] += event["quantity"]
        for declaration_id, result in self.results.items():
            assert self.store.allocation(declaration_id) == result
            in_quota = sum(line.in_quota for line in result.lines) if result.applied else 0
            assert allocated_events[declaration_id] == in_quota, declaration_id

    @invariant()
    def only_the_latest_period_of_a_year_is_open(self) -> None:
        periods = self.store.quota_periods(QUOTA)
        for key, fields in periods.items():
            later_same_year = [
                other
                for other in periods.values()
                if other["year"] == fields["year"] and int(other["index"]) > int(fields["index"])
            ]
            assert (fields["status"] == "closed") == bool(later_same_year), key


def test_ledger_invariants_hold_for_any_sequence(redis_url: str, catalog: Catalog) -> None:
    """Whatever the order of allocations, redeliveries, cancellations and period openings,
    the ledger's balances, events, VINs, permits and allocation results stay consistent."""
    found = catalog.measure(QUOTA)
    assert found is not None

    class Machine(LedgerMachine):
        url = redis_url
        measure = found[1]

    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=30,
            stateful_step_count=20,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
