"""From pack conditions to durable-rules rulesets.

A rule's `when` is a mapping of fact names to tests, in a small language that hides
durable-rules' own (bare-key equality, `$neq`, `$nex`, `$m` references):

    import_type: commercial              equal
    permit: {not: valid}                 not equal
    permit: {in: [expired, unregistered]}  one of
    remission_claim: {not_in: [...]}     none of
    shipment_date: {before: 2024-10-01}  dates: before, on_or_before, after, on_or_after
    days_since_publication: {gt: 60}     numbers: lt, lte, gt, gte; the value may be {fact: name}
    shipment_date: {absent: true}        the fact is missing (true) or present (false)
    any: [{...}, {...}]                  at least one of the nested conditions
    all: [{...}, {...}]                  every nested condition

Several keys in one mapping must all hold. Dates compile to integers (YYYYMMDD) so
durable-rules compares them as numbers; the engine states date facts the same way.
Every compiled rule also matches its stage and its measure, so a rule only ever sees
the facts of its own measure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from rules.errors import PackError

_DATE_OPS = {"before": "$lt", "on_or_before": "$lte", "after": "$gt", "on_or_after": "$gte"}
_NUMBER_OPS = {"lt": "$lt", "lte": "$lte", "gt": "$gt", "gte": "$gte"}
_OPS = {"not", "in", "not_in", "absent", *_DATE_OPS, *_NUMBER_OPS}

Scalar = str | int | bool


def day_number(day: date) -> int:
    """A date as the integer YYYYMMDD, ordered like the date itself."""
    return day.year * 10000 + day.month * 100 + day.day


def _scalar(value: Any, file: str, key: str) -> Scalar:
    if isinstance(value, date):
        return day_number(value)
    if isinstance(value, bool | int | str):
        return value
    raise PackError(file, key, f"{value!r} is not a string, whole number, boolean or date")


def check_condition(condition: Any, file: str, key: str) -> None:
    """Raise `PackError` naming the key if the condition is not in the language."""
    compile_condition(condition, file, key)


def compile_condition(condition: Any, file: str = "<pack>", key: str = "when") -> list[Any]:
    """A condition as a list of durable-rules expressions that must all hold."""
    if not isinstance(condition, Mapping):
        raise PackError(file, key, "a condition is a mapping of facts to tests")
    terms: list[Any] = []
    for name, test in condition.items():
        where = f"{key}.{name}"
        if name in ("any", "all"):
            if not isinstance(test, list) or not test:
                raise PackError(file, where, f"'{name}' takes a non-empty list of conditions")
            nested = [
                _conjunction(compile_condition(item, file, f"{where}[{index}]"))
                for index, item in enumerate(test)
            ]
            terms.append({"$or" if name == "any" else "$and": nested})
        elif not isinstance(name, str) or not name.isidentifier():
            raise PackError(file, where, "a fact name is a lower-case identifier")
        elif isinstance(test, Mapping):
            terms.extend(_compile_test(name, test, file, where))
        else:
            terms.append({name: _scalar(test, file, where)})
    return terms


def _conjunction(terms: list[Any]) -> Any:
    if not terms:
        return {"$ex": {"stage": 1}}  # an empty condition holds for every fact
    return terms[0] if len(terms) == 1 else {"$and": terms}


def _compile_test(name: str, test: Mapping[str, Any], file: str, key: str) -> list[Any]:
    terms: list[Any] = []
    for op, value in test.items():
        where = f"{key}.{op}"
        if op not in _OPS:
            raise PackError(file, where, f"unknown test {op!r}; known: {', '.join(sorted(_OPS))}")
        if op == "not":
            terms.append({"$neq": {name: _scalar(value, file, where)}})
        elif op in ("in", "not_in"):
            if not isinstance(value, list) or not value:
                raise PackError(file, where, f"'{op}' takes a non-empty list")
            values = [_scalar(item, file, where) for item in value]
            if op == "in":
                terms.append({"$or": [{name: item} for item in values]})
            else:
                terms.append({"$and": [{"$neq": {name: item}} for item in values]})
        elif op == "absent":
            if not isinstance(value, bool):
                raise PackError(file, where, "'absent' takes true or false")
            terms.append({"$nex" if value else "$ex": {name: 1}})
        elif op in _DATE_OPS:
            if not isinstance(value, date):
                raise PackError(file, where, f"'{op}' takes an ISO date (YYYY-MM-DD)")
            terms.append({_DATE_OPS[op]: {name: day_number(value)}})
        else:
            if isinstance(value, Mapping) and set(value) == {"fact"}:
                operand: Any = {"$m": str(value["fact"])}
            elif isinstance(value, int) and not isinstance(value, bool):
                operand = value
            else:
                raise PackError(file, where, f"'{op}' takes a whole number or {{fact: name}}")
            terms.append({_NUMBER_OPS[op]: {name: operand}})
    return terms


def compile_rule(stage: str, measure_id: str, condition: Mapping[str, Any]) -> dict[str, Any]:
    """The durable-rules pattern of one rule: its stage, its measure and its condition."""
    terms = [{"stage": stage}, {"measure": measure_id}, *compile_condition(condition)]
    return {"all": [{"m": {"$and": terms}}]}


Action = Callable[[Any], None]


def compile_ruleset(
    rules: Mapping[str, tuple[str, str, Mapping[str, Any]]], action: Callable[[str], Action]
) -> dict[str, Any]:
    """A durable-rules ruleset body: one entry per rule key, each with its own action.

    `rules` maps a rule key to (stage, measure id, condition); `action(key)` builds the
    callable that records the firing, since durable-rules does not tell an action which
    rule fired it.
    """
    return {
        key: {**compile_rule(stage, measure_id, condition), "run": action(key)}
        for key, (stage, measure_id, condition) in rules.items()
    }
