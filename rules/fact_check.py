"""The pack loader's check of one rule against the facts it may name: every `when` key,
every operand and every message placeholder is held to the declared facts of the rule's
stage and measure (rules/facts.py) and to the pack's parameters, so that a misspelt fact
is an error at load time instead of a rule that never fires or a message that prints a
dash. Every error names the file and the key.
"""

from __future__ import annotations

import difflib
import string
from collections.abc import Mapping
from datetime import date
from typing import Any

from rules.compiler import DATE_OPS, NUMBER_OPS
from rules.errors import PackError
from rules.facts import Fact
from rules.values import Parameter


def _unknown(kind: str, name: str, known: Mapping[str, Any], scope: str) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown {kind} {name!r} {scope}{hint}"


def _param_ref(value: Any) -> str | None:
    if isinstance(value, Mapping) and set(value) == {"param"}:
        return str(value["param"])
    return None


class ConditionCheck:
    """Holds one rule's `when` to the declared facts of its stage and measure, and to the
    pack's parameters; every error names the file and the key."""

    def __init__(
        self,
        facts: Mapping[str, Fact],
        parameters: Mapping[str, Parameter],
        file: str,
        stage: str,
    ) -> None:
        self.facts = facts
        self.parameters = parameters
        self.file = file
        self.stage = stage
        self.params_read: set[str] = set()
        self.facts_read: set[str] = set()

    def fail(self, key: str, problem: str) -> PackError:
        return PackError(self.file, key, problem)

    def fact(self, name: str, key: str) -> Fact:
        fact = self.facts.get(name)
        if fact is None:
            raise self.fail(
                key,
                _unknown("fact", name, self.facts, f"at the {self.stage} stage of this measure"),
            )
        self.facts_read.add(name)
        return fact

    def parameter(self, name: str, key: str) -> Parameter:
        parameter = self.parameters.get(name)
        if parameter is None:
            raise self.fail(key, _unknown("parameter", name, self.parameters, "in this pack"))
        self.params_read.add(name)
        return parameter

    def condition(self, condition: Mapping[str, Any], key: str) -> None:
        for name, test in condition.items():
            where = f"{key}.{name}"
            if name in ("any", "all"):
                for index, item in enumerate(test):
                    self.condition(item, f"{where}[{index}]")
                continue
            fact = self.fact(name, where)
            if isinstance(test, Mapping) and _param_ref(test) is None:
                for op, value in test.items():
                    self.operand(fact, op, value, f"{where}.{op}")
            else:
                self.value(fact, test, where)

    def value(self, fact: Fact, value: Any, key: str) -> None:
        """An equality operand (plain value, `not`, a member of `in`/`not_in`)."""
        ref = _param_ref(value)
        if ref is not None:
            parameter = self.parameter(ref, key)
            wanted = {"enum": "text", "text": "text"}.get(fact.type, fact.type)
            if parameter.type != wanted:
                raise self.fail(
                    key,
                    f"parameter {ref!r} is a {parameter.type}; fact {fact.name!r} is a {fact.type}",
                )
            for start, _, typed in parameter.periods():
                self.member(fact, typed, f"{key} (value of {ref} from {start})")
            return
        self.member(fact, value, key)

    def member(self, fact: Fact, value: Any, key: str) -> None:
        ok = {
            "enum": isinstance(value, str) and value in fact.values,
            "text": isinstance(value, str),
            "number": isinstance(value, int) and not isinstance(value, bool),
            "boolean": isinstance(value, bool),
            "date": isinstance(value, date),
        }[fact.type]
        if ok:
            return
        if fact.type == "enum":
            raise self.fail(
                key,
                f"{value!r} is not a value of fact {fact.name!r}; values: {', '.join(fact.values)}",
            )
        raise self.fail(key, f"fact {fact.name!r} is a {fact.type}, not {value!r}")

    def operand(self, fact: Fact, op: str, value: Any, key: str) -> None:
        if op == "absent":
            return
        if op == "not":
            self.value(fact, value, key)
        elif op in ("in", "not_in"):
            ref = _param_ref(value)
            if ref is None:
                for item in value:
                    self.member(fact, item, key)
                return
            parameter = self.parameter(ref, key)
            if parameter.type != "text_list" or fact.type not in ("text", "enum"):
                raise self.fail(
                    key,
                    f"'{op}' takes a text_list parameter for a text fact; {ref!r} is a "
                    f"{parameter.type} and {fact.name!r} a {fact.type}",
                )
            for start, _, typed in parameter.periods():
                for item in typed:
                    self.member(fact, item, f"{key} (value of {ref} from {start})")
        elif op in DATE_OPS:
            if fact.type != "date":
                raise self.fail(key, f"'{op}' compares dates; fact {fact.name!r} is a {fact.type}")
            ref = _param_ref(value)
            if ref is not None and self.parameter(ref, key).type != "date":
                raise self.fail(key, f"'{op}' takes a date parameter; {ref!r} is not one")
        elif op in NUMBER_OPS:
            if fact.type != "number":
                raise self.fail(
                    key, f"'{op}' compares numbers; fact {fact.name!r} is a {fact.type}"
                )
            ref = _param_ref(value)
            if ref is not None and self.parameter(ref, key).type != "number":
                raise self.fail(key, f"'{op}' takes a number parameter; {ref!r} is not one")
            if isinstance(value, Mapping) and set(value) == {"fact"}:
                other = self.fact(str(value["fact"]), f"{key}.fact")
                if other.type != "number":
                    raise self.fail(
                        f"{key}.fact",
                        f"'{op}' compares numbers; fact {other.name!r} is a {other.type}",
                    )

    def template(self, text: str, key: str) -> None:
        """Every `{placeholder}` of a message or reference names a declared fact."""
        try:
            parsed = list(string.Formatter().parse(text))
        except ValueError as exc:
            raise self.fail(key, f"unreadable template: {exc}") from None
        for _, field, _, _ in parsed:
            if field is None:
                continue
            if not field.isidentifier():
                raise self.fail(key, f"placeholder {{{field}}} is not a fact name")
            self.fact(field, f"{key}.{{{field}}}")
