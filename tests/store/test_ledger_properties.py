"""Ledger invariants (SPEC §5) under random sequences of permit applications, permit use
by declarations, declarations drawing at acceptance, permit cancellation and expiry,
declaration cancellation, pro-rata runs and the passing of time, on a real Redis, for
both draw points and the three allocation modes.

The quota is TEST-JP-EV-TRQ (tests/packs/test-race.yaml: quota years from 1 January,
two halves of 50 units, 10 of each reserved for affordable vehicles, over-quota entries
refused), with its mode and draw point changed. After every step, from the read model
and the event history of each quota year: no balance below zero; a current period's
volume + carried_over + returned − used − granted is its remaining; each period's events
replay (opened + carried_over + returned − allocated) to its balance; no unit is held
twice (what the permits and live declarations hold is what the periods show used and not
returned); no unit is lost (units that come back after their quota year are counted in
their period's lapsed); the periods' counts are what a model of the answers expects; and
the ledger read as of any day equals a replay of its event history up to that day
(SPEC §5: only events dated on or before it count). For first-come-first-served and
importer allocations the model also predicts each answer.
"""

from __future__ import annotations

import functools
import uuid
from collections import defaultdict
from datetime import date, timedelta
from typing import Any, ClassVar

import pytest
import yaml
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
from ledger_replay import check_as_of

from conftest import OTHER_IMPORTER, TEST_PACKS
from helpers import IMPORTER, permit_terms
from helpers import quota_request as request
from rules.loader import parse_pack
from rules.measure import Measure
from rules.quota import terms_of, terms_on
from schemas.permit import Permit
from schemas.quota import Allocation, QuotaRequest, QuotaTerms
from store import RedisStore

NOW = "2026-03-01T12:00:00Z"
# the days time moves through: both halves of quota year 1, then quota year 2
DAYS = (
    date(2026, 2, 2), date(2026, 4, 6), date(2026, 7, 6), date(2026, 9, 7),
    date(2026, 11, 30), date(2027, 2, 1),
)  # fmt: skip
VALIDITY = 60  # days, counting the day of issue
YEARS = (1, 2)
INITIAL = {IMPORTER: 60, OTHER_IMPORTER: 40}  # importer allocations of each year


def race_variant(mode: str, drawn_at: str) -> Measure:
    data = yaml.safe_load((TEST_PACKS / "test-race.yaml").read_text())
    data["measures"][0]["quota"].update(mode=mode, drawn_at=drawn_at)
    return parse_pack(yaml.safe_dump(data).encode(), f"test-race {mode} {drawn_at}").measures[0]


