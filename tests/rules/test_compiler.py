"""The condition language of rule packs and its compilation to durable-rules patterns.

Unit tests of `compile_condition` for each operator, of the errors it raises for
conditions outside the language, and a few compiled rules run through durable-rules
itself so that the compiled forms are known to mean what the language says.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

import pytest

from rules.compiler import (
    check_condition,
    compile_condition,
    compile_rule,
    compile_ruleset,
    day_number,
)
from rules.errors import PackError

# --- dates -----------------------------------------------------------------------------


def test_day_number_is_yyyymmdd() -> None:
    """A date becomes the integer YYYYMMDD."""
    assert day_number(date(2024, 10, 1)) == 20241001
    assert day_number(date(2026, 2, 28)) == 20260228


def test_day_numbers_order_like_dates() -> None:
    """Day numbers of consecutive days across month and year ends increase."""
    days = [date(2024, 12, 31), date(2025, 1, 1), date(2025, 2, 28), date(2025, 3, 1)]
    assert [day_number(day) for day in days] == sorted(day_number(day) for day in days)


# --- each operator ---------------------------------------------------------------------


def test_empty_condition_compiles_to_no_terms() -> None:
    """An empty condition adds no terms (the rule matches on stage and measure alone)."""
    assert compile_condition({}) == []


def test_bare_value_is_equality() -> None:
    """`fact: value` compiles to durable-rules' bare-key equality."""
    assert compile_condition({"import_type": "commercial"}) == [{"import_type": "commercial"}]


def test_bare_boolean_and_integer_are_equality() -> None:
    """Booleans and whole numbers compare for equality as they are."""
    assert compile_condition({"country_specific": True, "line": 2}) == [
        {"country_specific": True},
        {"line": 2},
    ]


def test_bare_date_is_equality_on_the_day_number() -> None:
    """A date value compiles to its YYYYMMDD number."""
    assert compile_condition({"accepted_on": date(2026, 3, 1)}) == [{"accepted_on": 20260301}]


def test_not_is_inequality() -> None:
    """`{not: v}` compiles to $neq."""
    assert compile_condition({"permit": {"not": "valid"}}) == [{"$neq": {"permit": "valid"}}]


def test_in_is_a_disjunction_of_equalities() -> None:
    """`{in: [a, b]}` compiles to $or of equalities."""
    assert compile_condition({"permit": {"in": ["expired", "unregistered"]}}) == [
        {"$or": [{"permit": "expired"}, {"permit": "unregistered"}]}
    ]


def test_not_in_is_a_conjunction_of_inequalities() -> None:
    """`{not_in: [a, b]}` compiles to $and of $neq."""
    assert compile_condition({"claim": {"not_in": ["A", "B"]}}) == [
        {"$and": [{"$neq": {"claim": "A"}}, {"$neq": {"claim": "B"}}]}
    ]


@pytest.mark.parametrize(
    ("op", "durable"),
    [("before", "$lt"), ("on_or_before", "$lte"), ("after", "$gt"), ("on_or_after", "$gte")],
)
def test_date_tests_compare_day_numbers(op: str, durable: str) -> None:
    """Date tests compile to numeric comparisons of day numbers."""
    condition = {"shipment_date": {op: date(2024, 10, 1)}}
    assert compile_condition(condition) == [{durable: {"shipment_date": 20241001}}]


@pytest.mark.parametrize(
    ("op", "durable"), [("lt", "$lt"), ("lte", "$lte"), ("gt", "$gt"), ("gte", "$gte")]
)
def test_number_tests_compare_with_a_whole_number(op: str, durable: str) -> None:
    """Number tests with a whole number compile to the matching comparison."""
    assert compile_condition({"days": {op: 60}}) == [{durable: {"days": 60}}]


@pytest.mark.parametrize("op", ["lt", "lte", "gt", "gte"])
def test_number_tests_may_compare_with_another_fact(op: str) -> None:
    """`{gt: {fact: name}}` compares with another fact of the same message ($m)."""
    condition = {"rate_mfn_bp": {op: {"fact": "bound_rate_bp"}}}
    assert compile_condition(condition) == [{f"${op}": {"rate_mfn_bp": {"$m": "bound_rate_bp"}}}]


def test_absent_true_and_false() -> None:
    """`{absent: true}` compiles to $nex and `{absent: false}` to $ex."""
    assert compile_condition({"shipment_date": {"absent": True}}) == [
        {"$nex": {"shipment_date": 1}}
    ]
    assert compile_condition({"shipment_date": {"absent": False}}) == [
        {"$ex": {"shipment_date": 1}}
    ]


