"""`accord simulate`'s runner: a stream of declarations through the worker's own pipeline
and the ledger's own Redis scripts, on a private embedded Redis that lives for one
simulation (started in a temporary directory, stopped and deleted at the end), so that
a simulation answers as the real ledger would, for both draw points and every
allocation mode. Nothing of the ledger's arithmetic is here: the report is the ledger's
read model (`store.ledger.view`) of each period, with what the verdicts, the refused
permit applications and the events say about it.

What a simulation has to settle that the real world settles by itself, and how:
- Permits. Each line in scope of a quota that requires permits for its import type gets a
  permit applied for the way its importer would (`workers.permits.apply`), on the
  acceptance date, for the line's quantity (lines naming the same permit: one
  application for their sum, under that number), on the first sub-quota whose
  `max_fob_unit_price` the line's `fob_unit_price` does not exceed. For a quota drawn at
  permit issuance the application draws the units, or is refused: the line then names a
  permit that was never issued, its declaration is refused, and its units are counted
  as rejected in the period containing the acceptance date. A pro-rata grant smaller
  than the line leaves the line refused the same way (its permit holds too few units),
  and the granted units stay drawn, outstanding, as the ledger says.
- Daily pro-rata runs. Before the first declaration of a later acceptance day, every
  day with requests waiting is run (`workers.allocation.run_day`), and the declarations it
  returns, or whose permits it issued or refused, are decided; at the end of the stream
  the remaining days are run.
- Importer allocations. A simulation has no allocation accounts, so it assumes them:
  each importer with a commercial declaration in scope of an importer-allocation quota
  in a quota year gets an equal share of that year's volume (the units that do not
  divide evenly, one each to the importers seen first), set before the stream runs
  (`workers.allocation.open_account`, as an administrator's allocation).
Declarations are submitted as the API submits them (`workers.submission.submit`), with
the clock at their acceptance date (a stream may lie ahead of today, which the API would
refuse as not accepted yet), and decided in stream order; an id that comes again is
entered once, as the API's idempotency key makes it.
"""

from __future__ import annotations

import json
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from pathlib import Path

from pydantic import ValidationError

from rules.catalog import Catalog
from rules.evaluation import measures_in_force
from rules.measure import Measure
from rules.pack import Pack
from rules.quota import quota_year_of, terms_of, terms_on, year_volume
from rules.simulation import AccountShare, PeriodReport, SimulationReport
from schemas.declaration import Declaration, DeclarationLine
from schemas.ledger import LedgerYear, PeriodFigures, QuotaEvent
from schemas.permit import PermitApplication
from schemas.quota import Allocation
from store import MAX_EVENTS_PAGE, EmbeddedRedis, HoldsLedger, RedisStore
from workers import allocation, submission
from workers import permits as permit_workflow
from workers.evaluation import decide_many
from workers.permits import PermitRefused

_UTILISATION = Decimal("0.0001")
SUBMITTED_BY = "accord simulate"


def simulate(
    declarations: Iterable[Declaration], packs: Sequence[Pack], directory: Path | None = None
) -> SimulationReport:
    """Run the stream on a private embedded Redis (in a temporary directory under
    `directory`, or the system's) and report per quota period."""
    with tempfile.TemporaryDirectory(prefix="accord-simulate-", dir=directory) as scratch:
        root = Path(scratch)
        server = EmbeddedRedis(root / "redis", fsync="no")
        try:
            server.start()
            store = RedisStore.from_url(server.url, prefix="simulation")
            try:
                return run_stream(
                    store, Catalog(packs=tuple(packs), current=tuple(packs)), declarations
                )
            finally:
                store.close()
        finally:
            server.stop()


@dataclass(frozen=True)
class _Application:
    """A permit the simulation applied for, and where its refusal would count."""

    quota_id: str
    number: str
    asked: int
    period: str  # key of the period containing the acceptance date
    declaration_id: str


@dataclass
class _Tally:
    """Per (quota id, period key): what the verdicts and refused applications say."""

    rejected: dict[tuple[str, str], set[str]] = field(default_factory=lambda: defaultdict(set))
    rejected_units: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    over_quota: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    years: set[tuple[str, int]] = field(default_factory=set)  # (quota id, quota year) touched


