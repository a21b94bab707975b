"""The verdict: steps 6-7 of SPEC §4 (allocation rules, treatments, duties, outcome).

    finalize(evaluation, allocation) -> Verdict   pure: replayable

Duties are computed with `Decimal`, rounded half-up to the cent per duty line.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from rules.currency import CENT
from rules.declaration_facts import allocation_facts
from rules.errors import EngineError
from rules.evaluation import Evaluation
from rules.findings import Fired
from rules.matching import matched
from rules.measure import CUMULATIVE_BASES, DutyEffect
from rules.memos import LRU
from rules.pack import Pack
from schemas.declaration import DeclarationLine
from schemas.quota import Allocation
from schemas.verdict import (
    NotAssessed,
    Outcome,
    RulePackRef,
    Treatment,
    Verdict,
)


def _apportion(value: Decimal, part: Decimal, whole: Decimal) -> Decimal:
    return (value * part / whole).quantize(CENT, rounding=ROUND_HALF_UP)


def finalize(evaluation: Evaluation, allocation: Allocation) -> Verdict:
    """Steps 6-7: allocation rules, treatments, duties, outcome. Pure: replayable."""
    return finalize_with_decisions(evaluation, allocation)[0]


def finalize_with_decisions(
    evaluation: Evaluation, allocation: Allocation
) -> tuple[Verdict, tuple[Fired, ...]]:
    """`finalize`, and the rule decisions taken on the allocation, for the audit trail."""
    declaration = evaluation.declaration
    requests = {(request.line, request.quota_id): request for request in evaluation.requests}
    post: list[Fired] = []
    facts_by_pack: dict[str, list[dict[str, Any]]] = {}
    pack_of: dict[str, Pack] = {}
    alloc_facts: dict[tuple[int, str], dict[str, Any]] = {}
    for (line_number, quota_id), request in requests.items():
        allocated = allocation.for_line(line_number, quota_id)
        if allocated is None:
            raise EngineError(f"no allocation result for line {line_number} of {quota_id}")
        pack = next(
            item.pack for item in evaluation.applied[line_number] if item.measure.id == quota_id
        )
        facts = allocation_facts(request, allocated, evaluation.as_of)
        alloc_facts[(line_number, quota_id)] = facts
        facts_by_pack.setdefault(pack.sha256, []).append(facts)
        pack_of[pack.sha256] = pack
    for sha, facts_list in facts_by_pack.items():
        for measure, rule, line_number in matched(pack_of[sha], facts_list):
            post.append(
                Fired(
                    pack_of[sha],
                    measure,
                    rule,
                    line_number,
                    alloc_facts[(line_number, measure.id)],
                    evaluation.as_of,
                )
            )
    decisions = (*evaluation.fired, *post)
    outcomes = {item.rule.outcome for item in (*decisions, *evaluation.measure_findings)}
    outcome: Outcome = (
        "rejected" if "reject" in outcomes else "held" if "hold" in outcomes else "accepted"
    )
    if requests and not allocation.applied:
        # all lines or none (SPEC §4 step 5): a declaration whose requests the ledger did
        # not apply owes nothing and is not accepted, whatever rules its pack has
        outcome = "rejected"
    conversion = evaluation.conversion
    if (
        conversion is not None
        and conversion.status == "missing"
        and any(item.measure.rates for items in evaluation.applied.values() for item in items)
    ):
        # values without a rate are never charged at a guessed one (the packs' rule says
        # why); measures that charge nothing (an importation Accord does not assess) need
        # no converted value, and no rule of theirs would say why it was rejected
        outcome = "rejected"
    # built as plain data and validated once, as one `Verdict` (not one model per line
    # and duty): the same values, a fifth of the cost
    lines = [
        _line_verdict(line, evaluation, decisions, allocation, outcome == "accepted")
        for line in evaluation.valued.lines
    ]
    findings = tuple([item.finding for item in (*evaluation.measure_findings, *decisions)])
    verdict = Verdict.model_validate(
        {
            "outcome": outcome,
            "as_of": declaration.accepted_at,
            "rule_packs": tuple([_pack_ref(pack) for pack in evaluation.packs]),
            "lines": lines,
            "total_duty": sum((line["total_duty"] for line in lines), Decimal("0.00")),
            "findings": findings,
            "exchange_rate": conversion.rate if conversion is not None else None,
            "not_assessed": not_assessed(evaluation),
        }
    )
    return verdict, tuple(post)


# The charges not assessed, by the packs applied to each line and the line's goods, import
# type and date (what `concerns` reads). The entry holds the packs, so their ids stay theirs.
NOT_ASSESSED: LRU[tuple[tuple[Pack, ...], tuple[NotAssessed, ...]]] = LRU(maxsize=4_096)


def not_assessed(evaluation: Evaluation) -> tuple[NotAssessed, ...]:
    """The charges the packs applied to the declaration list as not assessed, for the
    lines they may concern, each once, in pack order."""
    declaration = evaluation.declaration
    packs = evaluation.packs
    key = (
        tuple(map(id, packs)),
        declaration.import_type,
        evaluation.as_of,
        tuple(
            [
                (
                    line.tariff_item,
                    line.underlying_tariff_item,
                    tuple([id(item.pack) for item in evaluation.applied[line.line]]),
                )
                for line in declaration.lines
            ]
        ),
    )
    known = NOT_ASSESSED.get(key)
    if known is None:
        known = (packs, _not_assessed(evaluation))
        NOT_ASSESSED.put(key, known)
    return known[1]


def _not_assessed(evaluation: Evaluation) -> tuple[NotAssessed, ...]:
    declaration = evaluation.declaration
    found: dict[tuple[str, str], NotAssessed] = {}
    for pack in evaluation.packs:
        for charge in pack.body.not_assessed:
            concerned = any(
                any(item.pack is pack for item in evaluation.applied[line.line])
                and charge.concerns(
                    line.tariff_item,
                    declaration.import_type,
                    evaluation.as_of,
                    line.underlying_tariff_item,
                )
                for line in declaration.lines
            )
            if concerned:
                found.setdefault(
                    (charge.tax, charge.reference),
                    NotAssessed(tax=charge.tax, reference=charge.reference, reason=charge.reason),
                )
    return tuple(found.values())


@functools.lru_cache(maxsize=256)
def _pack_ref(pack: Pack) -> RulePackRef:
    """The verdict's reference to a pack (frozen, so one per pack serves every verdict)."""
    return RulePackRef(id=pack.id, version=pack.version, sha256=pack.sha256)


