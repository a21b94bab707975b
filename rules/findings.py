"""Findings: one rule decision (`Fired`) and the finding it gives, with the assumptions
it rests on. A finding is a pure function of the rule, the line, the date and the facts
its templates name, so findings are kept in `FINDINGS` and shared between verdicts.
"""

from __future__ import annotations

import functools
import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from rules.currency import conversion_assumptions
from rules.measure import Measure, Rule
from rules.memos import LRU, once
from rules.pack import Pack
from rules.values import Parameter
from schemas.verdict import Finding

EXCHANGE_FACTS = frozenset(
    {"exchange_rate", "exchange_rate_value", "exchange_rate_date", "exchange_rate_basis"}
)
_ABSENT = object()  # a name the fact does not state (distinct from any JSON value)
# Findings, by rule, line, date and the facts their templates name (see `Fired.finding`).
# A finding with its message and reference is about 1.6 KB: full, this holds about 7 MB
# (measured over 20,000 declarations of the bench mix; docs/performance.md).
FINDINGS: LRU[Finding] = LRU(maxsize=4_096)


@dataclass(frozen=True)
class Fired:
    """One rule decision: the rule, where it fired and the facts it saw."""

    pack: Pack
    measure: Measure
    rule: Rule
    line: int | None
    facts: Mapping[str, Any]
    as_of: date

    @once
    def assumptions(self) -> tuple[str, ...]:
        """The assumptions this decision rests on, as of its date."""
        found = resting_on(self.pack.body.parameters, self.measure, self.rule, self.as_of)
        basis = self.facts.get("exchange_rate_basis")
        if basis is None or not names_read(self.rule)[0] & EXCHANGE_FACTS:
            return found
        # a finding on a conversion rests on the pack's rule for which quote prevails
        extra = conversion_assumptions(self.pack, basis)
        return (*found, *(item for item in extra if item not in found))

    @once
    def finding(self) -> Finding:
        """The finding this decision gives: a pure function of the rule, the line, the
        date and the facts its templates name, so kept in `FINDINGS` by those (findings
        are frozen and shared; measure checks, between verdicts, were already)."""
        names = _placeholders(self.rule.message, self.rule.reference)
        values = tuple([self.facts.get(name, _ABSENT) for name in names])
        # with the values' types, as FIRINGS: True and 1 are equal keys but read apart
        # the conversion's basis decides assumptions even where no template names it
        key = (
            self.pack.sha256, self.measure.id, self.rule.id, self.line, self.as_of,
            values, tuple(map(type, values)), self.facts.get("exchange_rate_basis"),
        )  # fmt: skip
        try:
            found = FINDINGS.get(key)
        except TypeError:  # a fact that is no JSON scalar: built, not kept
            return self._build_finding()
        if found is None:
            found = self._build_finding()
            FINDINGS.put(key, found)
        return found

    def _build_finding(self) -> Finding:
        return Finding(
            rule=self.rule.id,
            severity=self.rule.severity,
            line=self.line,
            message=self.rule.message.format_map(_Blank(self.facts)),
            reference=self.rule.reference.format_map(_Blank(self.facts)),
            measure=self.measure.id,
            pack=self.pack.id,
            pack_version=self.pack.version,
            assumptions=self.assumptions,
        )


@functools.lru_cache(maxsize=1024)
def _placeholders(*templates: str) -> tuple[str, ...]:
    """The fact names message templates read, in order, each once."""
    return tuple(
        dict.fromkeys(
            field
            for template in templates
            for _, field, _, _ in string.Formatter().parse(template)
            if field
        )
    )


class _Blank(dict[str, Any]):
    """Message templates name facts; a fact that is absent reads as a dash."""

    def __missing__(self, key: str) -> str:
        return "-"


def names_read(rule: Rule) -> tuple[frozenset[str], frozenset[str]]:
    """The facts and the parameters a rule reads: in its `when` (operands included) and in
    the placeholders of its message and reference. (What a compiled rule reads, for the
    projection its firings are remembered by, is `rules.compiler.reads`.)"""
    facts: set[str] = set()
    params: set[str] = set()

    def operand(value: Any) -> None:
        if isinstance(value, Mapping) and set(value) == {"param"}:
            params.add(str(value["param"]))
        elif isinstance(value, Mapping) and set(value) == {"fact"}:
            facts.add(str(value["fact"]))

    def walk(condition: Mapping[str, Any]) -> None:
        for name, test in condition.items():
            if name in ("any", "all"):
                for item in test:
                    walk(item)
                continue
            facts.add(name)
            operand(test)
            if isinstance(test, Mapping):
                for value in test.values():
                    operand(value)

    walk(rule.when)
    facts.update(_placeholders(rule.message, rule.reference))
    return frozenset(facts), frozenset(params)


def resting_on(
    parameters: Mapping[str, Parameter], measure: Measure, rule: Rule, day: date
) -> tuple[str, ...]:
    """The assumptions a rule's finding rests on, as of `day`: the rule's own, and those of
    every parameter value, rate, quota figure and arrangement value it reads."""
    facts, params = names_read(rule)
    found: list[str | None] = [rule.assumption, *rule.assumptions, measure.effective.assumption]
    if rule.stage != "measure":
        found.append(measure.scope.assumption)
    remission = measure.remission
    if remission is not None and facts & {"remission", "remission_item"}:
        found.append(remission.assumption)
        found.extend(entry.assumption for entry in remission.items if entry.effective.contains(day))
    for name in sorted(params):
        entry = parameters[name].entry_on(day) if name in parameters else None
        found.append(entry.assumption if entry else None)
    rates = {duty.rate for duty in rule.then.duties}
    rates.update(
        name for name in measure.rates if f"rate_{name}" in facts or f"rate_{name}_bp" in facts
    )
    for name in sorted(rates):
        try:
            found.append(measure.rate_entry(name, day)[1])
        except ValueError:
            continue
    quota = measure.quota
    if quota is not None:
        if rule.then.claim_quota or rule.stage == "allocation" or "over_quota" in facts:
            found.extend(quota.all_assumptions())
        permits = quota.permits
        # a finding about a line's permit rests on how permits are issued, dated and used
        about_permit = (
            facts & {"permit", "permit_number"}
            or rule.then.claim_quota
            or (rule.stage == "allocation" and quota.drawn_at == "permit")
        )
        if permits is not None and about_permit:
            found.extend(permits.all_assumptions())
        drawing = rule.then.claim_quota or rule.stage == "allocation"
        found.extend(sub.assumption for sub in quota.sub_quotas if drawing or sub.name in facts)
    arrangement = measure.arrangement
    if arrangement is not None and rule.stage == "measure":
        if "classification" in facts:
            found.append(arrangement.classification_assumption)
        if facts & {"bound_rate", "bound_rate_bp"}:
            found.append(arrangement.bound_rate_assumption)
        if any(name.startswith("counterparts_") for name in facts):
            found.append(arrangement.counterparts_assumption)
    return tuple(dict.fromkeys(item for item in found if item is not None))