def test_several_tests_on_one_fact_all_hold() -> None:
    """Two tests on one fact compile to two terms, both of which must hold."""
    condition = {"accepted_on": {"on_or_after": date(2024, 10, 1), "before": date(2026, 3, 1)}}
    assert compile_condition(condition) == [
        {"$gte": {"accepted_on": 20241001}},
        {"$lt": {"accepted_on": 20260301}},
    ]


def test_several_keys_all_hold() -> None:
    """Several keys in one mapping compile to one term each, in order."""
    condition = {"import_type": "commercial", "permit": "none"}
    assert compile_condition(condition) == [{"import_type": "commercial"}, {"permit": "none"}]


def test_any_is_a_disjunction_of_nested_conditions() -> None:
    """`any` compiles to $or; a nested condition of one term is that term."""
    condition = {"any": [{"shipment_date": {"absent": True}}, {"x": 1}]}
    assert compile_condition(condition) == [{"$or": [{"$nex": {"shipment_date": 1}}, {"x": 1}]}]


def test_all_is_a_conjunction_of_nested_conditions() -> None:
    """`all` compiles to $and; a nested condition of several terms is their $and."""
    condition = {"all": [{"a": 1, "b": 2}, {"c": 3}]}
    assert compile_condition(condition) == [{"$and": [{"$and": [{"a": 1}, {"b": 2}]}, {"c": 3}]}]


def test_an_empty_alternative_holds_for_every_fact() -> None:
    """An empty nested condition compiles to a test every fact passes (it has a stage)."""
    assert compile_condition({"any": [{}, {"x": 1}]}) == [
        {"$or": [{"$ex": {"stage": 1}}, {"x": 1}]}
    ]


def test_any_and_all_nest() -> None:
    """`any` inside `all` inside `any` compiles recursively."""
    condition = {"any": [{"all": [{"any": [{"a": 1}, {"b": 2}]}, {"c": 3}]}, {"d": 4}]}
    assert compile_condition(condition) == [
        {"$or": [{"$and": [{"$or": [{"a": 1}, {"b": 2}]}, {"c": 3}]}, {"d": 4}]}
    ]


def test_compile_rule_matches_stage_and_measure_first() -> None:
    """A compiled rule also matches its stage and its measure."""
    assert compile_rule("line", "M-1", {"permit": "none"}) == {
        "all": [{"m": {"$and": [{"stage": "line"}, {"measure": "M-1"}, {"permit": "none"}]}}]
    }


def test_compile_ruleset_gives_each_rule_its_own_action() -> None:
    """A ruleset has one entry per rule key, each with the action built for that key."""
    built: list[str] = []

    def action(key: str) -> Callable[[Any], None]:
        built.append(key)
        return lambda c: None

    body = compile_ruleset({"R-1": ("line", "M", {}), "R-2": ("measure", "M", {"x": 1})}, action)
    assert built == ["R-1", "R-2"]
    assert set(body) == {"R-1", "R-2"}
    assert body["R-2"]["all"] == compile_rule("measure", "M", {"x": 1})["all"]
    assert all(callable(entry["run"]) for entry in body.values())


def test_check_condition_accepts_every_shipped_form() -> None:
    """check_condition returns quietly for a condition in the language."""
    check_condition(
        {
            "import_type": "commercial",
            "permit": {"in": ["none", "expired"]},
            "any": [
                {"shipment_date": {"absent": True}},
                {"shipment_date": {"after": date(2024, 1, 1)}},
            ],
        },
        "pack.yaml",
        "when",
    )


