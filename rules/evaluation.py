"""Evaluation of one declaration against the rule packs, as of its `accepted_at`: steps
2-4 of SPEC §4 (measures in force per line, line rules, measure checks, quota requests).

    evaluate(declaration, packs, permits) -> Evaluation

A declaration is held to the packs of its own jurisdiction; the linkage checks look at
every pack, since a measure's counterparts are the other party's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from rules.currency import Conversion, convert
from rules.declaration_facts import line_facts
from rules.errors import EngineError
from rules.findings import Fired
from rules.matching import matched
from rules.measure import Measure
from rules.measure_checks import measure_checks
from rules.memos import LRU, once
from rules.pack import Pack
from rules.quota import quota_year_of, terms_of, terms_on
from schemas.declaration import Declaration, DeclarationLine
from schemas.permit import Permit
from schemas.quota import QuotaRequest
from schemas.rates import RateQuote

# The measures in force for a line, by the packs, the line's scope inputs and the date.
IN_FORCE: LRU[tuple[tuple[Pack, ...], tuple[Applied, ...]]] = LRU(maxsize=4_096)


@dataclass(frozen=True)
class Applied:
    """A measure in force for a line, and the pack it comes from."""

    pack: Pack
    measure: Measure


@dataclass(frozen=True)
class Evaluation:
    """Everything `finalize` needs, and everything an auditor may ask about."""

    declaration: Declaration
    as_of: date
    applied: Mapping[int, tuple[Applied, ...]]
    fired: tuple[Fired, ...]
    measure_findings: tuple[Fired, ...]
    requests: tuple[QuotaRequest, ...]
    permits: Mapping[str, Permit] = dataclasses.field(default_factory=dict)
    conversion: Conversion | None = None
    rates: tuple[RateQuote, ...] = ()  # the loaded quotes the evaluation was handed

    @property
    def valued(self) -> Declaration:
        """The declaration with its values in the jurisdiction's currency."""
        return self.conversion.valued if self.conversion is not None else self.declaration

    @once
    def packs(self) -> tuple[Pack, ...]:
        seen: dict[str, Pack] = {}
        for applied in self.applied.values():
            for item in applied:
                seen[item.pack.sha256] = item.pack
        return tuple(sorted(seen.values(), key=lambda pack: pack.id))

    @once
    def blocked(self) -> str | None:
        """'reject' or 'hold' when the rules stop the declaration before allocation."""
        outcomes = {item.rule.outcome for item in (*self.fired, *self.measure_findings)}
        return "reject" if "reject" in outcomes else "hold" if "hold" in outcomes else None


def measures_in_force(
    packs: Iterable[Pack], line: DeclarationLine, import_type: str, as_of: date
) -> tuple[Applied, ...]:
    packs = tuple(packs)
    # keyed by the packs' identities; the entry holds the packs, so no other object can
    # take one of those ids while it is kept
    underlying = line.underlying_tariff_item
    key = (tuple(map(id, packs)), line.tariff_item, underlying, line.origin, import_type, as_of)
    found = IN_FORCE.get(key)
    if found is None:
        found = (
            packs,
            _measures_in_force(
                packs, line.tariff_item, line.origin, import_type, as_of, underlying
            ),
        )
        IN_FORCE.put(key, found)
    return found[1]


def _measures_in_force(
    packs: Iterable[Pack],
    tariff_item: str,
    origin: str,
    import_type: str,
    as_of: date,
    underlying: str | None = None,
) -> tuple[Applied, ...]:
    applied = tuple(
        Applied(pack, measure)
        for pack in packs
        for measure in pack.measures
        if measure.effective.contains(as_of)
        and measure.in_scope(tariff_item, origin, import_type, underlying)
    )
    # a measure in force for the line may suspend others of its pack for it
    suspended = {(item.pack.sha256, name) for item in applied for name in item.measure.suspends}
    return tuple(item for item in applied if (item.pack.sha256, item.measure.id) not in suspended)


def in_jurisdiction(packs: Iterable[Pack], jurisdiction: str) -> tuple[Pack, ...]:
    """The packs that apply to declarations made to one jurisdiction's customs."""
    return tuple(pack for pack in packs if pack.body.jurisdiction == jurisdiction)