_TREATMENT_OF: dict[str, Treatment] = {
    "allocated": "in_quota",
    "split": "split",
    "over_quota": "over_quota",
    "pending": "in_quota",
}


_DUTY_RANK = {
    **{base: 2 for base in CUMULATIVE_BASES},
    "line": 0,
    "in_quota": 0,
    "over_quota": 0,
    "units": 1,
}


def _duty(
    line: DeclarationLine,
    item: Fired,
    effect: DutyEffect,
    in_quota: Decimal,
    so_far: Sequence[dict[str, Any]],
    as_of: date,
) -> dict[str, Any]:
    """One duty line: its base, rate, amount (half-up to the cent) and legal reference.
    A grossed-up duty shows its effective rate (rate x (1 + the other duty's rate))."""
    kind, rate_name, base_kind = effect.type, effect.rate, effect.base
    if base_kind == "line":
        base = line.value_for_duty
    elif base_kind == "in_quota":
        base = _apportion(line.value_for_duty, in_quota, line.quantity)
    elif base_kind == "over_quota":
        base = line.value_for_duty - _apportion(line.value_for_duty, in_quota, line.quantity)
    elif base_kind == "units":
        base = line.quantity
    else:  # value_plus_duties
        base = line.value_for_duty + sum((duty["amount"] for duty in so_far), Decimal("0.00"))
    spec = item.measure.rates[rate_name]
    rate = item.measure.rate_on(rate_name, as_of)
    if effect.gross_up is not None:
        by = [duty["rate"] for duty in so_far if duty["type"] == effect.gross_up]
        if len(by) != 1:
            raise EngineError(
                f"line {line.line}: {item.rule.id} grosses its {kind} up by the line's "
                f"{effect.gross_up}, and the line has {len(by)} of them"
            )
        rate = rate * (1 + by[0])
    return {
        "type": kind,
        "measure": item.measure.id,
        "rate": rate,
        "base": base,
        "amount": (base * rate).quantize(CENT, rounding=ROUND_HALF_UP),
        "per": spec.per,
        "reference": item.finding.reference,
    }


def _line_verdict(
    line: DeclarationLine,
    evaluation: Evaluation,
    decisions: Sequence[Fired],
    allocation: Allocation,
    owed: bool,
) -> dict[str, Any]:
    """One `LineVerdict`, as plain data."""
    applied = evaluation.applied[line.line]
    mine = [item for item in decisions if item.line == line.line]
    treatment: Treatment | None = "not_covered" if not applied else None
    quota_ref = None
    in_quota = over_quota = Decimal(0)
    for measure_in_force in applied:
        allocated = allocation.for_line(line.line, measure_in_force.measure.id)
        if allocated is not None and allocated.status in _TREATMENT_OF:
            treatment = _TREATMENT_OF[allocated.status]
            in_quota, over_quota = Decimal(allocated.in_quota), Decimal(allocated.over_quota)
            quota_ref = {
                "quota_id": allocated.quota_id,
                "period": allocated.period,
                "sub_quota": allocated.sub_quota,
            }
    if treatment is None:
        stated = [item.rule.then.treatment for item in mine if item.rule.then.treatment]
        has_quota = any(each.measure.quota is not None for each in applied)
        treatment = stated[-1] if stated else "over_quota" if has_quota else "not_covered"
    duties: list[dict[str, Any]] = []
    if owed:
        # duties on the value first, then charges per unit, then those on the value plus
        # the duties so far (a tax on the duty-paid value), each in pack and rule order:
        # the order of a broker's accounting (duty, surtax, excise, GST)
        # a grossed-up duty (a deposit that covers the VAT on itself) comes last of all
        for rank in (0, 1, 2, 3):
            for item in mine:
                for effect in item.rule.then.duties:
                    if (3 if effect.gross_up else _DUTY_RANK[effect.base]) != rank:
                        continue
                    duties.append(_duty(line, item, effect, in_quota, duties,
                                        evaluation.as_of))  # fmt: skip
    return {
        "line": line.line,
        "measures": tuple([item.measure.id for item in applied]),
        "treatment": treatment,
        "in_quota_quantity": in_quota,
        "over_quota_quantity": over_quota,
        "quota": quota_ref,
        "duties": duties,
        "total_duty": sum((duty["amount"] for duty in duties), Decimal("0.00")),
    }
