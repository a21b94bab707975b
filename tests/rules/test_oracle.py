"""durable-rules' matching held to a plain-Python reading of the condition language.

For every rule of every pack (the shipped ones, every version, and the test packs),
Hypothesis states random facts shaped like the facts the engine states for the rule's
stage and measure (rules/facts.py declares them): each declared fact present or, where
the model lets it be absent, absent; values drawn from what the measure's rules compare
with, one unit or one day either side of each threshold, the parameters' values and the
days their values change. Half the time a fact is aimed at one rule, each clause of its
`when` made to hold (or, now and then, left to chance), so that rules of many clauses
fire as well as miss by one clause. `rules.matching.fire(pack, facts)` must give exactly
the firings `rules.oracle.firings(pack, facts)` gives.

Settings come from `RULES_PROFILE` (tests/rules/hypothesis_profiles.py): seconds in CI,
`ACCORD_RULES_PROFILE=rules-thorough` for a long search.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from hypothesis_profiles import RULES_PROFILE
from rules import oracle
from rules.catalog import load_catalog
from rules.facts import DATE_FACT, STAGE_MODELS, Fact, declared_facts
from rules.loader import SHIPPED_DIR, load_packs
from rules.matching import fire
from rules.measure import Measure, Rule
from rules.measure_checks import counterparts_on, measure_facts
from rules.pack import Pack
from rules.values import Parameter

TEST_PACKS = Path(__file__).resolve().parent.parent / "packs"
PACKS = tuple(load_packs([SHIPPED_DIR, TEST_PACKS]))
ABSENT = object()  # a fact left out of the stated fact


def _day(value: date) -> int:
    return value.year * 10000 + value.month * 100 + value.day


def _stages(measure: Measure) -> tuple[str, ...]:
    """The stages the engine states facts for, for this measure."""
    return (
        "line",
        *(("measure",) if measure.arrangement is not None else ()),
        *(("allocation",) if measure.quota is not None else ()),
    )


def _operands(condition: Mapping[str, Any]) -> Iterator[tuple[str, str, Any]]:
    """(fact, test, operand) of every test in a condition, `=` for plain equality."""
    for name, test in condition.items():
        if name in ("any", "all"):
            for item in test:
                yield from _operands(item)
        elif isinstance(test, Mapping) and set(test) != {"param"}:
            for op, value in test.items():
                yield name, op, value
        else:
            yield name, "=", test


def _near(value: Any) -> list[Any]:
    """A threshold and its neighbours, as the engine states such values."""
    if isinstance(value, bool):
        return [value, not value]
    if isinstance(value, date):
        return [_day(value + timedelta(days=delta)) for delta in (-1, 0, 1)]
    if isinstance(value, int):
        return [value - 1, value, value + 1]
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [item for member in value for item in _near(member)]
    return []


class Shape:
    """The facts the engine states for one measure at one stage, and the values worth
    trying for each: the rules' thresholds and their neighbours."""

    def __init__(self, pack: Pack, measure: Measure, stage: str) -> None:
        self.pack = pack
        self.measure = measure
        self.stage = stage
        self.date_fact = DATE_FACT[stage]
        self.facts: dict[str, Fact] = declared_facts(stage, measure)
        model = STAGE_MODELS[stage].model_fields
        # a field the model may leave out is absent from the stated fact; derived facts
        # (rates, sub-quotas) are always stated. A fact another is compared with
        # (`{fact: name}`) is always stated here: durable-rules gets its absence wrong, which
        # test_a_comparison_with_a_missing_fact_does_not_hold shows on its own
        referenced = {
            name for rule in measure.rules if rule.stage == stage for name in _references(rule.when)
        }
        self.optional = {
            name
            for name in self.facts
            if name in model and not model[name].is_required() and name not in referenced
        }
        self.rules: tuple[Rule, ...] = tuple(rule for rule in measure.rules if rule.stage == stage)
        self.pools = self._pools()

    def _pools(self) -> dict[str, list[Any]]:
        parameters = self.pack.body.parameters
        seen: dict[str, list[Any]] = {name: [] for name in self.facts}
        numbers: list[Any] = [0]
        for rule in self.rules:
            for name, op, value in _operands(rule.when):
                if op == "absent":
                    continue  # true/false says whether the fact is there, not its value
                values = [value]
                if isinstance(value, Mapping) and set(value) == {"param"}:
                    parameter = parameters[str(value["param"])]
                    values = [typed for _, _, typed in parameter.periods()]
                    # the days the parameter's value changes, either side
                    for start, end, _ in parameter.periods():
                        seen[self.date_fact] += _near(start) + (_near(end) if end else [])
                elif isinstance(value, Mapping) and set(value) == {"fact"}:
                    continue
                for item in values:
                    near = _near(item)
                    seen.setdefault(name, []).extend(near)
                    numbers += [
                        each for each in near if type(each) is int and not isinstance(item, date)
                    ]
        effective = self.measure.effective
        seen[self.date_fact] += _near(effective.start) + (
            _near(effective.end) if effective.end else []
        )
        pools: dict[str, list[Any]] = {}
        for name, fact in self.facts.items():
            if fact.type == "enum":
                pool = list(fact.values)
            elif fact.type == "boolean":
                pool = [True, False]
            elif fact.type in ("number", "date"):
                # a number may be compared with another number fact: share the thresholds
                more = numbers if fact.type == "number" else seen[self.date_fact]
                pool = [item for item in (*seen[name], *more) if type(item) is int]
            else:
                pool = [item for item in seen[name] if isinstance(item, str)] + ["OTHER"]
            pools[name] = sorted(set(pool), key=repr)
        return pools

    def value(self, name: str) -> st.SearchStrategy[Any]:
        """Values of one fact: mostly the pool, sometimes anything of its type."""
        fact = self.facts[name]
        pool = st.sampled_from(self.pools[name])
        if fact.type == "number":
            return st.one_of(pool, pool, pool, st.integers(-(10**6), 10**6))
        if fact.type == "date":
            anyday = st.dates(date(2020, 1, 1), date(2030, 12, 31)).map(_day)
            return st.one_of(pool, pool, pool, anyday)
        if fact.type == "text":
            return st.one_of(pool, pool, pool, st.text("ABC019 /-.%", max_size=8))
        return pool

    def clause_holds(self, fact: Mapping[str, Any], name: str, test: Any) -> bool:
        return oracle.holds({name: test}, fact, self.pack.body.parameters, self.date_fact)