def run_stream(
    store: RedisStore, catalog: Catalog, declarations: Iterable[Declaration]
) -> SimulationReport:
    """Enter the stream into `store` (an empty one: the figures are read back from it)
    and report per quota period."""
    unique: dict[str, Declaration] = {}
    duplicates = 0
    for declaration in declarations:
        if declaration.declaration_id in unique:
            duplicates += 1
        else:
            unique[declaration.declaration_id] = declaration
    stream = _Stream(store, catalog)
    stream.open_accounts(list(unique.values()))
    horizon: date | None = None
    for declaration in unique.values():
        day = declaration.accepted_on
        if horizon is None or day > horizon:
            stream.allocation_runs(before=day)
            horizon = day
        stream.enter(declaration)
    stream.allocation_runs(before=None)
    return stream.report(list(unique.values()), duplicates)


class _Stream:
    def __init__(self, store: RedisStore, catalog: Catalog) -> None:
        self.store = store
        self.catalog = catalog
        self.applications: list[_Application] = []
        self.waiting: list[str] = []  # declarations whose permits wait for a pro-rata run
        self.accounts: list[AccountShare] = []
        self.quotas = catalog.quotas()

    # --- before the stream ------------------------------------------------------------------

    def open_accounts(self, declarations: Sequence[Declaration]) -> None:
        """The assumed allocation accounts: an equal share of each quota year's volume for
        each importer with a commercial declaration in scope of the quota that year."""
        for measure in allocation.quotas_in_mode(self.catalog, "importer_allocation"):
            assert measure.quota is not None
            holders: dict[int, list[str]] = defaultdict(list)
            for declaration in declarations:
                if declaration.import_type != "commercial":
                    continue
                day = declaration.accepted_on
                in_scope = any(
                    applied.measure.id == measure.id
                    for line in declaration.lines
                    for applied in measures_in_force(
                        self.catalog.current, line, declaration.import_type, day
                    )
                )
                bn = declaration.importer.business_number
                year = terms_on(measure, day).year
                if in_scope and bn not in holders[year]:
                    holders[year].append(bn)
            for year, importers in sorted(holders.items()):
                if not importers:
                    continue
                share, rest = divmod(year_volume(measure.quota, year), len(importers))
                for position, bn in enumerate(importers):
                    units = share + (1 if position < rest else 0)
                    try:
                        allocation.open_account(self.store, measure, year, bn, units)
                    except allocation.AllocationRefused as exc:  # an empty ledger refuses none
                        raise RuntimeError(
                            f"{measure.id}: allocation for {bn} refused: {exc.reason}"
                        ) from None
                    self.accounts.append(AccountShare(measure.id, year, bn, units))

    # --- the stream -----------------------------------------------------------------------

    def enter(self, declaration: Declaration) -> None:
        """Apply for the declaration's permits, store it, and decide it (or let it wait
        for the pro-rata run that issues its permits)."""
        day = declaration.accepted_on
        lines: list[DeclarationLine] = []
        groups: dict[str, list[DeclarationLine]] = defaultdict(list)
        measure_of: dict[str, Measure] = {}
        for line in declaration.lines:
            measure = self._permit_measure(declaration, line)
            if measure is not None:
                number = line.permit_number or self.store.ledger.next_permit_number(
                    measure.id, max(quota_year_of(measure, day), 1)
                )
                line = line.model_copy(update={"permit_number": number})
                groups[number].append(line)
                measure_of.setdefault(number, measure)
            lines.append(line)
        waits = False
        for number, group in groups.items():
            outcome = self._apply(declaration, measure_of[number], number, group)
            waits = waits or outcome == "pending_allocation"
        entered = declaration.model_copy(update={"lines": tuple(lines)}) if groups else declaration
        created: list[str] = []
        # now is its acceptance date, as for its permits: never "not accepted yet"
        submission.submit(self.store, [entered], SUBMITTED_BY, created.extend, entered.accepted_at)
        if waits:
            self.waiting += created
        elif created:
            decide_many(self.store, self.catalog, created)

    def _permit_measure(self, declaration: Declaration, line: DeclarationLine) -> Measure | None:
        """The quota measure whose permit this line needs, if any (for the import types
        its pack requires permits for: the EV quota's include personal importations)."""
        for applied in measures_in_force(
            self.catalog.current, line, declaration.import_type, declaration.accepted_on
        ):
            quota = applied.measure.quota
            if (
                quota is not None
                and quota.permits is not None
                and declaration.import_type in quota.permits.required_for
            ):
                return applied.measure
        return None

    def _apply(
        self,
        declaration: Declaration,
        measure: Measure,
        number: str,
        lines: Sequence[DeclarationLine],
    ) -> str | None:
        """The importer's application for the permit its lines name; the ledger's outcome,
        or None when no permit may be applied for so (the lines stay as declared)."""
        assert measure.quota is not None
        day = declaration.accepted_on
        asked = int(
            sum((line.quantity for line in lines), Decimal(0)).to_integral_value(ROUND_CEILING)
        )
        sub_quota = next(
            (
                sub.name
                for sub in measure.quota.sub_quotas
                if all(
                    line.fob_unit_price is not None
                    and line.fob_unit_price <= sub.max_fob_unit_price
                    for line in lines
                )
            ),
            None,
        )
        try:
            application = PermitApplication(
                permit_number=number,
                business_number=declaration.importer.business_number,
                measure=measure.id,
                quantity=asked,
                issued_on=day,
                sub_quota=sub_quota,
            )
            applied = permit_workflow.apply(self.store, self.catalog, application, day)
        except (ValidationError, PermitRefused):
            return None
        outcome = applied.decision.outcome
        if outcome in ("issued", "pending_allocation", "refused"):
            terms = terms_on(measure, day)
            period = terms.period_containing(day)
            self.applications.append(
                _Application(
                    measure.id,
                    number,
                    asked,
                    period.key if period is not None else day.isoformat(),
                    declaration.declaration_id,
                )
            )
        return outcome

    def allocation_runs(self, before: date | None) -> None:
        """Run every pro-rata day with requests waiting (before `before`, or all), then
        decide what the runs answered: declarations with a grant to take, and those
        whose permits the runs issued or refused."""
        while True:
            due = allocation.due_days(self.store, self.catalog, before)
            if not due and not self.waiting:
                return
            for day, measure in due:
                allocation.run_day(self.store, measure, day, self._decide)
            if self.waiting:
                waiting, self.waiting = self.waiting, []
                decide_many(self.store, self.catalog, waiting)

    def _decide(self, declaration_ids: list[str]) -> None:
        decide_many(self.store, self.catalog, declaration_ids)

    # --- the report -----------------------------------------------------------------------

    def report(self, declarations: Sequence[Declaration], duplicates: int) -> SimulationReport:
        tally = _Tally()
        outcomes = {"accepted": 0, "rejected": 0, "held": 0}
        ids = [declaration.declaration_id for declaration in declarations]
        for record in self.store.get_many(ids):
            if record.status == "decided" and record.verdict is not None:
                outcome = str(json.loads(record.verdict)["outcome"])
            else:
                outcome = record.status
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        for declaration in declarations:
            drawn = self.store.ledger.allocation(declaration.declaration_id)
            if drawn is not None:
                self._count(tally, declaration, drawn)
        self._count_refused_permits(tally)
        last_day = max((item.accepted_on for item in declarations), default=None)
        periods: list[PeriodReport] = []
        if last_day is not None:
            for quota_id, year in sorted(tally.years):
                periods += self._period_reports(tally, self.quotas[quota_id], year, last_day)
        return SimulationReport(
            periods=tuple(periods),
            declarations=len(declarations),
            outcomes=outcomes,
            duplicates=duplicates,
            accounts=tuple(self.accounts),
        )

    def _count(self, tally: _Tally, declaration: Declaration, drawn: Allocation) -> None:
        quantities = {line.line: line.quantity for line in declaration.lines}
        for line in drawn.lines:
            measure = self.quotas.get(line.quota_id)
            if measure is None or line.period == "-":
                continue
            year = max(quota_year_of(measure, date.fromisoformat(line.period)), 1)
            tally.years.add((line.quota_id, year))
            where = (line.quota_id, line.period)
            if line.status == "quota_exhausted":
                tally.rejected[where].add(declaration.declaration_id)
                tally.rejected_units[where] += int(quantities[line.line])
            elif drawn.applied:
                tally.over_quota[where] += line.over_quota

    def _count_refused_permits(self, tally: _Tally) -> None:
        """Applications refused, or granted fewer units than asked (pro rata): their lines
        were refused for want of a permit, in the period of their acceptance date."""
        found = self.store.ledger.permits(
            [(application.quota_id, application.number) for application in self.applications]
        )
        for application in self.applications:
            measure = self.quotas[application.quota_id]
            year = max(quota_year_of(measure, date.fromisoformat(application.period)), 1)
            tally.years.add((application.quota_id, year))
            permit = found.get((application.quota_id, application.number))
            short = (
                permit is None
                or permit.status == "refused"
                or (permit.status == "issued" and permit.held < application.asked)
            )
            if short:
                where = (application.quota_id, application.period)
                tally.rejected[where].add(application.declaration_id)
                tally.rejected_units[where] += application.asked

    def _period_reports(
        self, tally: _Tally, measure: Measure, year: int, last_day: date
    ) -> list[PeriodReport]:
        """The periods of a quota year that the stream touched, each as the ledger reads
        it on the stream's last day, or on the period's last day if earlier."""
        terms = terms_of(measure, year)
        events = _all_events(self.store, measure, year, last_day)
        views: dict[date, LedgerYear] = {}
        reports = []
        for position, period in enumerate(terms.periods):
            own = [event for event in events if event.period == period.key]
            where = (measure.id, period.key)
            if not own and where not in tally.rejected and where not in tally.over_quota:
                continue
            as_of = min(last_day, date.fromisoformat(period.end))
            if as_of not in views:
                views[as_of] = self.store.ledger.view(terms, as_of, limit=1)
            figures = views[as_of].periods[position]
            reports.append(_period_report(measure.id, as_of, figures, own, tally, where))
        return reports


