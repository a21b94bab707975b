"""The condition language of rule packs and its compilation to durable-rules patterns.

Unit tests of `compile_condition` for each operator, of the errors it raises for
conditions outside the language, and compiled rules run through `rules.matching.fire`, the
production matching path (facts asserted one at a time), so that the compiled forms are
known to mean what the language says where it matters.
"""

from __future__ import annotations

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
from rules.matching import fire
from rules.pack import Pack, PackBody

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
    """`{gt: {fact: name}}` compares with another fact of the same message ($m), which
    must be present."""
    condition = {"rate_mfn_bp": {op: {"fact": "bound_rate_bp"}}}
    assert compile_condition(condition) == [
        {"$and": [{"$ex": {"bound_rate_bp": 1}},
                  {f"${op}": {"rate_mfn_bp": {"$m": "bound_rate_bp"}}}]}
    ]  # fmt: skip


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


# --- what the compiled forms mean on the production path ------------------------------

# Each condition is compiled into a pack of its own and run through `rules.matching.fire`,
# the one matching path evaluation takes (facts asserted one at a time into a fresh
# session), not through a batch call with a catch-all rule that production never makes.
# The pack is built from its model directly: the loader would hold these made-up facts
# (`days`, `bound`) to the declared ones, which is not what these tests are about.

_packs = itertools.count()


def pack_of(
    conditions: Mapping[str, Mapping[str, Any]],
    stage: str = "line",
    parameters: Mapping[str, Any] | None = None,
) -> Pack:
    """A pack of one measure `M` whose rules are `conditions` (rule id -> `when`)."""
    data = {
        "pack": f"COMPILER-TEST-{next(_packs)}",
        "version": "1",
        "title": "compiler test",
        "jurisdiction": "CA",
        "sources": {"T": {"title": "test"}},
        "parameters": dict(parameters or {}),
        "measures": [
            {
                "id": "M",
                "title": "test measure",
                "source": "T",
                "effective": {"from": date(2024, 1, 1)},
                "scope": {"origins": ["CN"], "tariff_items": ["8703"]},
                "rates": {"mfn": {"rate": "6.1%", "source": "T"}},
                "rules": [
                    {
                        "id": rule_id,
                        "stage": stage,
                        "severity": "info",
                        "when": dict(when),
                        "message": "m",
                        "source": "T",
                        "reference": "r",
                    }
                    for rule_id, when in conditions.items()
                ],
            }
        ],
    }
    # the text only names the ruleset (by its hash): any text unique to the pack will do
    return Pack(PackBody.model_validate(data), "<compiler test>", repr(data).encode())


def fired(pack: Pack, facts: list[dict[str, Any]], stage: str = "line") -> list[tuple[str, int]]:
    """(rule id, line) of every firing, facts asserted through `rules.matching.fire`."""
    stated = [{"stage": stage, "measure": "M", **fact} for fact in facts]
    return [(rule.id, line) for _, rule, line in fire(pack, stated)]


def matches(condition: Mapping[str, Any], facts: list[dict[str, Any]]) -> list[int]:
    """The `line` of every fact the compiled condition matches on the production path."""
    return sorted(line for _, line in fired(pack_of({"ELIG-R": condition}), facts))


FACTS = [
    {"line": 1, "permit": "valid", "days": 59, "bound": 60},
    {"line": 2, "permit": "expired", "days": 60, "bound": 60, "shipment_date": 20240930},
    {"line": 3, "permit": "none", "days": 61, "bound": 60, "shipment_date": 20241001},
]