@st.composite
def stated(
    draw: st.DrawFn, shape: Shape, line: int, aim: Rule | None = None, force: bool = False
) -> dict[str, Any]:
    """One fact as the engine states it, aimed at `aim` (or at a rule drawn) or not;
    `force` makes every clause of the aimed rule hold where the pools allow."""
    fact: dict[str, Any] = {"stage": shape.stage, "measure": shape.measure.id, "line": line}
    for name in shape.facts:
        if name in shape.optional and draw(st.integers(0, 3)) == 0:
            continue
        fact[name] = draw(shape.value(name))
    target = aim if aim is not None else draw(st.sampled_from([None, *shape.rules]))
    if target is not None:
        _aim(draw, shape, fact, target.when, force)
    return fact


def _aim(
    draw: st.DrawFn,
    shape: Shape,
    fact: dict[str, Any],
    condition: Mapping[str, Any],
    force: bool = False,
) -> None:
    """Make each clause of `condition` hold where the pools allow, now and then not."""
    for name, test in condition.items():
        if name == "any":
            _aim(draw, shape, fact, draw(st.sampled_from(test)), force)
        elif name == "all":
            for item in test:
                _aim(draw, shape, fact, item, force)
        elif force or draw(st.integers(0, 9)) > 0:
            # a fact the engine always states is never made absent
            absent = [ABSENT] if name in shape.optional else []
            candidates = [*shape.pools.get(name, []), *absent]
            fitting = []
            for candidate in candidates:
                trial = {key: value for key, value in fact.items() if key != name}
                if candidate is not ABSENT:
                    trial[name] = candidate
                if shape.clause_holds(trial, name, test):
                    fitting.append(candidate)
            if fitting:
                chosen = draw(st.sampled_from(fitting))
                if chosen is ABSENT:
                    fact.pop(name, None)
                else:
                    fact[name] = chosen