def _all_events(store: HoldsLedger, measure: Measure, year: int, as_of: date) -> list[QuotaEvent]:
    terms = terms_of(measure, year)
    events: list[QuotaEvent] = []
    cursor = 0
    while True:
        page = store.ledger.view(terms, as_of, cursor=cursor, limit=MAX_EVENTS_PAGE).events
        events += page.events
        if page.next_cursor is None:
            return events
        cursor = int(page.next_cursor)


def _period_report(
    quota_id: str,
    as_of: date,
    figures: PeriodFigures,
    events: Sequence[QuotaEvent],
    tally: _Tally,
    where: tuple[str, str],
) -> PeriodReport:
    utilisation = (
        (Decimal(figures.net_used) / Decimal(figures.available)).quantize(
            _UTILISATION, ROUND_HALF_UP
        )
        if figures.available
        else Decimal(0)
    )
    fill_date = next(
        (
            event.on
            for event in events
            if event.type == "exhausted"
            and event.on is not None
            and figures.start <= event.on <= figures.end
        ),
        None,
    )
    moved: dict[date, int] = defaultdict(int)
    for event in events:
        if event.on is not None and event.type in ("allocated", "returned"):
            moved[event.on] += event.quantity if event.type == "allocated" else -event.quantity
    timeline = []
    running = 0
    for day in sorted(moved):
        running += moved[day]
        timeline.append((day, running))
    return PeriodReport(
        quota_id=quota_id,
        start=figures.start,
        end=figures.end,
        as_of=as_of,
        volume=figures.volume,
        carried_over=figures.carried_over,
        allocated=figures.used,
        returned=figures.returned,
        remaining=figures.remaining,
        available=figures.available,
        net_used=figures.net_used,
        utilisation=utilisation,
        fill_date=fill_date,
        rejected_declarations=len(tally.rejected.get(where, ())),
        rejected_units=tally.rejected_units.get(where, 0),
        over_quota_units=tally.over_quota.get(where, 0),
        reserved={sub.name: sub.reserved for sub in figures.sub_quotas},
        reserved_used={sub.name: sub.used for sub in figures.sub_quotas},
        status=figures.status,
        timeline=tuple(timeline),
        permits=figures.permits,
    )


__all__ = ["SUBMITTED_BY", "run_stream", "simulate"]
