"""The facts the engine states of a declaration: one per line and measure in force (the
line rules') and one per line and quota after allocation (the allocation rules'), as
plain JSON values through the stage models of rules/facts.py.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Mapping
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from rules.compiler import day_number
from rules.currency import Conversion
from rules.facts import AllocationFacts, LineFacts, StatedFacts
from rules.measure import Measure
from rules.memos import LRU
from rules.quota import period_of
from schemas.declaration import Declaration, DeclarationLine
from schemas.permit import Permit
from schemas.quota import LineAllocation, QuotaRequest

# A measure's rates as messages show them, on a day.
RATE_TEXTS: LRU[tuple[Measure, dict[str, str]]] = LRU(maxsize=4_096)

_NOTHING_DERIVED: Mapping[str, Any] = types.MappingProxyType({})


@functools.cache
def _fields(model: type[StatedFacts]) -> tuple[str, ...]:
    return tuple(model.model_fields)


def stated(
    model: type[StatedFacts], data: Mapping[str, Any], derived: Mapping[str, Any] = _NOTHING_DERIVED
) -> dict[str, Any]:
    """`model.model_validate(data).stated(derived)`, without the round trip through
    pydantic (a fifth of an evaluation) for facts the engine builds itself from a
    validated declaration: the model's fields in its order, absent ones left out, dates
    as day numbers (the one serialiser the stage models declare). The tests hold the two
    equal over random declarations (tests/rules/test_engine_facts.py)."""
    get = data.get
    facts: dict[str, Any] = {"stage": model.STAGE}
    facts.update(
        {
            name: day_number(value) if isinstance(value, date) else value
            for name in _fields(model)
            if (value := get(name)) is not None
        }
    )
    facts.update(derived)
    return facts


def _permit_status(
    line: DeclarationLine,
    measure: Measure,
    declaration: Declaration,
    permits: Mapping[str, Permit],
    asked: Mapping[str, Decimal],
    converted: bool = True,
) -> str:
    """What the line's permit allows. `permits` holds the importer's own permits only: a
    number held by another importer reads as unregistered, so that nothing about it
    reaches this importer's verdict or trail."""
    if line.permit_number is None:
        return "none"
    permit = permits.get(line.permit_number)
    if permit is None or permit.business_number != declaration.importer.business_number:
        return "unregistered"
    if permit.measure != measure.id:
        return "other_measure"
    if permit.status != "issued":
        return {"pending_allocation": "pending"}.get(permit.status, permit.status)
    if declaration.accepted_on < permit.issued_on:
        return "not_yet_valid"
    if declaration.accepted_on > permit.expires_on:
        return "expired"
    if permit.remaining < asked[line.permit_number]:
        return "insufficient"
    if permit.sub_quota is not None and measure.quota is not None:
        # a permit for a sub-quota serves only the goods the sub-quota is for, whether or
        # not it holds reserved units (in a year whose reserve is 0%, none): its limit is
        # the permit's condition, not the reserve's. `line` holds its values in CAD, unless
        # no rate prevailed (`converted` false): then the limit is not compared at all.
        sub = next(
            (each for each in measure.quota.sub_quotas if each.name == permit.sub_quota), None
        )
        price = line.fob_unit_price
        if sub is not None and price is not None and not converted:
            return "fob_not_converted"
        if sub is not None and (price is None or price > sub.max_fob_unit_price):
            return "over_fob_limit"
    return "valid"


_EXCISE_LICENCE: dict[bool | None, str] = {
    True: "licensed",
    False: "not_licensed",
    None: "not_declared",
}


def _fob_value_gap_bp(line: DeclarationLine) -> int | None:
    """|FOB unit price x quantity - value for duty| in basis points of the value for duty."""
    if line.fob_unit_price is None:
        return None
    gap = abs(line.fob_unit_price * line.quantity - line.value_for_duty)
    return int((gap * 10000 / line.value_for_duty).to_integral_value(rounding=ROUND_HALF_UP))


def _rate_texts(measure: Measure, as_of: date) -> dict[str, Any]:
    """`rate_<name>` of each of the measure's rates on the day, as messages show them."""
    key = (id(measure), as_of)  # the entry holds the measure, so its id stays its own
    found = RATE_TEXTS.get(key)
    if found is None:
        texts = {f"rate_{name}": measure.rate_text(name, as_of) for name in measure.rates}
        found = (measure, texts)
        RATE_TEXTS.put(key, found)
    return dict(found[1])


