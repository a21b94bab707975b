"""A plain-Python reading of the pack condition language, to check durable-rules against.

    holds(when, fact, parameters, date_fact) -> bool    one rule's `when` against one fact
    firings(pack, facts) -> [(measure, rule, line)]     what `rules.matching.fire` should answer

The engine compiles a rule's `when` to durable-rules patterns (rules/compiler.py) and
asserts facts into its C core; nothing else would notice if the compiled form and the
language disagreed (a `$neq` that matched a missing fact, a dated parameter's branch off
by a day). This module evaluates the same conditions directly from the language as
docs/rule-packs.md states it, without the compiler and without durable-rules, so that a
property test can hold the two to the same answers on facts of every stage.

The language, as read here:

- a plain value is equality with the fact's value (dates as day numbers YYYYMMDD, the
  way the engine states date facts); a missing fact equals nothing;
- `not`, `in`, `not_in` and the comparisons hold only for a fact that is present;
- `absent: true` holds for a missing fact, `absent: false` for a present one;
- `{fact: name}` compares with another fact stated with it, which must be present too;
- `{param: NAME}` reads the parameter's value in force on the stage's date fact
  (`accepted_on`, `as_of`); before its first value, or without the date fact, the
  condition reading it does not hold;
- several keys of one mapping must all hold; `any` holds when one nested condition does,
  `all` when every one does; an empty condition holds for every fact.

Pure: no durable-rules, no Redis, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from rules.facts import DATE_FACT
from rules.measure import Measure, Rule
from rules.pack import Pack
from rules.values import Parameter

_NO_PARAMETERS: Mapping[str, Parameter] = {}

_DATE_TESTS = {"before", "on_or_before", "after", "on_or_after"}
_NUMBER_TESTS = {"lt", "lte", "gt", "gte"}


class OracleError(ValueError):
    """A condition outside the language (the loader refuses such packs; so does this)."""


def _day(value: date) -> int:
    return value.year * 10000 + value.month * 100 + value.day


def _plain(value: Any) -> Any:
    """An operand as the engine states facts: a date as its day number."""
    return _day(value) if isinstance(value, date) else value


def _same(left: Any, right: Any) -> bool:
    """JSON equality: a boolean is not the number 1, a number is not its text."""
    return type(left) is type(right) and bool(left == right)


def _compare(op: str, left: Any, right: Any) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return False
    if not isinstance(left, int) or not isinstance(right, int):
        return False
    if op in ("lt", "before"):
        return left < right
    if op in ("lte", "on_or_before"):
        return left <= right
    if op in ("gt", "after"):
        return left > right
    return left >= right  # gte, on_or_after


class _Reader:
    """One fact, and what a condition on it may read: the pack's parameters as of the
    fact's own date."""

    def __init__(
        self, fact: Mapping[str, Any], parameters: Mapping[str, Parameter], date_fact: str
    ) -> None:
        self.fact = fact
        self.parameters = parameters
        self.date_fact = date_fact

    def parameter(self, name: str) -> Any:
        """The parameter's value in force on the fact's date, or None (no value then)."""
        parameter = self.parameters.get(name)
        if parameter is None:
            raise OracleError(f"unknown parameter {name!r}")
        stated = self.fact.get(self.date_fact)
        if not isinstance(stated, int) or isinstance(stated, bool):
            return None
        try:
            day = date(stated // 10000, stated // 100 % 100, stated % 100)
        except ValueError:
            return None
        return parameter.value_on(day)

    def operand(self, value: Any) -> tuple[bool, Any]:
        """(known, value): a `{param: NAME}` without a value on the date is unknown."""
        if isinstance(value, Mapping) and set(value) == {"param"}:
            found = self.parameter(str(value["param"]))
            return found is not None, found
        return True, value

    def holds(self, condition: Any) -> bool:
        if not isinstance(condition, Mapping):
            raise OracleError("a condition is a mapping of facts to tests")
        return all(self.clause(name, test) for name, test in condition.items())

    def clause(self, name: str, test: Any) -> bool:
        if name == "any":
            return any(self.holds(item) for item in test)
        if name == "all":
            return all(self.holds(item) for item in test)
        if isinstance(test, Mapping) and set(test) != {"param"}:
            return all(self.test(name, op, value) for op, value in test.items())
        known, value = self.operand(test)
        return known and name in self.fact and _same(self.fact[name], _plain(value))

    def test(self, name: str, op: str, value: Any) -> bool:
        present = name in self.fact
        if op == "absent":
            if not isinstance(value, bool):
                raise OracleError("'absent' takes true or false")
            return present is not value
        known, operand = self.operand(value)
        if not known or not present:
            return False
        stated = self.fact[name]
        if op == "not":
            return not _same(stated, _plain(operand))
        if op in ("in", "not_in"):
            members = [_plain(item) for item in operand]
            inside = any(_same(stated, item) for item in members)
            return inside if op == "in" else not inside
        if op in _DATE_TESTS:
            if not isinstance(operand, date):
                raise OracleError(f"'{op}' takes a date")
            return _compare(op, stated, _day(operand))
        if op in _NUMBER_TESTS:
            if isinstance(operand, Mapping) and set(operand) == {"fact"}:
                other = str(operand["fact"])
                if other not in self.fact:
                    return False
                operand = self.fact[other]
            return _compare(op, stated, operand)
        raise OracleError(f"unknown test {op!r}")


def holds(
    condition: Mapping[str, Any],
    fact: Mapping[str, Any],
    parameters: Mapping[str, Parameter] = _NO_PARAMETERS,
    date_fact: str = "accepted_on",
) -> bool:
    """Whether `condition` (a rule's `when`) holds for one stated fact."""
    return _Reader(fact, parameters, date_fact).holds(condition)


def rule_holds(pack: Pack, measure: Measure, rule: Rule, fact: Mapping[str, Any]) -> bool:
    """Whether a rule of `pack` fires for a fact: the fact is of the rule's stage and
    measure, and the rule's `when` holds for it."""
    if fact.get("stage") != rule.stage or fact.get("measure") != measure.id:
        return False
    return holds(rule.when, fact, pack.body.parameters, DATE_FACT[rule.stage])


def firings(pack: Pack, facts: Sequence[Mapping[str, Any]]) -> list[tuple[Measure, Rule, int]]:
    """The (measure, rule, line) a pack's rules give for the facts, as `rules.matching.fire`
    orders them: by line, then by the rule's place in the pack, each once."""
    order = [(measure, rule) for measure in pack.measures for rule in measure.rules]
    found: dict[tuple[int, int], tuple[Measure, Rule, int]] = {}
    for fact in facts:
        line = int(fact["line"])
        for position, (measure, rule) in enumerate(order):
            if rule_holds(pack, measure, rule, fact):
                found.setdefault((line, position), (measure, rule, line))
    return [found[key] for key in sorted(found)]
