"""`GET /v1/arrangements`: every arrangement with its parties and dates;
`GET /v1/arrangements/{id}`: both sides of an arrangement on a date, their measures in
force and the linkage checks, and the same checks over the arrangement's timeline for the
dashboard. Everything here is read from the catalog (packs and arrangements as data) and
the engine's measure-level checks: no jurisdiction and no measure is named in code. The
linkage checks are the rules whose id starts with `LINK-`."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from rules.arrangement import Arrangement
from rules.catalog import Catalog
from rules.measure import Measure
from rules.measure_checks import measure_checks, status_on
from rules.pack import Pack
from schemas.arrangement import (
    ArrangementList,
    ArrangementSummary,
    ArrangementView,
    LinkageEvent,
    MeasureOnDate,
    MeasureStatus,
    Party,
    Period,
    SideView,
    SourceRef,
)
from schemas.declaration import JURISDICTION_CURRENCY
from schemas.ledger import PackRef
from schemas.verdict import Finding

LINKAGE_PREFIX = "LINK-"


def _status(catalog: Catalog, measure_id: str, day: date) -> MeasureStatus:
    ranges = [
        measure.effective
        for pack in catalog.current
        for measure in pack.measures
        if measure.id == measure_id
    ]
    status = status_on(ranges, day)
    return "in_force" if status == "in_force" else "lapsed" if status == "lapsed" else "not_yet"


def rates_shown(pack: Pack, measure: Measure, day: date) -> dict[str, str]:
    """A measure's rates on `day` as its views show them: "6.1%", or a specific rate with
    its currency, "100.00 CAD per NMB" (an amount is never shown without one)."""
    currency = JURISDICTION_CURRENCY.get(pack.body.jurisdiction, "")
    shown = {}
    for name in measure.rates:
        spec = measure.rates[name]
        if spec.amount is not None and currency:
            shown[name] = f"{spec.amount} {currency} per {spec.per}"
        else:
            shown[name] = measure.rate_text(name, day)
    return shown


def _rates(pack: Pack, measure: Measure, day: date) -> dict[str, str]:
    start, end = measure.effective.start, measure.effective.end
    rate_day = min(max(day, start), end) if end is not None else max(day, start)
    return rates_shown(pack, measure, rate_day)


def measure_identity(pack: Pack, measure: Measure) -> dict[str, Any]:
    """What every view of a measure says of it first: id, title, its pack, its legal
    source and its effective dates."""
    source = pack.body.sources[measure.source]
    return {
        "id": measure.id,
        "title": measure.title,
        "pack": PackRef(id=pack.id, version=pack.version, sha256=pack.sha256),
        "source": SourceRef(title=source.title, url=source.url),
        "effective": Period(start=measure.effective.start, end=measure.effective.end),
    }


def measure_on(catalog: Catalog, measure_id: str, day: date) -> MeasureOnDate:
    found = catalog.measure_on(measure_id, day)
    if found is None:  # the catalog refuses an arrangement naming an unknown measure
        raise LookupError(measure_id)
    pack, measure = found
    arrangement = measure.arrangement
    return MeasureOnDate(
        **measure_identity(pack, measure),
        status=_status(catalog, measure_id, day),
        rates=_rates(pack, measure, day),
        counterparts=arrangement.counterparts if arrangement is not None else (),
    )


def linkage(catalog: Catalog, arrangement: Arrangement, day: date) -> tuple[Finding, ...]:
    """The linkage checks of every measure of the arrangement, as of `day`."""
    findings: list[Finding] = []
    for measure_id in arrangement.measure_ids():
        found = catalog.measure_on(measure_id, day)
        if found is None:
            continue
        for fired in measure_checks(*found, day, catalog.current):
            if fired.rule.id.startswith(LINKAGE_PREFIX):
                findings.append(fired.finding)
    return tuple(findings)


def listed(catalog: Catalog) -> ArrangementList:
    """Every arrangement of the catalog, in the catalog's order."""
    return ArrangementList(
        arrangements=tuple(
            ArrangementSummary(
                arrangement=item.id,
                title=item.title,
                parties=tuple(
                    Party(jurisdiction=side.jurisdiction, party=side.party) for side in item.sides
                ),
                concluded_on=item.concluded_on,
                timeline=Period(start=item.timeline.start, end=item.timeline.end),
                source=SourceRef(
                    title=item.sources[item.source].title, url=item.sources[item.source].url
                ),
            )
            for item in catalog.arrangements
        )
    )


def view(catalog: Catalog, arrangement: Arrangement, day: date) -> ArrangementView:
    source = arrangement.sources[arrangement.source]
    sides = []
    for side in arrangement.sides:
        measures = tuple(measure_on(catalog, name, day) for name in side.measures)
        sides.append(
            SideView(
                jurisdiction=side.jurisdiction,
                party=side.party,
                measures=measures,
                in_force=tuple(item.id for item in measures if item.status == "in_force"),
            )
        )
    findings = linkage(catalog, arrangement, day)
    return ArrangementView(
        arrangement=arrangement.id,
        title=arrangement.title,
        concluded_on=arrangement.concluded_on,
        announced_on=arrangement.announced_on,
        source=SourceRef(title=source.title, url=source.url),
        as_of=day,
        sides=tuple(sides),
        linkage=findings,
        warnings=sum(1 for item in findings if item.severity != "info"),
    )


def linkage_events(catalog: Catalog, arrangement: Arrangement) -> tuple[LinkageEvent, ...]:
    """Each linkage finding on the first day it holds: the checks change only on the days a
    measure of the arrangement, or a counterpart, starts or ends, so only those are asked."""
    span = arrangement.timeline
    names = set(arrangement.measure_ids())
    days = {span.start}
    for pack in catalog.current:
        for measure in pack.measures:
            if measure.id in names or (
                measure.arrangement is not None and names & set(measure.arrangement.counterparts)
            ):
                days.add(measure.effective.start)
                if measure.effective.end is not None:
                    days.add(measure.effective.end + timedelta(days=1))
    events: list[LinkageEvent] = []
    held: set[tuple[str, str]] = set()
    for day in sorted(item for item in days if span.start <= item <= span.end):
        findings = linkage(catalog, arrangement, day)
        now = {(item.measure, item.rule) for item in findings}
        events.extend(
            LinkageEvent(day=day, finding=item)
            for item in findings
            if (item.measure, item.rule) not in held
        )
        held = now
    return tuple(events)