def line_facts(
    declaration: Declaration,
    line: DeclarationLine,
    measure: Measure,
    permits: Mapping[str, Permit],
    asked: Mapping[str, Decimal],
    conversion: Conversion | None = None,
) -> dict[str, Any]:
    """What the line rules of a measure may test, stated as plain JSON values. `line` is
    the line with its values in the jurisdiction's currency (see `convert`)."""
    as_of = declaration.accepted_on
    derived: dict[str, Any] = _rate_texts(measure, as_of)
    permit: str | None = None
    permit_number: str | None = None
    period: str | None = None
    over_quota: str | None = None
    quota = measure.quota
    # without a prevailing rate the line's values are still in the declaration's currency:
    # never compared with a limit in the jurisdiction's
    converted = conversion is None or conversion.status != "missing"
    if quota is not None:
        if quota.permits is not None:
            if declaration.import_type in quota.permits.required_for:
                permit = _permit_status(line, measure, declaration, permits, asked, converted)
            else:
                permit = "not_required"
            permit_number = line.permit_number
        for sub in quota.sub_quotas:
            price = line.fob_unit_price
            derived[sub.name] = converted and price is not None and price <= sub.max_fob_unit_price
        open_period = period_of(measure, as_of)
        period = f"{open_period.start}/{open_period.end}"
        over_quota = "reject" if quota.over_quota == "reject" else "rate"
    claim = line.remission_claim
    claimed = " ".join(claim.upper().split()) if claim is not None else None
    remission: str | None = None
    remission_item: str | None = None
    if measure.remission is not None:
        remission, remission_item = measure.remission.status(
            claimed,
            measure.goods_item(line.tariff_item, line.underlying_tariff_item),
            as_of,
            declaration.importer.business_number,
        )
    exchange = conversion.status if conversion is not None else "not_needed"
    rate = conversion.rate if conversion is not None else None
    return stated(
        LineFacts,
        {
            "measure": measure.id,
            "line": line.line,
            "origin": line.origin,
            "tariff_item": line.tariff_item,
            "tariff_chapter": line.tariff_item[:2],
            "tariff_heading": line.tariff_item[:4],
            "underlying_tariff_item": line.underlying_tariff_item,
            "import_type": declaration.import_type,
            "unit": line.unit,
            "quantity": str(line.quantity),
            "accepted_on": as_of,
            "vins_given": bool(line.vins),
            "shipment_date": declaration.shipment_date,
            "remission_claim": claimed,
            "tariff_treatment": line.tariff_treatment or "02",
            "currency": conversion.declaration_currency if conversion else declaration.currency,
            "exchange_rate": exchange,
            "exchange_rate_value": format(rate.rate, "f") if rate is not None else None,
            "exchange_rate_on": (
                conversion.day.isoformat() if conversion and conversion.day else None
            ),
            **_conversion_facts(conversion),
            "excise_licence": _EXCISE_LICENCE[declaration.importer.excise_licensed],
            "fob_value_gap_bp": _fob_value_gap_bp(line),
            "remission": remission,
            "remission_item": remission_item,
            "permit": permit,
            "permit_number": permit_number,
            "period": period,
            "over_quota": over_quota,
        },
        derived,
    )


def _conversion_facts(conversion: Conversion | None) -> dict[str, Any]:
    """The facts of a conversion from loaded rates: which date it is, the quote applied
    and the earliest day whose quote could have prevailed."""
    if conversion is None or conversion.query is None:
        return {}
    rate = conversion.rate
    return {
        "exchange_rate_basis": conversion.query.basis,
        "exchange_rate_date": rate.on.isoformat() if rate is not None else None,
        "exchange_rate_source": rate.source if rate is not None else None,
        "exchange_rate_from": conversion.query.first.isoformat(),
    }


def allocation_facts(
    request: QuotaRequest, allocated: LineAllocation, as_of: date
) -> dict[str, Any]:
    period = next((p for p in request.quota.periods if p.key == allocated.period), None)
    return stated(
        AllocationFacts,
        {
            "measure": request.quota_id,
            "line": request.line,
            "allocation": allocated.status,
            "accepted_on": as_of,
            "quantity": request.quantity,
            "in_quota_quantity": allocated.in_quota,
            "over_quota_quantity": allocated.over_quota,
            "period": f"{period.key}/{period.end}" if period else allocated.period,
        },
    )