def _shapes(pack: Pack) -> list[Shape]:
    return [Shape(pack, measure, stage) for measure in pack.measures for stage in _stages(measure)]


@st.composite
def fact_lists(draw: st.DrawFn, shapes: Sequence[Shape]) -> list[dict[str, Any]]:
    """Up to four facts of a pack's measures and stages, one line each (as a declaration's
    lines are asserted together)."""
    count = draw(st.integers(1, 4))
    facts = [draw(stated(draw(st.sampled_from(shapes)), line)) for line in range(1, count + 1)]
    return [*facts, draw(witness(shapes, count + 1))]


@st.composite
def witness(draw: st.DrawFn, shapes: Sequence[Shape], line: int) -> dict[str, Any]:
    """A fact made to fire some rule. durable-rules crashes the process when a session in
    which no fact matched is deleted (see the test at the end of this module), so every
    list of facts asserted here carries one that matches; rules are single-fact patterns,
    so it changes nothing of what the other facts fire."""
    shape = draw(st.sampled_from([shape for shape in shapes if shape.rules]))
    return draw(stated(shape, line, aim=draw(st.sampled_from(shape.rules)), force=True))


def _named(firings: Sequence[tuple[Measure, Rule, int]]) -> list[tuple[str, str, int]]:
    return [(measure.id, rule.id, line) for measure, rule, line in firings]


def _references(condition: Mapping[str, Any]) -> Iterator[str]:
    """The facts a condition compares with through `{fact: name}`."""
    for _, _, value in _operands(condition):
        if isinstance(value, Mapping) and set(value) == {"fact"}:
            yield str(value["fact"])


