"""Every in-scope line gets exactly one treatment, on every effective date of each measure.

Some rules are written as the negation of others (`DUTY-SUR-STAL-SURTAX` is the
complement of `ELIG-SUR-STAL-REMISSION`), and nothing else keeps the two in step. This
test is generated from every loaded pack, shipped and test: for each measure whose line
rules decide a treatment (state `then.treatment` or claim quota, the allocation then
giving in_quota, split or over_quota), it evaluates synthetic in-scope lines through
`rules.engine` on the day before, on and after each `from`/`to` of the measure and each
date of the pack's parameters and conditions, with every value the rules distinguish
(shipment dates around each date tested, remission claims cited and not, permits valid,
unregistered and missing, the quota's unit and another). On each day the measure is in
force, exactly one deciding rule fires for each line, or none while a rule refuses it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from helpers import BASE, BASE_LINE
from rules import engine
from rules.catalog import Catalog, load_catalog
from rules.measure import Measure, Rule
from rules.pack import Pack
from schemas.declaration import Declaration, Importer
from schemas.permit import Permit

TEST_PACKS = Path(__file__).resolve().parent.parent / "packs"
EST = timezone(timedelta(hours=-5))
PERMIT = "P-TREATMENT-1"
# what a declaration made to each jurisdiction's customs differs in besides its lines
PROFILES: dict[str, dict[str, Any]] = {
    "CA": {},
    "CN": {
        "jurisdiction": "CN",
        "currency": "CNY",
        "importer": {"business_number": "91110000600037341L", "name": "Shandong Oilseeds Co."},
    },
}


def _deciding(rule: Rule) -> bool:
    return rule.stage == "line" and (rule.then.treatment is not None or rule.then.claim_quota)


def _dates_in(value: Any) -> Iterator[date]:
    """Every date a condition names, literally or through a date parameter's values."""
    if isinstance(value, date):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _dates_in(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _dates_in(item)


def _texts_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _texts_in(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _texts_in(item)


def _around(days: set[date]) -> list[date]:
    return sorted({day + timedelta(days=step) for day in days for step in (-1, 0, 1)})


def boundary_dates(pack: Pack, measure: Measure) -> list[date]:
    """The day before, on and after each date of the measure, its parameters and rules."""
    days = {measure.effective.start}
    if measure.effective.end is not None:
        days.add(measure.effective.end)
    for parameter in pack.body.parameters.values():
        for start, _, value in parameter.periods():
            days.add(start)
            days.update(_dates_in(value))
    for rule in measure.rules:
        days.update(_dates_in(rule.when))
    if measure.remission is not None:
        for scheduled in measure.remission.items:
            days.add(scheduled.effective.start)
            if scheduled.effective.end is not None:
                days.add(scheduled.effective.end)
    return _around(days)


def remission_claims(pack: Pack, measure: Measure) -> list[str | None]:
    """No claim, each citation the rules or parameters name, and one no rule knows."""
    claims: set[str] = set()
    for rule in measure.rules:
        if "remission_claim" in str(rule.when):
            claims.update(_texts_in(rule.when))
    for parameter in pack.body.parameters.values():
        if parameter.type == "text_list":
            for _, _, value in parameter.periods():
                claims.update(value)
    claims = {claim for claim in claims if "/" in claim or " " in claim}
    if measure.remission is not None:
        # every scheduled item under each citation, the order without an item, an item the
        # schedule does not list
        for citation in measure.remission.citations:
            claims.add(citation)
            claims.add(f"{citation} item NOT-LISTED")
            claims.update(f"{citation} item {entry.item}" for entry in measure.remission.items)
            claims.update(
                f"{citation} schedule {entry.schedule} item {entry.item}"
                for entry in measure.remission.items
                if entry.schedule is not None
            )
    return [None, *sorted(claims), "SOME OTHER REMISSION ORDER"]


def shipment_dates(measure: Measure, pack: Pack) -> list[date | None]:
    dated = set()
    for rule in measure.rules:
        if "shipment_date" in str(rule.when):
            dated.update(_dates_in(rule.when))
    return [None, *_around(dated)]


def _declaration(
    day: date,
    import_type: str,
    line: dict[str, Any],
    shipped: date | None,
    jurisdiction: str = "CA",
) -> Declaration:
    body: dict[str, Any] = {
        **BASE,
        **PROFILES[jurisdiction],
        "declaration_id": "treatment",
        "import_type": import_type,
        "accepted_at": datetime.combine(day, time(10), EST).isoformat(),
        "lines": [{**BASE_LINE, **line}],
    }
    if shipped is not None:
        body["shipment_date"] = shipped.isoformat()
    return Declaration.model_validate(body)


def _permit(measure: Measure, day: date) -> Permit:
    return Permit(
        permit_number=PERMIT,
        business_number=BASE["importer"]["business_number"],
        measure=measure.id,
        quantity=1000,
        issued_on=day - timedelta(days=1),
        expires_on=day + timedelta(days=30),
        status="issued",
        held=1000,
    )


def synthetic_lines(
    pack: Pack, measure: Measure, day: date
) -> Iterator[tuple[str, Declaration, dict[str, Permit]]]:
    """Every combination of the inputs the measure's rules tell apart, for one day: for a
    measure with a remission schedule, the goods of each scheduled item too."""
    prefixes = [measure.scope.prefixes()[0]]
    if measure.remission is not None:
        prefixes += [
            each.replace(".", "")
            for entry in measure.remission.items
            for each in entry.tariff_items
        ]
    for item in dict.fromkeys(prefixes):
        tariff_item = f"{item[:4]}.{item[4:6] or '00'}.{item[6:8] or '00'}.{item[8:10] or '00'}"
        yield from _lines_for(pack, measure, day, tariff_item)
    # the goods of the first prefix declared under each heading of the special chapters the
    # scope reaches that a rule names, and under one no rule names
    first = prefixes[0].ljust(10, "0")
    for chapter in measure.scope.underlying_chapters:
        headings = {text for rule in measure.rules for text in _texts_in(rule.when)}
        named = sorted(text for text in headings if len(text) == 4 and text[:2] == chapter)
        for heading in [*named, f"{chapter}01"]:
            yield from _lines_for(pack, measure, day, f"{heading}.00.00.00", first)


def _lines_for(
    pack: Pack, measure: Measure, day: date, tariff_item: str, underlying: str | None = None
) -> Iterator[tuple[str, Declaration, dict[str, Permit]]]:
    quota = measure.quota
    units = [quota.unit] if quota is not None else ["NMB"]
    if any("unit" in rule.when for rule in measure.rules):
        units.append("KGM")  # a pack that tests the unit refuses lines in another one
    permits: list[str | None] = [None]
    if quota is not None and quota.permits is not None:
        permits = [None, "unregistered", "valid"]
    for import_type, origin, unit, claim, shipped, permit in itertools.product(
        measure.scope.import_types,
        measure.scope.origins,
        units,
        remission_claims(pack, measure),
        shipment_dates(measure, pack),
        permits,
    ):
        if shipped is not None and shipped > day:
            continue  # a declaration cannot ship after its acceptance
        line: dict[str, Any] = {"tariff_item": tariff_item, "origin": origin, "unit": unit}
        if underlying is not None:
            line["underlying_tariff_item"] = underlying
        if claim is not None:
            line["remission_claim"] = claim
        known: dict[str, Permit] = {}
        if permit is not None:
            line["permit_number"] = PERMIT
            if permit == "valid":
                known[PERMIT] = _permit(measure, day)
        name = (
            f"{tariff_item} {import_type} {origin} {unit} claim={claim} shipped={shipped} "
            f"permit={permit}"
        )
        declaration = _declaration(day, import_type, line, shipped, pack.body.jurisdiction)
        yield name, declaration, known


def _measures() -> list[tuple[Pack, Measure]]:
    catalog = load_catalog([TEST_PACKS])
    return [
        (pack, measure)
        for pack in catalog.packs
        for measure in pack.measures
        if any(_deciding(rule) for rule in measure.rules)
    ]


MEASURES = _measures()


def test_treatment_deciding_measures_are_found() -> None:
    """The shipped EV surtax, steel and aluminium surtax, EV quota and China's measures are among the measures tested."""
    ids = {measure.id for _, measure in MEASURES}
    assert {"CA-CN-SUR-2024-EV", "CA-CN-SUR-2024-STEEL-AL", "CA-CN-EV-TRQ-2026"} <= ids
    assert {"CN-AD-RAPESEED-FINAL", "CN-ADT-2025-100", "CN-ADT-SUSP-2026"} <= ids


@pytest.mark.parametrize(
    ("pack", "measure"),
    MEASURES,
    ids=[f"{pack.id}@{pack.version}:{measure.id}" for pack, measure in MEASURES],
)
def test_every_in_scope_line_gets_exactly_one_treatment(pack: Pack, measure: Measure) -> None:
    """On every boundary date in force, each synthetic line fires exactly one deciding rule, or none while refused."""
    checked = 0
    for day in boundary_dates(pack, measure):
        if not measure.effective.contains(day):
            continue
        for name, declaration, permits in synthetic_lines(pack, measure, day):
            evaluation = engine.evaluate(declaration, [pack], permits)
            mine = [item for item in evaluation.fired if item.measure.id == measure.id]
            deciding = sorted(item.rule.id for item in mine if _deciding(item.rule))
            refused = any(item.rule.outcome == "reject" for item in mine)
            assert len(deciding) == 1 or (not deciding and refused), (
                f"{measure.id} on {day}, {name}: deciding rules {deciding}"
            )
            checked += 1
    assert checked > 0


def test_remission_is_settled_for_every_claim_and_date() -> None:
    """Steel claiming a scheduled item around the ends of its rows' periods gets exempt or surtax, never both or neither; an item whose importer column is unread never remits."""
    catalog: Catalog = load_catalog()
    pack = next(p for p in catalog.current if p.id == "CA-CN-SURTAX-2024")
    steel = next(m for m in pack.measures if m.id == "CA-CN-SUR-2024-STEEL-AL")
    assert steel.remission is not None
    rows = {(entry.item, entry.tariff_items[0]): entry for entry in steel.remission.items}
    assert rows[("9.01", "7222.11.00.10")].effective.end == date(2025, 12, 31)
    assert rows[("9.1", "7217.30.00")].effective.end == date(2026, 6, 1)
    claims = {
        "9.01": {"tariff_item": "7222.11.00.10",
                 "remission_claim": "SOR/2025-12 schedule 2 item 9.01"},
        "9.1": {"tariff_item": "7217.30.00.00",
                "remission_claim": "SOR/2025-12 schedule 2 item 9.1"},
    }  # fmt: skip
    seen = set()
    for item, day in [("9.01", d) for d in _around({date(2025, 12, 31)})] + [
        ("9.1", d) for d in _around({date(2026, 6, 1)})
    ]:
        line = {"unit": "KGM", **claims[item]}
        declaration = _declaration(day, "commercial", line, None).model_copy(
            update={"importer": Importer(business_number="741519524RM0001", name="Item 9.01")}
        )
        evaluation = engine.evaluate(declaration, [pack], {})
        stated = [
            item.rule.then.treatment for item in evaluation.fired if item.measure.id == steel.id
        ]
        seen.add((item, day, tuple(t for t in stated if t)))
    assert seen == {
        ("9.01", date(2025, 12, 30), ("exempt",)),
        ("9.01", date(2025, 12, 31), ("exempt",)),
        ("9.01", date(2026, 1, 1), ("surtax",)),
        ("9.1", date(2026, 5, 31), ("surtax",)),
        ("9.1", date(2026, 6, 1), ("surtax",)),
        ("9.1", date(2026, 6, 2), ("surtax",)),
    }
    assert Decimal("0.25") == steel.rate_on("surtax", date(2027, 1, 1))
