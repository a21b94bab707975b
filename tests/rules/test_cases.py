"""Rule-pack test cases as data: every `cases/*.yaml` entry is a named pytest item.

A case describes a declaration (fields merged onto the base declaration of
tests/helpers.py), what exists before it (permit applications, quota already used,
declarations decided earlier) and what the verdict must be. A permit is applied for as an
importer would, on its `issued_on`: for a quota drawn at permit issuance that draws its
units, so it is issued unless the case says `refused: true` (the quota had too few
units). Quota already used is drawn the way its quota draws: by a permit of another
importer, or by an earlier declaration's allocation. It runs through the worker's own
pipeline (`workers.evaluation.decide`) against a real Redis, so allocation, permits
and VINs are the ledger's, not a stand-in's. Measure-level checks are cases too
(`checks:`). `test_every_rule_is_exercised` fails for any rule no case names (a few rules fire only
under a changed pack or a race; tests/rules/test_variants.py names and tests those).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_variants import RULES_EXERCISED_HERE

from helpers import declaration, quota_request
from rules import engine, trail
from rules.catalog import Catalog
from schemas.declaration import Declaration
from schemas.permit import PermitApplication
from store.redis_store import RedisStore, now_rfc3339
from workers import permits
from workers.evaluation import decide

PREFILL_IMPORTER = "999999999RM0001"

CASES = Path(__file__).parent / "cases"


def _load() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(CASES.glob("*.yaml")):
        for case in yaml.safe_load(path.read_text()):
            found.append((f"{path.stem}: {case['name']}", case))
    return found


ALL_CASES = _load()


def _submit(store: RedisStore, body: dict[str, Any]) -> Declaration:
    parsed = Declaration.model_validate(body)
    store.submit(
        parsed.declaration_id,
        parsed.canonical_json(),
        parsed.body_sha256(),
        parsed.importer.business_number,
        0.0,
        trail.received(parsed, "test"),
    )
    return parsed


def _prefill(
    store: RedisStore, catalog: Catalog, quota_id: str, day: date, units: int, sub_quota: str | None
) -> None:
    """Use `units` of the period containing `day`, as earlier permits or declarations would
    have."""
    found = catalog.measure(quota_id)
    assert found is not None
    measure = found[1]
    assert measure.quota is not None
    if measure.quota.drawn_at == "permit":
        application = PermitApplication(
            business_number=PREFILL_IMPORTER, measure=quota_id, quantity=units, issued_on=day,
            sub_quota=sub_quota,
        )  # fmt: skip
        decision = permits.apply(store, catalog, application, day).decision
        assert decision.outcome == "issued", decision
        return
    request = quota_request(measure, day, units, affordable=sub_quota is not None)
    allocation = store.ledger.allocate(
        f"prefill-{quota_id}-{day}-{sub_quota}", [request], day, now_rfc3339()
    )
    assert allocation.applied


def _apply(store: RedisStore, catalog: Catalog, permit: dict[str, Any]) -> None:
    """A case's permit application, on its issue date; it must end as the case says."""
    refused = bool(permit.get("refused"))
    application = PermitApplication.model_validate(
        {key: value for key, value in permit.items() if key != "refused"}
    )
    day = application.issued_on or date(2026, 3, 1)
    decision = permits.apply(store, catalog, application, day).decision
    assert (decision.outcome == "refused") == refused, decision


def run_case(case: dict[str, Any], store: RedisStore, catalog: Catalog) -> dict[str, Any]:
    for used in case.get("quota_used", []):
        _prefill(
            store,
            catalog,
            used["quota"],
            date.fromisoformat(used["on"]),
            used["units"],
            used.get("sub_quota"),
        )
    for permit in case.get("permits", []):
        _apply(store, catalog, permit)
    for index, earlier in enumerate(case.get("before", [])):
        parsed = _submit(store, declaration(f"before-{index}", **earlier))
        decide(store, catalog, parsed.declaration_id)
    parsed = _submit(store, declaration("case", **case["declaration"]))
    assert decide(store, catalog, parsed.declaration_id) == "decided"
    record = store.get(parsed.declaration_id)
    assert record is not None and record.verdict is not None
    verdict: dict[str, Any] = json.loads(record.verdict)
    return verdict