@pytest.mark.parametrize(
    ("condition", "lines"),
    [
        ({"permit": "valid"}, [1]),
        ({"permit": {"not": "valid"}}, [2, 3]),
        ({"permit": {"in": ["expired", "none"]}}, [2, 3]),
        ({"permit": {"not_in": ["expired", "none"]}}, [1]),
        ({"days": {"gt": 60}}, [3]),
        ({"days": {"gte": 60}}, [2, 3]),
        ({"days": {"lt": 60}}, [1]),
        ({"days": {"lte": {"fact": "bound"}}}, [1, 2]),
        ({"days": {"gt": {"fact": "bound"}}}, [3]),
        ({"shipment_date": {"absent": True}}, [1]),
        ({"shipment_date": {"absent": False}}, [2, 3]),
        ({"shipment_date": {"before": date(2024, 10, 1)}}, [2]),
        ({"shipment_date": {"on_or_before": date(2024, 10, 1)}}, [2, 3]),
        ({"shipment_date": {"after": date(2024, 9, 30)}}, [3]),
        ({"shipment_date": {"on_or_after": date(2024, 10, 1)}}, [3]),
        ({"shipment_date": date(2024, 9, 30)}, [2]),
        ({}, [1, 2, 3]),
        ({"any": [{"days": 59}, {"permit": "none"}]}, [1, 3]),
        ({"all": [{"bound": 60}, {"days": {"gte": 60}}]}, [2, 3]),
        ({"any": [{}, {"days": 0}]}, [1, 2, 3]),
        (
            {"any": [{"all": [{"days": {"gt": 59}}, {"permit": {"not": "none"}}]}, {"line": 1}]},
            [1, 2],
        ),
    ],
)
def test_compiled_conditions_match_on_the_production_path(
    condition: Mapping[str, Any], lines: list[int]
) -> None:
    """Each operator selects exactly the facts it names when facts are asserted one at a time."""
    assert matches(condition, FACTS) == lines


def test_not_and_comparisons_do_not_match_a_missing_fact() -> None:
    """`not`, `not_in` and comparisons hold only for a fact that is present (docs/engine.md)."""
    facts = [{"line": 1}, {"line": 2, "permit": "valid", "days": 1}]
    assert matches({"permit": {"not": "expired"}}, facts) == [2]
    assert matches({"permit": {"not_in": ["expired"]}}, facts) == [2]
    assert matches({"days": {"lt": 5}}, facts) == [2]
    assert matches({"permit": {"absent": True}}, facts) == [1]


def test_a_fact_no_rule_matches_does_not_stop_the_others() -> None:
    """A fact that matches no rule is no error, and the facts after it still fire."""
    pack = pack_of({"ELIG-A": {"permit": "valid"}})
    facts = [{"line": 1, "permit": "none"}, {"line": 2, "permit": "valid"}]
    assert fired(pack, facts) == [("ELIG-A", 2)]
    assert fired(pack, [{"line": 1, "permit": "none"}]) == []


def test_every_rule_a_fact_satisfies_fires_for_it() -> None:
    """Facts, not events: one fact fires every rule it satisfies, in pack order, once each."""
    pack = pack_of(
        {
            "ELIG-A": {"permit": "valid"},
            "ELIG-B": {"days": {"gt": 1}},
            "ELIG-C": {"any": [{"permit": "valid"}, {"days": 2}]},
            "ELIG-D": {"permit": "none"},
        }
    )
    assert fired(pack, [{"line": 1, "permit": "valid", "days": 2}]) == [
        ("ELIG-A", 1),
        ("ELIG-B", 1),
        ("ELIG-C", 1),
    ]


def test_a_rule_sees_only_the_facts_of_its_stage() -> None:
    """A compiled rule matches its stage: a line rule never fires for a measure-stage fact."""
    pack = pack_of({"ELIG-A": {}})
    assert fired(pack, [{"line": 1}], stage="measure") == []
    assert fired(pack, [{"line": 1}], stage="line") == [("ELIG-A", 1)]


def test_a_parameter_holds_each_fact_to_the_value_in_force_on_its_date() -> None:
    """`{param: NAME}` compares with the value dated for the fact's `accepted_on`."""
    parameters = {
        "LIMIT": {
            "description": "a limit",
            "type": "number",
            "values": {
                date(2025, 1, 1): {"value": 10, "source": "T"},
                date(2026, 1, 1): {"value": 20, "source": "T"},
            },
        }
    }
    pack = pack_of({"ELIG-A": {"days": {"gt": {"param": "LIMIT"}}}}, parameters=parameters)
    facts = [
        {"line": 1, "days": 15, "accepted_on": 20241231},  # before the first value: no value
        {"line": 2, "days": 15, "accepted_on": 20251231},  # 15 > 10
        {"line": 3, "days": 15, "accepted_on": 20260101},  # 15 > 20 fails
        {"line": 4, "days": 21, "accepted_on": 20260101},
    ]
    assert [line for _, line in fired(pack, facts)] == [2, 4]
