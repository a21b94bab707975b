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
    accepted_on: {on_or_before: {param: REMISSION-LAST-DAY}}   a dated parameter
    remission_claim: {in: {param: REMISSION-CITATIONS}}

Several keys in one mapping must all hold. An operand `{param: NAME}` names one of the
pack's dated parameters; it compiles to one branch per dated value, each guarded by the
stage's date fact (`accepted_on`, or `as_of` for measure checks), so that a declaration
is held to the value in force on its own date.
Dates compile to integers (YYYYMMDD) so
durable-rules compares them as numbers; the engine states date facts the same way.
Every compiled rule also matches its stage and its measure, so a rule only ever sees
the facts of its own measure.

`reads(compiled)` names the facts a compiled pattern reads, walking the very expression
durable-rules is given (so nothing is kept in step by hand): the engine decides a fact
by those names alone and caches the firing (rules/matching.py).
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any, Protocol

from rules.errors import PackError

DATE_OPS = {"before": "$lt", "on_or_before": "$lte", "after": "$gt", "on_or_after": "$gte"}
NUMBER_OPS = {"lt": "$lt", "lte": "$lte", "gt": "$gt", "gte": "$gte"}
# the durable-rules operators this compiler emits: connectives, and tests of one field
_CONNECTIVES = frozenset({"$and", "$or"})
_FIELD_TESTS = frozenset({"$neq", "$ex", "$nex", *DATE_OPS.values(), *NUMBER_OPS.values()})
_OPS = {"not", "in", "not_in", "absent", *DATE_OPS, *NUMBER_OPS}

Scalar = str | int | bool


class ParameterValues(Protocol):
    """What the compiler needs of a pack parameter: its values by effective range."""

    def periods(self) -> list[tuple[date, date | None, Any]]: ...


Parameters = Mapping[str, ParameterValues]
_NO_PARAMETERS: Parameters = {}


def day_number(day: date) -> int:
    """A date as the integer YYYYMMDD, ordered like the date itself."""
    return day.year * 10000 + day.month * 100 + day.day


def _scalar(value: Any, file: str, key: str) -> Scalar:
    if isinstance(value, date):
        return day_number(value)
    if isinstance(value, bool | int | str):
        return value
    raise PackError(file, key, f"{value!r} is not a string, whole number, boolean or date")


def _param(value: Any) -> str | None:
    if isinstance(value, Mapping) and set(value) == {"param"} and isinstance(value["param"], str):
        return value["param"]
    return None


