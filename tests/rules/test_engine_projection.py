"""The projection cache: a fact is decided by the names its pack's rules read, and each
distinct projection is matched by durable-rules once. The cache must change nothing a
user or an auditor can see: the verdicts, audit trails and measure-check records of
random declarations (shaped like the rule cases, on the dates they test, with permits
and allocations of every kind) are byte-identical with the cache, cold or warm, and
without it (every fact asserted into durable-rules, as `rules.matching.fire` does)."""

from __future__ import annotations

import copy
import os
import random
import warnings
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from helpers import declaration
from rules import engine, memos, trail
from rules.catalog import Catalog
from rules.compiler import compile_condition, compile_rule, reads
from rules.facts import DATE_FACT
from rules.findings import FINDINGS
from rules.matching import FIRINGS, Session, current_session, fire
from rules.memos import LRU, MEMOS
from schemas.audit import canonical_json
from schemas.declaration import Declaration
from schemas.permit import Permit
from schemas.quota import Allocation, LineAllocation, LineAllocationStatus

CASES = Path(__file__).parent / "cases"
OWN = "123456789RM0001"
EDGES = ("2024-10-01", "2024-10-22", "2025-03-20", "2025-08-14", "2026-02-28", "2026-03-01",
         "2026-04-27", "2026-09-01", "2026-12-31", "2027-03-01", "2031-02-28")  # fmt: skip
MODES: tuple[LineAllocationStatus, ...] = ("allocated", "allocated", "allocated", "split", "over_quota", "quota_exhausted",
         "permit_exhausted", "vin_already_used", "not_applied")  # fmt: skip


# --- the names a compiled rule reads ------------------------------------------------------


def test_reads_names_every_field_a_compiled_rule_tests() -> None:
    """`reads` names tested fields, `$m` operands, stage, measure and a parameter's date fact."""
    condition = {
        "permit": {"in": ["valid", "none"]},
        "shipment_date": {"absent": True},
        "any": [{"days_since_publication": {"gt": {"fact": "lead_days"}}}, {"unit": "NMB"}],
    }
    compiled = compile_rule("line", "M-1", condition)
    assert reads(compiled) == {
        "stage", "measure", "permit", "shipment_date", "days_since_publication", "lead_days",
        "unit",
    }  # fmt: skip


def test_reads_includes_the_date_fact_of_a_dated_parameter() -> None:
    """A condition on a dated parameter reads the stage's date fact as well as its own."""

    class Dated:
        def periods(self) -> list[tuple[date, date | None, Any]]:
            return [(date(2024, 1, 1), date(2024, 12, 31), 5), (date(2025, 1, 1), None, 7)]

    compiled = compile_rule(
        "measure", "M-1", {"sum_rates_bp": {"gt": {"param": "CAP"}}}, {"CAP": Dated()}, "as_of"
    )
    assert reads(compiled) == {"stage", "measure", "sum_rates_bp", "as_of"}


def test_reads_refuses_an_operator_it_does_not_know() -> None:
    """An unknown operator is an error, never a name silently left out of a projection."""
    pattern = {"all": [{"m": {"$and": [*compile_condition({"unit": "NMB"}), {"$regex": {}}]}}]}
    with pytest.raises(ValueError, match=r"\$regex"):
        reads(pattern)


def test_every_shipped_rule_matches_its_stage_and_measure_first(catalog: Catalog) -> None:
    """Each compiled rule starts with its stage and measure, which the projection rests on."""
    for pack in catalog.packs:
        for measure in pack.measures:
            for rule in measure.rules:
                when = compile_rule(
                    rule.stage, measure.id, rule.when, pack.body.parameters, DATE_FACT[rule.stage]
                )
                terms = when["all"][0]["m"]["$and"]
                assert terms[:2] == [{"stage": rule.stage}, {"measure": measure.id}], rule.id


# --- random declarations ------------------------------------------------------------------


def _case_bodies() -> list[dict[str, Any]]:
    bodies = []
    for path in sorted(CASES.glob("*.yaml")):
        for case in yaml.safe_load(path.read_text()):
            if "declaration" in case:
                bodies.append(declaration("case", **case["declaration"]))
            bodies.extend(declaration("before", **earlier) for earlier in case.get("before", []))
    return bodies


def _days(bodies: list[dict[str, Any]]) -> list[date]:
    """Every date the cases use and each measure edge, with the day before and after."""
    days = {date.fromisoformat(day) for day in EDGES}
    for body in bodies:
        days.add(date.fromisoformat(body["accepted_at"][:10]))
        if body.get("shipment_date"):
            days.add(date.fromisoformat(body["shipment_date"]))
    return sorted({day + timedelta(days=shift) for day in days for shift in (-1, 0, 1)})