def _check(pack: Pack, facts: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    expected = _named(oracle.firings(pack, facts))
    # the rare witness the pools could not make fire: not asserted (it would crash)
    assume(any(line == facts[-1]["line"] for _, _, line in expected))
    found = _named(fire(pack, facts))
    assert found == expected, f"{pack!r} durable-rules {found} oracle {expected} facts {facts}"
    return expected


def _pack_id(pack: Pack) -> str:
    return f"{pack.id}@{pack.version}"


@pytest.mark.parametrize("pack", PACKS, ids=_pack_id)
def test_engine_fires_what_the_oracle_says(pack: Pack) -> None:
    """For random facts of a pack's measures and stages, durable-rules fires exactly the
    rules the oracle says hold, in the same order."""

    @RULES_PROFILE
    @given(facts=fact_lists(_shapes(pack)))
    def check(facts: list[dict[str, Any]]) -> None:
        _check(pack, facts)

    check()


RULES = [(pack, shape, rule) for pack in PACKS for shape in _shapes(pack) for rule in shape.rules]


@pytest.mark.parametrize(
    ("pack", "shape", "rule"),
    RULES,
    ids=[f"{_pack_id(pack)}:{rule.id}" for pack, _, rule in RULES],
)
def test_every_rule_fires_for_facts_aimed_at_it(pack: Pack, shape: Shape, rule: Rule) -> None:
    """Facts aimed at one rule make it fire (so the comparison above reaches every rule),
    and durable-rules agrees with the oracle on each of them, near misses included."""
    fired: list[bool] = []

    @settings(RULES_PROFILE, max_examples=max(RULES_PROFILE.max_examples // 4, 8))
    @given(fact=stated(shape, 1, aim=rule), witness=stated(shape, 2, aim=rule, force=True))
    def check(fact: dict[str, Any], witness: dict[str, Any]) -> None:
        found = _check(pack, [fact, witness])
        fired.append((shape.measure.id, rule.id, 1) in found)

    check()
    assert any(fired), f"no fact aimed at {rule.id} made it fire"


# --- the oracle on its own: the language as docs/rule-packs.md states it ---------------------


@pytest.mark.parametrize(
    ("condition", "fact", "expected"),
    [
        ({"permit": "valid"}, {"permit": "valid"}, True),
        ({"permit": "valid"}, {}, False),
        ({"vins_given": True}, {"vins_given": 1}, False),  # a boolean is not a number
        ({"permit": {"not": "valid"}}, {}, False),
        ({"permit": {"not_in": ["valid"]}}, {}, False),
        ({"permit": {"not_in": ["valid"]}}, {"permit": "none"}, True),
        ({"permit": {"in": ["valid", "none"]}}, {"permit": "none"}, True),
        ({"shipment_date": {"absent": True}}, {}, True),
        ({"shipment_date": {"absent": False}}, {}, False),
        ({"shipment_date": {"before": date(2024, 10, 1)}}, {"shipment_date": 20240930}, True),
        ({"shipment_date": {"before": date(2024, 10, 1)}}, {"shipment_date": 20241001}, False),
        ({"shipment_date": {"on_or_after": date(2024, 10, 1)}}, {}, False),
        ({"shipment_date": date(2024, 10, 1)}, {"shipment_date": 20241001}, True),
        ({"days": {"gt": {"fact": "bound"}}}, {"days": 2, "bound": 1}, True),
        ({"days": {"gt": {"fact": "bound"}}}, {"days": 2}, False),
        ({"days": {"lte": {"fact": "bound"}}}, {"days": 2}, False),
        ({}, {}, True),
        ({"any": [{}, {"x": 1}]}, {}, True),
        ({"any": [{"x": 1}, {"y": 2}]}, {"y": 2}, True),
        ({"all": [{"x": 1}, {"y": 2}]}, {"y": 2}, False),
        ({"x": 1, "y": 2}, {"x": 1, "y": 3}, False),
    ],
)
def test_the_oracle_reads_the_language_as_documented(
    condition: dict[str, Any], fact: dict[str, Any], expected: bool
) -> None:
    """Each test of the language holds exactly where docs/rule-packs.md says it does."""
    assert oracle.holds(condition, fact) is expected


def test_the_oracle_reads_a_parameter_as_of_the_fact_date() -> None:
    """`{param: NAME}` takes the value in force on the date fact; none before the first."""
    parameters = {
        "LAST-DAY": Parameter.model_validate(
            {
                "description": "the last day",
                "type": "date",
                "values": {
                    date(2025, 1, 1): {"value": date(2025, 6, 30), "source": "T"},
                    date(2025, 7, 1): {"value": date(2026, 12, 31), "source": "T"},
                },
            }
        )
    }
    condition = {"accepted_on": {"on_or_before": {"param": "LAST-DAY"}}}
    for day, expected in [
        (20241231, False),  # before the parameter's first value: no value, does not hold
        (20250101, True),
        (20250630, True),
        (20251231, True),  # the second value (2026-12-31) is in force from 2025-07-01
        (20270101, False),
    ]:
        assert oracle.holds(condition, {"accepted_on": day}, parameters) is expected, day
    assert not oracle.holds(condition, {}, parameters)
    measure_stage = {"as_of": 20250101}
    assert oracle.holds({"as_of": {"on_or_before": {"param": "LAST-DAY"}}}, measure_stage,
                        parameters, "as_of")  # fmt: skip


def test_the_oracle_refuses_a_test_outside_the_language() -> None:
    """An unknown test is an error, not a condition that quietly never holds."""
    with pytest.raises(oracle.OracleError, match="unknown test 'between'"):
        oracle.holds({"days": {"between": 1}}, {"days": 1})


# --- a disagreement the comparison found ----------------------------------------------------


def test_a_comparison_with_a_missing_fact_does_not_hold() -> None:
    """A measure without a recorded bound rate fires neither bound-rate check
    (docs/rule-packs.md: "without it the bound-rate facts are absent and no bound-rate
    rule fires"); durable-rules fires both WTO-EVTRQ-BOUND-RATE-MET and -EXCEEDED."""
    pack = next(
        item for item in PACKS if item.id == "CA-CN-EV-TRQ-2026" and item.version == "2026.3"
    )
    facts = [
        {"stage": "measure", "measure": "CA-CN-EV-TRQ-2026", "line": 1, "rate_mfn_bp": 610},
        # the session needs a matching fact (see the crash below)
        {"stage": "measure", "measure": "CA-CN-EV-TRQ-2026", "line": 2, "rate_mfn_bp": 610,
         "bound_rate_bp": 610},
    ]  # fmt: skip
    assert _named(oracle.firings(pack, facts)) == [
        ("CA-CN-EV-TRQ-2026", "WTO-EVTRQ-BOUND-RATE-MET", 2)
    ]
    assert _named(fire(pack, facts)) == _named(oracle.firings(pack, facts))


# --- a crash the comparison found ---------------------------------------------------------

# durable-rules 2.0.28 crashes the process (SIGSEGV, or glibc's "free(): invalid
# pointer") in `delete_state` for a session in which no asserted fact matched any rule:
# `rules.matching` asserts facts one at a time, counts a `MessageNotHandledException` as "no
# rule fired", and deletes the session in `finally`. With one fact matched first, or
# without the delete, it does not crash. Whether it crashes otherwise depends on the heap
# (importing pytest was enough to change it): glibc's MALLOC_PERTURB_ makes it crash every
# time, so the check runs in a child process of its own with it set. The engine now
# asserts a guard fact that its own rule matches first in every session (rules/matching.py).

_CRASH_PROBE = '''
import sys
from rules.loader import parse_pack
from rules.matching import fire
from rules.measure_checks import measure_checks

TEXT = b"""
pack: CRASH-PROBE
version: "1"
title: one rule that a commercial import does not match
jurisdiction: CA
sources: {T: {title: test}}
measures:
  - id: M
    title: probe
    source: T
    effective: {from: 2024-01-01}
    scope: {origins: [CN], tariff_items: ["8703"]}
    rates: {mfn: {rate: "6.1%", source: T}}
    rules:
      - {id: ELIG-PERSONAL, severity: info, when: {import_type: personal}, message: m,
         source: T, reference: r}
"""
if sys.argv[1] == "measure-checks":
    # the checks of China's final anti-dumping duty the day before it is in force, as the
    # API makes them for an arrangement's timeline: no check holds on that day
    from datetime import date
    from rules.catalog import load_catalog
    catalog = load_catalog()
    pack, measure = catalog.measure("CN-AD-RAPESEED-FINAL")
    checks = measure_checks(pack, measure, date(2026, 2, 28), catalog.current)
    print(sorted(item.rule.id for item in checks))
    sys.exit(0)
pack = parse_pack(TEXT, "<probe>")
facts = [{"stage": "line", "measure": "M", "line": 1, "import_type": "commercial"}]
if sys.argv[1] == "matching":
    facts.append({"stage": "line", "measure": "M", "line": 2, "import_type": "personal"})
print(sorted(rule.id for _, rule, _ in fire(pack, facts)))
'''


def _fire_in_child(kind: str) -> subprocess.CompletedProcess[str]:
    root = Path(__file__).resolve().parent.parent.parent
    return subprocess.run(
        [sys.executable, "-c", _CRASH_PROBE, kind],
        cwd=root,
        env={**os.environ, "MALLOC_PERTURB_": "165", "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_session_with_a_matching_fact_survives_in_the_probe() -> None:
    """The probe's child process runs `fire` to the end when some fact matches."""
    child = _fire_in_child("matching")
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == "['ELIG-PERSONAL']"


@pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc",
    reason="MALLOC_PERTURB_ is glibc's: elsewhere the crash depends on the heap, and a strict "
    "xfail would be flaky",
)
def test_a_session_in_which_no_fact_matched_does_not_crash() -> None:
    """`fire` with facts that match no rule answers no firings instead of crashing."""
    child = _fire_in_child("unmatched")
    assert child.returncode == 0, f"exit {child.returncode}: {child.stderr[-300:]}"
    assert child.stdout.strip() == "[]"


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="as above")
def test_measure_checks_on_a_day_no_check_holds_do_not_crash() -> None:
    """The checks of CN-AD-RAPESEED-FINAL on 2026-02-28 are none, and the process lives on."""
    # the oracle says no check holds that day: durable-rules sees a session that matched nothing
    catalog = load_catalog()
    found = catalog.measure("CN-AD-RAPESEED-FINAL")
    assert found is not None
    pack, measure = found
    facts = measure_facts(
        measure,
        date(2026, 2, 28),
        counterparts_on(measure, date(2026, 2, 28), catalog.current),
    )
    assert oracle.firings(pack, [facts]) == []
    child = _fire_in_child("measure-checks")
    assert child.returncode == 0, f"exit {child.returncode}: {child.stderr[-300:]}"
    assert child.stdout.strip() == "[]"