class LedgerMachine(RuleBasedStateMachine):
    """Drives one store (a fresh key prefix per example) and a model of the units the
    ledger's answers say were drawn and returned, per (quota year, period)."""

    url: ClassVar[str]
    measure: ClassVar[Measure]

    permits = Bundle("permits")
    declarations = Bundle("declarations")

    def __init__(self) -> None:
        super().__init__()
        self.store = RedisStore.from_url(self.url, prefix=f"h-{uuid.uuid4().hex}")
        self.ledger = self.store.ledger
        assert self.measure.quota is not None
        self.quota_id = self.measure.id
        self.mode = self.measure.quota.mode
        self.drawn_at = self.measure.quota.drawn_at
        self.now = 0
        self.serial = 0
        self.allocated: dict[tuple[int, str], int] = defaultdict(int)
        self.returned: dict[tuple[int, str], int] = defaultdict(int)
        self.reserve_net: dict[tuple[int, str], int] = defaultdict(int)
        # every change of those counts on its ledger date: (day, at, allocated, returned,
        # reserve_net), for what a draw dated in the past may take
        self.dated: list[tuple[date, tuple[int, str], int, int, int]] = []
        self.lapsed: dict[int, int] = defaultdict(int)  # declarations' units, by quota year
        # units that came back after their quota year, by the period they were drawn from
        self.lapsed_from: dict[tuple[int, str], int] = defaultdict(int)
        self.account_left = {year: INITIAL[IMPORTER] for year in YEARS}
        self.requests: dict[str, list[QuotaRequest]] = {}
        self.on: dict[str, date] = {}
        self.results: dict[str, Allocation] = {}
        self.given_back: set[str] = set()
        if self.mode == "importer_allocation":
            for year in YEARS:
                for bn, units in INITIAL.items():
                    assert (
                        self.ledger.account(self.terms(year), "initial", bn, units, "", 100, NOW)
                        is None
                    )

    def teardown(self) -> None:
        keys = list(self.store.client.scan_iter(match=f"{self.store.prefix}:*", count=500))
        if keys:
            self.store.client.delete(*keys)
        self.store.close()

    # --- the model -----------------------------------------------------------------------

    @property
    def today(self) -> date:
        return DAYS[self.now]

    def terms(self, year: int) -> QuotaTerms:
        return terms_of(self.measure, year)

    def where(self, terms: QuotaTerms, day: date) -> tuple[int, str] | None:
        """The (year, period) of `terms` containing `day`: where a draw that day goes."""
        period = terms.period_containing(day)
        return None if period is None else (terms.year, period.key)

    def home(self, terms: QuotaTerms, own: str | None, day: date) -> tuple[int, str] | None:
        """Where units drawn from period `own` and given back on `day` go: their own period
        while it lasts, else the period open that day (the next one to open) within the
        quota year; None when they lapse (after the year)."""
        keys = [period.key for period in terms.periods]
        start = keys.index(own) if own in keys else 0
        for period in terms.periods[start:]:
            if day.isoformat() <= period.end:
                return (terms.year, period.key)
        return None

    def drawable(self, year: int, key: str, day: date) -> tuple[int, int]:
        """General and affordable units a draw on a period dated `day` may take, from the
        model's dated counts: each period's balance carries into the next, a draw must fit
        in every later period of the year, on `day` and on every ledger date since (units
        that came back after `day` were not there to draw)."""
        since = sorted({when for when, *_ in self.dated if when > day})
        general, affordable = None, None
        for upto in [day, *since]:
            counts: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0, 0])
            for when, at, *change in self.dated:
                if when <= upto:
                    counts[at] = [a + b for a, b in zip(counts[at], change, strict=True)]
            rows, balance, reserve = [], 0, 0
            for period in self.terms(year).periods:
                allocated, returned, reserve_net = counts[(year, period.key)]
                balance += period.volume + returned - allocated
                reserve += period.reserved["affordable"] - reserve_net
                rows.append((period.key, balance - reserve, reserve))
            later = [row for row in rows if row[0] >= key]
            least = min(row[1] for row in later), min(row[2] for row in later)
            general = least[0] if general is None else min(general, least[0])
            affordable = least[1] if affordable is None else min(affordable, least[1])
        assert general is not None and affordable is not None
        return general, affordable

    def predicts(self) -> bool:
        return self.mode in ("fcfs", "importer_allocation")

    def draw(self, at: tuple[int, str], units: int, reserve: int, day: date) -> None:
        self.allocated[at] += units
        self.reserve_net[at] += reserve
        self.dated.append((day, at, units, 0, reserve))

    def give(
        self, at: tuple[int, str] | None, units: int, reserve: int, terms: QuotaTerms,
        own: str | None, day: date, drawn_on: date,
    ) -> bool:  # fmt: skip
        """Units given back to a period; after their quota year (`at` None) they lapse,
        counted on the period they were drawn from."""
        if units <= 0:
            return False
        if at is None:
            self.lapsed[terms.year] += units
            self.lapsed_from[(terms.year, own or terms.periods[-1].key)] += units
            return False
        self.returned[at] += units
        self.reserve_net[at] -= reserve
        self.dated.append((max(day, drawn_on), at, 0, units, -reserve))
        return True

    def permit(self, number: str) -> Permit:
        found = self.ledger.permit(self.quota_id, number)
        assert found is not None
        return found

    def known(self, number: str) -> bool:
        """Whether the ledger holds the permit (a refused application leaves none)."""
        return self.ledger.permit(self.quota_id, number) is not None

    # --- permits -------------------------------------------------------------------------

    @rule(
        target=permits,
        quantity=st.integers(1, 30),
        affordable=st.booleans(),
        back=st.sampled_from([0, 0, 20]),
    )
    def apply_for_a_permit(self, quantity: int, affordable: bool, back: int) -> str:
        """An application, issued today or back-dated a few days."""
        self.serial += 1
        number = f"P-{self.serial}"
        issued_on = self.today - timedelta(days=back)
        terms = terms_on(self.measure, issued_on)
        sub = "affordable" if affordable else None
        application = permit_terms(
            number, quantity, self.quota_id, issued_on,
            issued_on + timedelta(days=VALIDITY - 1), sub_quota=sub,
        )  # fmt: skip
        at = self.where(terms, issued_on)
        expected = None
        if self.drawn_at == "permit" and self.predicts() and at is not None:
            general, reserve = self.drawable(*at, issued_on)
            from_reserve = min(quantity, max(reserve, 0)) if affordable else 0
            from_general = min(quantity - from_reserve, max(general, 0))
            room = max(general, 0) + (max(reserve, 0) if affordable else 0)
            if self.mode == "importer_allocation":
                room = min(room, self.account_left[terms.year])
            fits = from_reserve + from_general == quantity and quantity <= room
            expected = ("issued", from_reserve) if fits else ("refused", room)

        decision = self.ledger.apply_permit(terms, application, NOW)

        if self.drawn_at == "declaration":
            assert decision.outcome == "issued"
        elif self.mode == "daily_pro_rata":
            assert decision.outcome == "pending_allocation"
        elif expected is not None:
            if expected[0] == "issued":
                assert decision.outcome == "issued", (decision, expected)
                assert decision.permit is not None and decision.permit.reserve == expected[1]
            else:
                assert (decision.outcome, decision.remaining) == expected, decision
        if decision.outcome == "issued" and self.drawn_at == "permit":
            assert decision.permit is not None and at is not None
            assert decision.permit.period == at[1]
            self.draw(at, quantity, decision.permit.reserve, issued_on)
            self.account_left[terms.year] -= quantity
        return number

    @precondition(lambda self: self.mode == "daily_pro_rata")
    @rule()
    def run_the_day(self) -> None:
        """The pro-rata runs of every day with requests; declarations take their grants."""
        for day in self.ledger.pro_rata_days(self.quota_id):
            terms = terms_on(self.measure, day)
            at = self.where(terms, day)
            general = self.drawable(*at, day)[0] if at is not None else 0
            result = self.ledger.run(terms, day, NOW)
            issued = 0
            for answer in result.permits:
                assert answer["status"] in ("issued", "refused")
                if answer["status"] == "issued":
                    assert at is not None
                    self.draw(at, int(answer["quantity"]), 0, day)
                    issued += int(answer["quantity"])
            assert issued <= max(general, 0)
            for declaration_id in result.declarations:
                self._allocate(
                    declaration_id, self.requests[declaration_id], self.on[declaration_id]
                )

    @rule(number=permits)
    def cancel_a_permit(self, number: str) -> None:
        """An importer or an administrator cancels a permit; an unused one returns its
        units to today's period of its quota year."""
        if not self.known(number):
            return
        before = self.permit(number)
        terms = terms_on(self.measure, before.issued_on)
        self.ledger.end_permit(
            functools.partial(terms_of, self.measure), self.quota_id, number, self.today,
            "cancelled", NOW,
        )  # fmt: skip
        after = self.permit(number)
        if before.status in ("issued", "pending_allocation"):
            assert after.status == "cancelled"
            self._permit_ended(before, after, terms, self.today)
        else:
            assert after == before

    def _permit_ended(self, before: Permit, after: Permit, terms: QuotaTerms, day: date) -> None:
        if before.status == "issued" and self.drawn_at == "permit":
            went = self.give(
                self.home(terms, before.period, day),
                before.held,
                before.reserve,
                terms,
                before.period,
                day,
                before.issued_on,
            )
            assert (after.returned - before.returned, after.lapsed) == (
                (before.held, 0) if went else (0, before.held)
            )
            if went:
                self.account_left[terms.year] += before.held

    # --- declarations ----------------------------------------------------------------------

    def _allocate(self, declaration_id: str, requests: list[QuotaRequest], on: date) -> Allocation:
        """Allocate and bring the model along with the answer."""
        named = {r.permit_number: self.permit(r.permit_number) for r in requests if r.permit_number}
        request_ = requests[0]
        terms = request_.quota
        expected: bool | None = None
        if self.predicts() and self.drawn_at == "declaration":
            usable = all(
                p.status == "issued" and p.held >= request_.quantity for p in named.values()
            )
            at = self.where(terms, on)
            fits = False
            if at is not None:
                general, reserve = self.drawable(*at, on)
                from_reserve = min(request_.quantity, max(reserve, 0)) if request_.sub_quota else 0
                fits = from_reserve + min(request_.quantity - from_reserve, max(general, 0)) == (
                    request_.quantity
                )
                if self.mode == "importer_allocation":
                    fits = fits and request_.quantity <= self.account_left[terms.year]
            expected = usable and fits
        elif self.drawn_at == "permit":
            expected = all(
                p.status == "issued" and p.held >= request_.quantity for p in named.values()
            ) and bool(named)

        result = self.ledger.allocate(declaration_id, requests, on, NOW)
        self.requests[declaration_id] = requests
        self.on[declaration_id] = on
        self.results[declaration_id] = result
        if result.pending:
            assert self.mode == "daily_pro_rata" and self.drawn_at == "declaration"
            return result
        if expected is not None:
            assert result.applied == expected, (result, named)
        if not result.applied:
            assert all(line.in_quota == 0 for line in result.lines)
            return result
        for line, asked in zip(result.lines, requests, strict=True):
            if self.drawn_at == "declaration":
                at = self.where(terms, on)
                assert at is not None and line.period == at[1]
                self.draw(at, line.in_quota, line.reserved_used, on)
                self.account_left[terms.year] -= line.in_quota
            else:
                assert line.in_quota == asked.quantity
        for number, before in named.items():
            after = self.permit(number)
            assert (after.status, after.used_by, after.held) == (
                "used",
                declaration_id,
                request_.quantity,
            )
            if self.drawn_at == "permit":
                left = before.held - request_.quantity
                went = self.give(
                    self.home(terms, before.period, on),
                    left,
                    max(before.reserve - request_.quantity, 0),
                    terms,
                    before.period,
                    on,
                    before.issued_on,
                )
                assert after.returned - before.returned == (left if went else 0)
                if went:
                    self.account_left[terms.year] += left
        return result

    @precondition(lambda self: self.drawn_at == "declaration")
    @rule(
        target=declarations,
        quantity=st.integers(1, 30),
        affordable=st.booleans(),
        late=st.booleans(),
        over_quota=st.sampled_from(["reject", "rate"]),
    )
    def declare(self, quantity: int, affordable: bool, late: bool, over_quota: str) -> str:
        """A declaration accepted today, or (late) accepted in an earlier period and
        processed now, drawing at its acceptance date."""
        on = DAYS[self.now - 1] if late and self.now else self.today
        self.serial += 1
        declaration_id = f"d-{self.serial}"
        over: Any = over_quota if self.mode == "daily_pro_rata" else "reject"
        requests = [request(self.measure, on, quantity, affordable=affordable, over_quota=over)]
        self._allocate(declaration_id, requests, on)
        return declaration_id

    @rule(target=declarations, number=permits, quantity=st.integers(1, 30))
    def use_a_permit(self, number: str, quantity: int) -> str:
        """A declaration accepted today uses a permit (valid today, else nothing happens)."""
        if not self.known(number):
            return "d-none"
        held = self.permit(number)
        self.serial += 1
        declaration_id = f"d-{self.serial}"
        if not held.issued_on <= self.today <= held.expires_on:
            return declaration_id
        drawn_on = held.issued_on if self.drawn_at == "permit" else self.today
        requests = [
            request(
                self.measure, drawn_on, quantity, permit=number,
                affordable=held.sub_quota is not None,
            )
        ]  # fmt: skip
        self._allocate(declaration_id, requests, self.today)
        return declaration_id

    @rule(declaration_id=declarations)
    def cancel_a_declaration(self, declaration_id: str) -> None:
        """A declaration is cancelled: what it drew returns to today's period, its permit is
        usable again while valid (else it ends expired and its units return)."""
        if declaration_id not in self.requests:
            return
        result = self.results[declaration_id]
        requests = self.requests[declaration_id]
        terms = requests[0].quota
        named = {r.permit_number: self.permit(r.permit_number) for r in requests if r.permit_number}
        returned = self.ledger.give_back(declaration_id, self.today, NOW)
        live = result.applied and declaration_id not in self.given_back
        if result.pending:
            self.given_back.add(declaration_id)
            return
        if not live:
            assert returned == []
            return
        self.given_back.add(declaration_id)
        if self.drawn_at == "declaration":
            for line in result.lines:
                self.give(
                    self.home(terms, line.period, self.today),
                    line.in_quota,
                    line.reserved_used,
                    terms,
                    line.period,
                    self.today,
                    self.on[declaration_id],
                )
                self.account_left[terms.year] += line.in_quota
        for number, before in named.items():
            after = self.permit(number)
            if self.today <= before.expires_on:
                assert (after.status, after.used, after.held) == ("issued", 0, before.held)
            else:
                assert after.status == "expired"
                if self.drawn_at == "permit":
                    at = self.home(terms, before.period, self.today)
                    if self.give(
                        at,
                        before.held,
                        before.reserve,
                        terms,
                        before.period,
                        self.today,
                        before.issued_on,
                    ):
                        self.account_left[terms.year] += before.held

    # --- time ----------------------------------------------------------------------------

    @precondition(lambda self: self.now + 1 < len(DAYS))
    @rule()
    def move_on(self) -> None:
        """Time moves to the next day of DAYS (a new period): the day's pro-rata runs are
        made, and permits that expired unused end, their units back on the day the expiry
        is processed."""
        if self.mode == "daily_pro_rata":
            self.run_the_day()
        self.now += 1
        waiting = {
            number: self.permit(number)
            for number in self.ledger.expiring(self.quota_id, self.today)
        }
        ended = self.ledger.expire(
            functools.partial(terms_of, self.measure), self.quota_id, self.today, NOW
        )
        assert sorted(ended) == sorted(waiting)
        for number, before in waiting.items():
            after = self.permit(number)
            assert after.status == "expired"
            terms = terms_on(self.measure, before.issued_on)
            self._permit_ended(before, after, terms, self.today)

    # --- invariants ----------------------------------------------------------------------

    def _permits(self) -> list[Permit]:
        numbers = [f"P-{n}" for n in range(1, self.serial + 1)]
        found = self.ledger.permits([(self.quota_id, number) for number in numbers])
        return list(found.values())

    @invariant()
    def the_ledger_adds_up(self) -> None:
        permits = self._permits()
        for year in YEARS:
            terms = self.terms(year)
            seen = self.ledger.view(terms, self.today, limit=1000)
            balances: dict[str, int] = {}
            for period in seen.periods:
                at = (year, period.start.isoformat())
                assert min(period.remaining, period.carried_forward, period.lapsed) >= 0, period
                assert all(sub.remaining >= 0 for sub in period.sub_quotas), period
                assert (period.used, period.returned) == (self.allocated[at], self.returned[at])
                assert sum(sub.used for sub in period.sub_quotas) == self.reserve_net[at]
                if period.status in ("open", "critical", "exhausted"):
                    assert (
                        period.volume + period.carried_over + period.returned - period.used
                        - period.granted
                    ) == period.remaining, period  # fmt: skip
                    balances[at[1]] = period.remaining
                elif period.status == "closed":
                    closing = period.lapsed - self.lapsed_from[at]
                    balances[at[1]] = period.carried_forward + closing
                if period.status != "closed" or period.end.isoformat() != terms.periods[-1].end:
                    assert period.lapsed == self.lapsed_from[at], (period, self.lapsed_from)
            self._replay(seen.events.events, balances)
            # no unit held twice: what the periods show used and not returned is held by
            # permits (drawn at permits) or by live declarations (drawn at declarations)
            net = sum(period.used - period.returned for period in seen.periods)
            if self.drawn_at == "permit":
                held = sum(
                    (p.held if p.status in ("issued", "used") else 0) + p.lapsed
                    for p in permits
                    if terms_on(self.measure, p.issued_on).year == year
                )
            else:
                held = sum(
                    line.in_quota
                    for declaration_id, result in self.results.items()
                    if result.applied and declaration_id not in self.given_back
                    and self.requests[declaration_id][0].quota.year == year
                    for line in result.lines
                ) + self.lapsed[year]  # fmt: skip
            assert net == held, (year, net, held)
            if self.drawn_at == "permit":
                for period in seen.periods:
                    assert period.permits is not None
                    own = [p for p in permits if p.period == period.start.isoformat()]
                    outstanding = sum(p.held for p in own if p.status == "issued")
                    assert period.permits.outstanding == outstanding, period
                    assert period.permits.lapsed == sum(p.lapsed for p in own), period
            self._as_of_every_day(terms)

    def _as_of_every_day(self, terms: QuotaTerms) -> None:
        """The year read as of each day is a replay of its event history up to that day:
        the events page is the history's events dated on or before it, in the order
        written, and each period's used, returned, lapsed, reserve, permits issued,
        carry-over, remaining and status follow from them. The figures change only on a
        day some event is dated, or as a period starts or ends, so those days (and the
        days either side) stand for every day."""
        history = self.ledger.view(terms, date(9999, 12, 31), limit=1000).events
        assert history.total == len(history.events) <= 1000
        days = {self.today}
        for event in history.events:
            assert event.on is not None, event
            days |= {event.on - timedelta(days=1), event.on}
        for period in terms.periods:
            start, end = date.fromisoformat(period.key), date.fromisoformat(period.end)
            days |= {start - timedelta(days=1), start, end, end + timedelta(days=1)}
        for day in sorted(days):
            seen = self.ledger.view(terms, day, limit=1000)
            check_as_of(
                terms, day, history.events, seen,
                self.drawn_at == "permit" and self.mode != "daily_pro_rata",
            )  # fmt: skip
        # the same events, page by page, from a day in the middle of the history
        if history.events:
            middle = sorted(days)[len(days) // 2]
            walked, cursor = [], 0
            while True:
                page = self.ledger.view(terms, middle, cursor=cursor, limit=3).events
                walked += page.events
                if page.next_cursor is None:
                    break
                cursor = int(page.next_cursor)
            assert walked == [e for e in history.events if e.on is not None and e.on <= middle]
            latest = self.ledger.view(terms, middle, limit=3, latest=True).events.events
            assert list(latest) == walked[-3:]

    def _replay(self, events: Any, balances: dict[str, int]) -> None:
        replayed: dict[str, int] = {}
        change = {"opened": 1, "carried_over": 1, "returned": 1, "allocated": -1}
        for event in events:
            if event.type.startswith("account_"):
                continue
            before = replayed.get(event.period, 0)
            assert event.balance_before == before, event
            assert event.balance_after == before + change.get(event.type, 0) * event.quantity
            assert event.balance_after >= 0, event
            replayed[event.period] = event.balance_after
        for key, balance in replayed.items():
            if key in balances:
                assert balance == balances[key], (key, balance, balances[key])


@pytest.mark.parametrize("drawn_at", ["permit", "declaration"])
@pytest.mark.parametrize("mode", ["fcfs", "daily_pro_rata", "importer_allocation"])
def test_ledger_invariants_hold_for_any_sequence(redis_url: str, mode: str, drawn_at: str) -> None:
    """Whatever the order of permit applications, permit use, declarations, cancellations,
    expiries, pro-rata runs and new periods, the ledger's read model, events, permits and
    declarations stay consistent with each other and with a model of its answers."""
    measure = race_variant(mode, drawn_at)

    class Machine(LedgerMachine):
        url = redis_url

    Machine.measure = measure
    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=25,
            stateful_step_count=25,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