def _vary(body: dict[str, Any], rng: random.Random, pool: dict[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(body)
    if rng.random() < 0.6:
        day = rng.choice(pool["days"]).isoformat()
        clock = rng.choice(["00:30:00", "10:00:00", "23:30:00"])
        body["accepted_at"] = f"{day}T{clock}{rng.choice(['-05:00', '+08:00', 'Z'])}"
    if rng.random() < 0.3:
        body["shipment_date"] = rng.choice(pool["days"]).isoformat()
    if rng.random() < 0.15:
        body["import_type"] = rng.choice(["commercial", "personal"])
    if rng.random() < 0.1:
        body["currency"] = "USD"
    if rng.random() < 0.3:
        extra = [copy.deepcopy(rng.choice(pool["lines"])) for _ in range(rng.randint(1, 3))]
        body["lines"] = [*body["lines"], *extra]
    for number, line in enumerate(body["lines"], start=1):
        line["line"] = number
        if rng.random() < 0.3:
            line["quantity"] = str(rng.choice([1, 2, 3, 10, 500, 12000]))
        if rng.random() < 0.3:
            line["value_for_duty"] = f"{rng.randint(1, 400) * 1000}.{rng.randint(0, 99):02d}"
        if rng.random() < 0.15:
            line["fob_unit_price"] = f"{rng.randint(20, 50) * 1000}.00"
        if rng.random() < 0.1:
            line["remission_claim"] = rng.choice(pool["claims"])
        if rng.random() < 0.25:
            line["permit_number"] = f"P-{rng.randint(1, 4)}"
    return body


def _permits(parsed: Declaration, rng: random.Random) -> dict[str, Permit]:
    """Permits of every state the engine distinguishes, for the numbers the lines name."""
    permits = {}
    for line in parsed.lines:
        if line.permit_number is None or rng.random() < 0.2:
            continue
        issued = parsed.accepted_on - timedelta(days=rng.choice([-1, 0, 5, 59, 70]))
        permits[line.permit_number] = Permit(
            permit_number=line.permit_number,
            business_number=OWN if rng.random() < 0.85 else "999999999RM0001",
            measure=rng.choice(["CA-CN-EV-TRQ-2026"] * 5 + ["OTHER-MEASURE"]),
            quantity=5,
            issued_on=issued,
            expires_on=issued + timedelta(days=59),
            sub_quota=rng.choice([None, None, "affordable"]),
            status=rng.choice(["issued"] * 6 + ["used", "cancelled", "expired"]),
            held=rng.choice([0, 1, 2, 5, 12]),
            reserve=rng.choice([0, 0, 1]),
            period=rng.choice(["2026-03-01", "2026-09-01", "2027-03-01", None]),
        )
    return permits


def random_inputs(
    count: int, seed: int
) -> Iterator[tuple[Declaration, dict[str, Permit], LineAllocationStatus]]:
    """The cases' declarations as written, then `count` random variations of them."""
    rng = random.Random(seed)
    bodies = _case_bodies()
    lines = [dict(line) for body in bodies for line in body["lines"]]
    claims = sorted({line["remission_claim"] for line in lines if line.get("remission_claim")})
    pool = {"days": _days(bodies), "lines": lines, "claims": claims}
    for body in bodies:
        parsed = Declaration.model_validate(body)
        yield parsed, _permits(parsed, rng), "allocated"
    made = 0
    while made < count:
        try:
            parsed = Declaration.model_validate(_vary(rng.choice(bodies), rng, pool))
        except ValidationError:
            continue
        made += 1
        yield parsed, _permits(parsed, rng), rng.choice(MODES)


def allocation_for(evaluation: engine.Evaluation, mode: LineAllocationStatus) -> Allocation | None:
    """The ledger's answer as if every request ended `mode` (applied unless refused)."""
    if not evaluation.requests:
        return None
    lines = []
    for request in evaluation.requests:
        period = request.quota.period_containing(evaluation.as_of)
        quantity = request.quantity
        within = {"allocated": quantity, "split": quantity // 2}.get(mode, 0)
        over = {"split": quantity - quantity // 2, "over_quota": quantity}.get(mode, 0)
        lines.append(
            LineAllocation(
                line=request.line,
                quota_id=request.quota_id,
                period=period.key if period is not None else evaluation.as_of.isoformat(),
                status=mode,
                in_quota=within,
                over_quota=over,
                sub_quota=request.sub_quota if mode == "allocated" else None,
            )
        )
    return Allocation(applied=mode in ("allocated", "split", "over_quota"), lines=tuple(lines))


def outputs(
    catalog: Catalog, parsed: Declaration, permits: dict[str, Permit], mode: LineAllocationStatus
) -> tuple[str, ...]:
    """What the worker writes of one declaration (`trail.conclude`), as text: the verdict,
    the trail's events, the measure-check records and the decision index."""
    evaluation = engine.evaluate(parsed, catalog.current, permits)
    concluded = trail.conclude(evaluation, allocation_for(evaluation, mode), permits)
    return (
        concluded.verdict_json,
        canonical_json(concluded.events),
        canonical_json({"|".join(key): record for key, record in concluded.check_records.items()}),
        canonical_json(concluded.decisions),
    )


# --- the cache changes nothing ------------------------------------------------------------


@pytest.fixture
def firings() -> Iterator[LRU[tuple[str, ...]]]:
    """The engine's memos, emptied before and after the test."""
    for memo in MEMOS:
        memo.clear()
    yield FIRINGS
    for memo in MEMOS:
        memo.clear()


def test_verdicts_and_trails_are_byte_identical_with_and_without_the_cache(
    catalog: Catalog, firings: LRU[tuple[str, ...]]
) -> None:
    """Without the memos, with them cold and with them warm, every output is the same text."""
    inputs = list(random_inputs(600, seed=20260301))
    with memos.uncached():
        uncached = [outputs(catalog, *item) for item in inputs]
    assert firings.hits == firings.misses == len(firings) == 0
    cold = [outputs(catalog, *item) for item in inputs]
    warm = [outputs(catalog, *item) for item in inputs]
    for item, expected, first, second in zip(inputs, uncached, cold, warm, strict=True):
        assert first == expected, item[0].declaration_id
        assert second == expected, item[0].declaration_id
    assert firings.hits > 10 * firings.misses  # the inputs repeat their projections
    assert FINDINGS.hits > FINDINGS.misses
    outcomes = {text[0].split('"outcome":"')[1].split('"')[0] for text in uncached}
    assert outcomes == {"accepted", "rejected", "held"}


def test_a_warm_cache_asks_durable_rules_nothing(
    catalog: Catalog, firings: LRU[tuple[str, ...]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once every projection is known, evaluating again asserts no fact at all."""
    inputs = list(random_inputs(100, seed=7))
    expected = [outputs(catalog, *item) for item in inputs]

    def refuse(*args: object) -> None:
        raise AssertionError("a fact reached durable-rules through a warm cache")

    monkeypatch.setattr(Session, "assert_facts", refuse)
    assert [outputs(catalog, *item) for item in inputs] == expected


def test_a_full_cache_evicts_and_still_gives_the_same_outputs(
    catalog: Catalog, firings: LRU[tuple[str, ...]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cache smaller than the projections in use stays at its bound and changes nothing."""
    inputs = list(random_inputs(150, seed=11))
    with memos.uncached():
        expected = [outputs(catalog, *item) for item in inputs]
    monkeypatch.setattr(firings, "maxsize", 8)
    assert [outputs(catalog, *item) for item in inputs] == expected
    assert len(firings) == 8


def test_fire_asks_durable_rules_even_for_a_known_projection(
    catalog: Catalog, firings: LRU[tuple[str, ...]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`rules.matching.fire` never reads the cache: it is durable-rules' own answer."""
    parsed, permits, mode = next(random_inputs(0, seed=1))
    outputs(catalog, parsed, permits, mode)  # the cache now knows this declaration's facts

    def refuse(*args: object) -> None:
        raise AssertionError("fire read the cache")

    monkeypatch.setattr(firings, "get", refuse)
    pack = catalog.current[0]
    measure = next(item for item in pack.measures if item.rules)
    rule = measure.rules[0]
    fact = {"stage": rule.stage, "measure": measure.id, "line": 1}
    asserted: list[object] = []
    original = Session.assert_facts

    def counting(self: Session, *args: Any) -> None:
        asserted.append(args)
        original(self, *args)

    monkeypatch.setattr(Session, "assert_facts", counting)
    fire(pack, [fact])
    assert len(asserted) == 1


def test_a_forked_child_makes_its_own_session_and_decides_the_same(catalog: Catalog) -> None:
    """After a fork (a prefork worker), the child asks a durable-rules Host of its own and
    decides as the parent does, its memos cold or warm."""
    inputs = list(random_inputs(30, seed=13))
    expected = [outputs(catalog, *item) for item in inputs]  # the parent's session exists
    parent_session = current_session()
    read, write = os.pipe()
    with warnings.catch_warnings():  # 3.12 warns about forking a process with threads
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: report, then leave without running the parent's cleanups
        code = 1
        try:
            FIRINGS.clear()
            fresh = current_session() is not parent_session
            same = [outputs(catalog, *item) for item in inputs] == expected
            os.write(write, f"{fresh} {same}".encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read) as pipe:
        answer = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert answer == "True True"