@pytest.mark.parametrize(
    "case",
    [case for _, case in ALL_CASES if "declaration" in case],
    ids=[name for name, case in ALL_CASES if "declaration" in case],
)
def test_case(case: dict[str, Any], store: RedisStore, catalog: Catalog) -> None:
    """The verdict on the case's declaration is the one the case expects."""
    verdict = run_case(case, store, catalog)
    expect = case["expect"]
    if "outcome" in expect:
        assert verdict["outcome"] == expect["outcome"], verdict["findings"]
    if "total_duty" in expect:
        assert verdict["total_duty"] == expect["total_duty"]
    if "exchange_rate" in expect:
        # the rate, its date and what dated it, as the verdict shows them (null: no conversion)
        shown = verdict.get("exchange_rate")
        wanted = expect["exchange_rate"]
        if wanted is None:
            assert shown is None
        else:
            assert shown is not None
            assert {key: shown[key] for key in wanted} == wanted
    for expected_line in expect.get("lines", []):
        line = next(item for item in verdict["lines"] if item["line"] == expected_line["line"])
        for key, value in expected_line.items():
            if key == "duties":
                assert [(d["type"], d["base"], d["amount"]) for d in line["duties"]] == [
                    tuple(d) for d in value
                ]
            elif key == "quota":
                assert (line["quota"] or {}) == (value or {})
            else:
                assert str(line[key]) == str(value), (key, line)
    if "findings" in expect:
        assert sorted({item["rule"] for item in verdict["findings"]}) == sorted(
            set(expect["findings"])
        )
    for rule in expect.get("findings_include", []):
        assert rule in {item["rule"] for item in verdict["findings"]}
    for rule in expect.get("findings_exclude", []):
        assert rule not in {item["rule"] for item in verdict["findings"]}


@pytest.mark.parametrize(
    "case",
    [case for _, case in ALL_CASES if "checks" in case],
    ids=[name for name, case in ALL_CASES if "checks" in case],
)
def test_checks_case(case: dict[str, Any], catalog: Catalog) -> None:
    """The measure-level checks on a date are the ones the case expects."""
    checks = case["checks"]
    day = date.fromisoformat(checks["as_of"])
    defined = [
        (pack, measure)
        for pack in catalog.current
        for measure in pack.measures
        if measure.id == checks["measure"]
    ]
    # checks are made for any date: a measure not in force on it is checked as last defined
    found = [item for item in defined if item[1].effective.contains(day)] or defined[-1:]
    assert found, f"no pack defines {checks['measure']}"
    fired = {item.rule.id for item in engine.measure_checks(*found[0], day, catalog.current)}
    if "findings" in checks:
        assert sorted(fired) == sorted(checks["findings"])
    for rule in checks.get("include", []):
        assert rule in fired
    for rule in checks.get("exclude", []):
        assert rule not in fired


def _named_rules(case: dict[str, Any]) -> set[str]:
    expect = case.get("expect", {})
    checks = case.get("checks", {})
    return {
        *expect.get("findings", []),
        *expect.get("findings_include", []),
        *checks.get("findings", []),
        *checks.get("include", []),
    }


def test_every_rule_is_exercised(catalog: Catalog) -> None:
    """Every rule of every loaded pack is expected to fire by at least one case."""
    elsewhere = yaml.safe_load((Path(__file__).parent / "exercised-elsewhere.yaml").read_text())
    named = set().union(
        *(_named_rules(case) for _, case in ALL_CASES), RULES_EXERCISED_HERE, elsewhere
    )
    rules = {
        rule.id for pack in catalog.packs for measure in pack.measures for rule in measure.rules
    }
    assert sorted(rules - named) == []