class _Context:
    """Where a condition is compiled: the file, the pack's parameters and the fact the
    stage dates by."""

    def __init__(self, file: str, parameters: Parameters, date_fact: str) -> None:
        self.file = file
        self.parameters = parameters
        self.date_fact = date_fact

    def dated(self, name: str, key: str, build: Callable[[Any], Any]) -> Any:
        """`build(value)` for each dated value of a parameter, guarded by its range."""
        parameter = self.parameters.get(name)
        if parameter is None:
            close = difflib.get_close_matches(name, list(self.parameters), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise PackError(self.file, key, f"unknown parameter {name!r} in this pack{hint}")
        branches = []
        for start, end, value in parameter.periods():
            guard: list[Any] = [{"$gte": {self.date_fact: day_number(start)}}]
            if end is not None:
                guard.append({"$lte": {self.date_fact: day_number(end)}})
            try:
                term = build(value)
            except PackError as exc:
                problem = f"parameter {name!r} from {start}: {exc.problem}"
                raise PackError(self.file, key, problem) from None
            branches.append({"$and": [*guard, term]})
        return branches[0] if len(branches) == 1 else {"$or": branches}


def check_condition(
    condition: Any,
    file: str,
    key: str,
    parameters: Parameters = _NO_PARAMETERS,
    date_fact: str = "accepted_on",
) -> None:
    """Raise `PackError` naming the key if the condition is not in the language."""
    compile_condition(condition, file, key, parameters, date_fact)


def compile_condition(
    condition: Any,
    file: str = "<pack>",
    key: str = "when",
    parameters: Parameters = _NO_PARAMETERS,
    date_fact: str = "accepted_on",
) -> list[Any]:
    """A condition as a list of durable-rules expressions that must all hold."""
    return _compile(condition, key, _Context(file, parameters, date_fact))


def _compile(condition: Any, key: str, context: _Context) -> list[Any]:
    file = context.file
    if not isinstance(condition, Mapping):
        raise PackError(file, key, "a condition is a mapping of facts to tests")
    terms: list[Any] = []
    for name, test in condition.items():
        where = f"{key}.{name}"
        if name in ("any", "all"):
            if not isinstance(test, list) or not test:
                raise PackError(file, where, f"'{name}' takes a non-empty list of conditions")
            nested = [
                _conjunction(_compile(item, f"{where}[{index}]", context))
                for index, item in enumerate(test)
            ]
            terms.append({"$or" if name == "any" else "$and": nested})
        elif not isinstance(name, str) or not name.isidentifier():
            raise PackError(file, where, "a fact name is a lower-case identifier")
        elif _param(test) is not None:
            equal = functools.partial(_equal, name, file, where)
            terms.append(context.dated(str(_param(test)), where, equal))
        elif isinstance(test, Mapping):
            terms.extend(_compile_test(name, test, where, context))
        else:
            terms.append({name: _scalar(test, file, where)})
    return terms


def _equal(name: str, file: str, where: str, value: Any) -> Any:
    return {name: _scalar(value, file, where)}


def _conjunction(terms: list[Any]) -> Any:
    if not terms:
        return {"$ex": {"stage": 1}}  # an empty condition holds for every fact
    return terms[0] if len(terms) == 1 else {"$and": terms}


def _members(op: str, name: str, values: list[Scalar]) -> Any:
    if op == "in":
        return {"$or": [{name: item} for item in values]}
    return {"$and": [{"$neq": {name: item}} for item in values]}


def _compile_test(name: str, test: Mapping[str, Any], key: str, context: _Context) -> list[Any]:
    terms: list[Any] = []
    for op, value in test.items():
        where = f"{key}.{op}"
        if op not in _OPS:
            raise PackError(
                context.file, where, f"unknown test {op!r}; known: {', '.join(sorted(_OPS))}"
            )
        ref = _param(value)
        build = functools.partial(_term, op, name, context.file, where)
        terms.append(build(value) if ref is None else context.dated(ref, where, build))
    return terms


def _term(op: str, name: str, file: str, where: str, value: Any) -> Any:
    """One test with a literal operand (or a parameter's value, already typed)."""
    if op == "not":
        return {"$neq": {name: _scalar(value, file, where)}}
    if op in ("in", "not_in"):
        if not isinstance(value, list | tuple) or not value:
            raise PackError(file, where, f"'{op}' takes a non-empty list")
        return _members(op, name, [_scalar(item, file, where) for item in value])
    if op == "absent":
        if not isinstance(value, bool):
            raise PackError(file, where, "'absent' takes true or false")
        return {"$nex" if value else "$ex": {name: 1}}
    if op in DATE_OPS:
        if not isinstance(value, date):
            raise PackError(file, where, f"'{op}' takes an ISO date (YYYY-MM-DD)")
        return {DATE_OPS[op]: {name: day_number(value)}}
    if isinstance(value, Mapping) and set(value) == {"fact"}:
        # durable-rules holds a comparison with a missing field of the message as met
        # (tests/rules/test_oracle.py): the referenced fact must be present too
        ref = str(value["fact"])
        return {"$and": [{"$ex": {ref: 1}}, {NUMBER_OPS[op]: {name: {"$m": ref}}}]}
    if not isinstance(value, int) or isinstance(value, bool):
        raise PackError(
            file, where, f"'{op}' takes a whole number, {{fact: name}} or {{param: NAME}}"
        )
    return {NUMBER_OPS[op]: {name: value}}


def compile_rule(
    stage: str,
    measure_id: str,
    condition: Mapping[str, Any],
    parameters: Parameters = _NO_PARAMETERS,
    date_fact: str = "accepted_on",
) -> dict[str, Any]:
    """The durable-rules pattern of one rule: its stage, its measure and its condition."""
    terms = [
        {"stage": stage},
        {"measure": measure_id},
        *compile_condition(condition, "<pack>", "when", parameters, date_fact),
    ]
    return {"all": [{"m": {"$and": terms}}]}


Action = Callable[[Any], None]


def compile_ruleset(
    rules: Mapping[str, tuple[str, str, Mapping[str, Any]]],
    action: Callable[[str], Action],
    parameters: Parameters = _NO_PARAMETERS,
    date_facts: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A durable-rules ruleset body: one entry per rule key, each with its own action.

    `rules` maps a rule key to (stage, measure id, condition); `action(key)` builds the
    callable that records the firing, since durable-rules does not tell an action which
    rule fired it.
    """
    return {
        key: {
            **compile_rule(
                stage,
                measure_id,
                condition,
                parameters,
                (date_facts or {}).get(stage, "accepted_on"),
            ),
            "run": action(key),
        }
        for key, (stage, measure_id, condition) in rules.items()
    }


def reads(compiled: Mapping[str, Any]) -> frozenset[str]:
    """The fact names a compiled rule (`compile_rule`'s pattern, with or without its
    `run`) reads: every field tested, and every field an operand refers to (`$m`).

    Any operator this module does not emit is an error rather than a name skipped, so
    that a fact decided by fewer names than its rules read can never be cached."""
    names: set[str] = set()

    def operand(value: Any) -> None:
        if isinstance(value, Mapping):
            if set(value) != {"$m"} or not isinstance(value["$m"], str):
                raise ValueError(f"unknown operand {value!r} in a compiled rule")
            names.add(value["$m"])

    def walk(expression: Any) -> None:
        if not isinstance(expression, Mapping):
            raise ValueError(f"{expression!r} is not a compiled expression")
        for key, value in expression.items():
            if key in _CONNECTIVES:
                for item in value:
                    walk(item)
            elif key in _FIELD_TESTS:
                for name, tested in value.items():
                    names.add(name)
                    operand(tested)
            elif key.startswith("$"):
                raise ValueError(f"unknown operator {key!r} in a compiled rule")
            else:  # bare-key equality
                names.add(key)
                operand(value)

    for key, value in compiled.items():
        if key == "run":
            continue
        if key not in ("all", "any"):
            raise ValueError(f"unknown rule key {key!r} in a compiled rule")
        for pattern in value:  # each {alias: expression}
            for expression in pattern.values():
                walk(expression)
    return frozenset(names)