# --- errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "key", "problem"),
    [
        ("commercial", "when", "a condition is a mapping of facts to tests"),
        ([{"a": 1}], "when", "a condition is a mapping of facts to tests"),
        ({"any": []}, "when.any", "'any' takes a non-empty list of conditions"),
        ({"all": {"a": 1}}, "when.all", "'all' takes a non-empty list of conditions"),
        ({"any": ["a"]}, "when.any[0]", "a condition is a mapping of facts to tests"),
        ({"permit-status": "x"}, "when.permit-status", "a fact name is a lower-case identifier"),
        ({1: "x"}, "when.1", "a fact name is a lower-case identifier"),
        ({"x": {"between": 1}}, "when.x.between", "unknown test 'between'"),
        ({"x": {"eq": 1}}, "when.x.eq", "unknown test 'eq'"),
        ({"x": {"in": "a"}}, "when.x.in", "'in' takes a non-empty list"),
        ({"x": {"in": []}}, "when.x.in", "'in' takes a non-empty list"),
        ({"x": {"not_in": []}}, "when.x.not_in", "'not_in' takes a non-empty list"),
        ({"x": {"absent": "yes"}}, "when.x.absent", "'absent' takes true or false"),
        ({"x": {"absent": 1}}, "when.x.absent", "'absent' takes true or false"),
        ({"x": {"before": "2024-10-01"}}, "when.x.before", "'before' takes an ISO date"),
        ({"x": {"on_or_after": 20241001}}, "when.x.on_or_after", "'on_or_after' takes an ISO date"),
        (
            {"x": {"gt": 1.5}},
            "when.x.gt",
            "'gt' takes a whole number, {fact: name} or {param: NAME}",
        ),
        (
            {"x": {"lt": True}},
            "when.x.lt",
            "'lt' takes a whole number, {fact: name} or {param: NAME}",
        ),
        (
            {"x": {"gte": "60"}},
            "when.x.gte",
            "'gte' takes a whole number, {fact: name} or {param: NAME}",
        ),
        ({"x": {"lte": {"fact": "y", "z": 1}}}, "when.x.lte", "'lte' takes a whole number"),
        ({"x": [1, 2]}, "when.x", "[1, 2] is not a string, whole number, boolean or date"),
        ({"x": 1.5}, "when.x", "1.5 is not a string, whole number, boolean or date"),
        ({"x": None}, "when.x", "None is not a string, whole number, boolean or date"),
        ({"x": {"not": [1]}}, "when.x.not", "is not a string, whole number, boolean or date"),
        ({"x": {"in": ["a", None]}}, "when.x.in", "None is not a string"),
    ],
)
def test_conditions_outside_the_language_raise_pack_error(
    condition: Any, key: str, problem: str
) -> None:
    """A condition outside the language raises PackError naming the file and the exact key."""
    with pytest.raises(PackError) as raised:
        compile_condition(condition, "packs/x.yaml", "when")
    assert raised.value.file == "packs/x.yaml"
    assert raised.value.key == key
    assert problem in raised.value.problem


def test_error_key_names_the_nested_position() -> None:
    """An error deep inside any/all names the path down to the bad test."""
    condition = {"any": [{"a": 1}, {"all": [{"b": 2}, {"c": {"within": 3}}]}]}
    with pytest.raises(PackError) as raised:
        check_condition(condition, "p.yaml", "measures[M].rules[R].when")
    assert raised.value.key == "measures[M].rules[R].when.any[1].all[1].c.within"


def test_unknown_test_error_lists_the_known_tests() -> None:
    """The unknown-test error lists every test the language knows."""
    with pytest.raises(PackError) as raised:
        compile_condition({"x": {"equals": 1}})
    for known in ("absent", "after", "before", "gt", "in", "not", "not_in", "on_or_before"):
        assert known in raised.value.problem


# --- what the compiled forms mean to durable-rules -------------------------------------


_names = itertools.count()


def matches(condition: Mapping[str, Any], facts: list[dict[str, Any]]) -> list[int]:
    """The `line` of every fact the compiled condition matches, run through durable-rules."""
    from durable import engine as durable_engine

    fired: list[int] = []
    name = f"compiler-test-{next(_names)}"
    body = compile_ruleset(
        {"R": ("line", "M", condition)}, lambda key: lambda c: fired.append(c.m["line"])
    )
    body["catch-all"] = {"all": [{"m": {"$ex": {"stage": 1}}}], "run": lambda c: None}
    host = durable_engine.Host()
    host.set_rulesets(copy.deepcopy({name: body}))
    try:
        host.assert_facts(
            name, [{"stage": "line", "measure": "M", "sid": "0", **fact} for fact in facts]
        )
    finally:
        host.delete_state(name, "0")
    return sorted(fired)


def test_compiled_conditions_match_in_durable_rules() -> None:
    """Each operator selects the facts it names when durable-rules evaluates it."""
    facts = [
        {"line": 1, "permit": "valid", "days": 59, "bound": 60},
        {"line": 2, "permit": "expired", "days": 60, "bound": 60, "shipment_date": 20240930},
        {"line": 3, "permit": "none", "days": 61, "bound": 60, "shipment_date": 20241001},
    ]
    assert matches({"permit": "valid"}, facts) == [1]
    assert matches({"permit": {"not": "valid"}}, facts) == [2, 3]
    assert matches({"permit": {"in": ["expired", "none"]}}, facts) == [2, 3]
    assert matches({"permit": {"not_in": ["expired", "none"]}}, facts) == [1]
    assert matches({"days": {"gt": 60}}, facts) == [3]
    assert matches({"days": {"lte": {"fact": "bound"}}}, facts) == [1, 2]
    assert matches({"shipment_date": {"absent": True}}, facts) == [1]
    assert matches({"shipment_date": {"before": date(2024, 10, 1)}}, facts) == [2]
    assert matches({"shipment_date": {"on_or_after": date(2024, 10, 1)}}, facts) == [3]
    assert matches({}, facts) == [1, 2, 3]
    assert matches({"any": [{"days": 59}, {"permit": "none"}]}, facts) == [1, 3]
    assert matches({"all": [{"bound": 60}, {"days": {"gte": 60}}]}, facts) == [2, 3]