def evaluate(
    declaration: Declaration,
    packs: Sequence[Pack],
    permits: Mapping[str, Permit],
    counterpart_packs: Sequence[Pack] = (),
    rates: Sequence[RateQuote] = (),
) -> Evaluation:
    """Steps 2-4: measures in force per line, line rules, measure checks, quota requests.
    The linkage checks look for counterparts in `packs` and `counterpart_packs` (a replay
    with a declaration's own packs passes the loaded ones there). `rates` are the loaded
    exchange-rate quotes of `rate_query`'s window (the trail keeps them, for replay)."""
    as_of = declaration.accepted_on
    own = in_jurisdiction(packs, declaration.jurisdiction)
    conversion = convert(declaration, own, rates)
    valued = {line.line: line for line in conversion.valued.lines}
    foreign = conversion.status != "not_needed"
    applied = {
        line.line: tuple(
            item
            for item in measures_in_force(own, line, declaration.import_type, as_of)
            if foreign or item.measure.scope.currency == "any"
        )
        for line in declaration.lines
    }
    asked: dict[str, Decimal] = {}
    for line in declaration.lines:
        if line.permit_number is not None:
            asked[line.permit_number] = asked.get(line.permit_number, Decimal(0)) + line.quantity
    facts_by_pack: dict[str, list[dict[str, Any]]] = {}
    pack_by_sha: dict[str, Pack] = {}
    all_facts: dict[tuple[int, str], dict[str, Any]] = {}
    for line in declaration.lines:
        for item in applied[line.line]:
            facts = line_facts(
                declaration, valued[line.line], item.measure, permits, asked, conversion
            )
            facts_by_pack.setdefault(item.pack.sha256, []).append(facts)
            pack_by_sha[item.pack.sha256] = item.pack
            all_facts[(line.line, item.measure.id)] = facts
    fired: list[Fired] = []
    for sha, facts_list in facts_by_pack.items():
        pack = pack_by_sha[sha]
        for measure, rule, line_number in matched(pack, facts_list):
            fired.append(
                Fired(pack, measure, rule, line_number, all_facts[(line_number, measure.id)], as_of)
            )
    checks: list[Fired] = []
    seen_measures: set[tuple[str, str]] = set()
    looked_in = (*packs, *counterpart_packs)
    for items in applied.values():
        for item in items:
            if (item.pack.sha256, item.measure.id) not in seen_measures:
                seen_measures.add((item.pack.sha256, item.measure.id))
                checks.extend(measure_checks(item.pack, item.measure, as_of, looked_in))
    evaluation = Evaluation(
        declaration=declaration,
        as_of=as_of,
        applied=applied,
        fired=tuple(fired),
        measure_findings=tuple(checks),
        requests=(),
        permits=permits,
        conversion=conversion,
        rates=tuple(rates),
    )
    if evaluation.blocked is not None:
        return evaluation  # a rejected or held declaration asks nothing of any quota
    return dataclasses.replace(evaluation, requests=_quota_requests(evaluation))


def _quota_requests(evaluation: Evaluation) -> tuple[QuotaRequest, ...]:
    declaration = evaluation.declaration
    lines = {line.line: line for line in declaration.lines}
    requests = []
    for item in evaluation.fired:
        if not item.rule.then.claim_quota or item.line is None:
            continue
        quota = item.measure.quota
        if quota is None:
            raise EngineError(f"rule {item.rule.id} claims quota but {item.measure.id} has none")
        line = lines[item.line]
        if line.unit != quota.unit or line.quantity != line.quantity.to_integral_value():
            # a pack must refuse such lines itself (see ELIG-EVTRQ-UNIT): units are counted whole
            raise EngineError(
                f"line {line.line} claims {item.measure.id} in {line.quantity} {line.unit}; "
                f"the quota counts whole {quota.unit}"
            )
        affordable = [sub.name for sub in quota.sub_quotas if item.facts.get(sub.name)]
        permit = (
            evaluation.permits.get(line.permit_number)
            if quota.permits is not None and line.permit_number is not None
            else None
        )
        if quota.drawn_at == "permit" and permit is not None and permit.period is not None:
            # the permit's units were drawn from its own quota year
            year = quota_year_of(item.measure, date.fromisoformat(permit.period))
            terms = terms_of(item.measure, max(year, 1))
        else:
            terms = terms_on(item.measure, evaluation.as_of)
        requests.append(
            QuotaRequest(
                quota=terms,
                line=line.line,
                quantity=int(line.quantity),
                sub_quota=affordable[0] if affordable else None,
                over_quota="reject" if quota.over_quota == "reject" else "rate",
                permit_number=line.permit_number if quota.permits is not None else None,
                vins=tuple(line.vins or ()),
                account=(
                    declaration.importer.business_number
                    if quota.mode == "importer_allocation"
                    else None
                ),
            )
        )
    return tuple(requests)
