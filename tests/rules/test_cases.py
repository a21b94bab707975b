"""Rule-pack test cases as data: every `cases/*.yaml` entry is a named pytest item.

A case describes a declaration (fields merged onto the base declaration of
tests/helpers.py), what exists before it (permit applications, quota already used,
declarations decided earlier) and what the verdict must be. A permit is applied for as an
importer would, on its `issued_on`: for a quota drawn at permit issuance that draws its
units, so it is issued unless the case says `refused: true` (the quota had too few
units). Quota already used is drawn the way its quota draws: by a permit of another
importer, or by an earlier declaration's allocation. Measure-level checks are cases too
(`checks:`). Exchange rates loaded before are `exchange_rates:` (`{currency, on, rate}`,
into the case declaration's home currency; a monthly rate's `on` is its month's first day).

Every case runs in-process, without Redis or Celery, through the engine's public steps as
the worker takes them: `engine.evaluate` with the importer's own permits, an allocation,
`finalize_with_decisions`. The allocation comes from `ScriptedLedger`, a small
pure model of what the case says existed before (units used, permits held, VINs counted
by earlier declarations). The worker's own verdict step (`workers.evaluation._decide_one`)
is not reachable without a store: it allocates, keeps packs and writes the trail through
it, so the in-process path calls only the engine functions it calls, in its order.

The cases whose outcome depends on the ledger (quota used, permits, VINs, earlier
declarations, or a verdict in or over quota) also run through the worker's own pipeline
(`workers.evaluation.decide`) against a real Redis, and the two verdicts must be equal:
that holds the scripted ledger to the real one, case by case. `test_every_rule_is_exercised`
fails for any rule no case names (a few rules fire only under a changed pack or a race;
tests/rules/test_variants.py names and tests those).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_variants import RULES_EXERCISED_HERE

from helpers import declaration, quota_request
from rules import engine, trail
from rules.catalog import Catalog
from rules.currency import rate_query
from rules.measure import Measure
from rules.measure_checks import measure_checks
from rules.quota import quota_year_of, terms_of
from rules.verdict import finalize_with_decisions
from schemas.declaration import JURISDICTION_CURRENCY, Declaration
from schemas.permit import Permit, PermitApplication
from schemas.quota import NO_ALLOCATION, Allocation, LineAllocation, QuotaRequest, QuotaTerms
from schemas.rates import RateQuote
from schemas.verdict import Verdict
from store import RedisStore, now_rfc3339
from workers import permits
from workers.evaluation import decide, own_permits

PREFILL_IMPORTER = "999999999RM0001"

CASES = Path(__file__).parent / "cases"


def _load() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(CASES.glob("*.yaml")):
        for case in yaml.safe_load(path.read_text()):
            found.append((f"{path.stem}: {case['name']}", case))
    return found


ALL_CASES = _load()


# --- in-process: the engine, with the ledger scripted ----------------------------------------


class ScriptedLedger:
    """What a case says existed before, as the quota ledger would hold it, and the ledger's
    answer to a declaration's requests: a small pure model of store/lua/ledger.lua for
    first-come-first-served quotas, checked against the real ledger by
    `test_case_on_redis` for every case that depends on it.

    It keeps units drawn per period (and per sub-quota reserve), permits by quota and
    number, and VINs counted. A permit application ends as the case says (`refused`):
    whether a quota had room is the real ledger's arithmetic, which the Redis run of the
    same case checks; an issued permit of a quota drawn at permits draws its units from
    the period containing its issue day, the reserve first when it is for a sub-quota.
    Units a used permit did not declare go back to the quota in the real ledger; nothing
    in a case is drawn after that, so they are not modelled. Quota modes other than
    first come, first served are exercised against the real ledger only
    (tests/rules/exercised-elsewhere.yaml)."""

    def __init__(self, catalog: Catalog, rates: Sequence[RateQuote] = ()) -> None:
        self.catalog = catalog
        self.rates = tuple(rates)  # the exchange rates loaded, as the store holds them
        self.allocated: Counter[tuple[str, str]] = Counter()  # (quota, period) -> units
        self.reserved_used: Counter[tuple[str, str, str]] = Counter()  # ... and sub-quota
        self.permits: dict[tuple[str, str], Permit] = {}
        self.vins: set[tuple[str, str]] = set()
        self.asked = False  # whether any declaration asked anything of a quota

    def measure(self, quota_id: str) -> Measure:
        found = self.catalog.measure(quota_id)
        assert found is not None and found[1].quota is not None, quota_id
        return found[1]

    # the ledger's figures: a period's units carry into the later periods of its year, and
    # a draw must fit in what is free there and in every later period of the year
    def available(self, terms: QuotaTerms, index: int) -> tuple[int, dict[str, int]]:
        """(general units, reserve left per sub-quota) a draw on period `index` may take."""
        general: list[int] = []
        reserves: list[dict[str, int]] = []
        balance = 0
        left: Counter[str] = Counter()
        for period in terms.periods:
            balance += period.volume - self.allocated[(terms.id, period.key)]
            for name, units in period.reserved.items():
                left[name] += units - self.reserved_used[(terms.id, period.key, name)]
            general.append(balance - sum(left.values()))
            reserves.append(dict(left))
        later = reserves[index:]
        return min(general[index:]), {name: min(r[name] for r in later) for name in later[0]}

    def plan(
        self,
        terms: QuotaTerms,
        index: int,
        quantity: int,
        sub_quota: str | None,
        planned: Counter[str],
    ) -> tuple[int, int]:
        """(from the reserve, from the general units) for a draw, after what this
        declaration's earlier lines planned."""
        general, reserve = self.available(terms, index)
        from_reserve = 0
        if sub_quota is not None and sub_quota in reserve:
            from_reserve = min(quantity, max(reserve[sub_quota] - planned[sub_quota], 0))
        from_general = min(quantity - from_reserve, max(general - planned[""], 0))
        return from_reserve, from_general

    def draw(
        self,
        terms: QuotaTerms,
        index: int,
        from_reserve: int,
        from_general: int,
        sub_quota: str | None,
    ) -> None:
        key = terms.periods[index].key
        self.allocated[(terms.id, key)] += from_reserve + from_general
        if from_reserve:
            assert sub_quota is not None
            self.reserved_used[(terms.id, key, sub_quota)] += from_reserve

    def use(self, quota_id: str, day: date, units: int, sub_quota: str | None) -> None:
        """`quota_used`: units drawn by another importer's permit or declaration."""
        request = quota_request(self.measure(quota_id), day, units, affordable=bool(sub_quota))
        terms = request.quota
        index = _period_index(terms, day)
        assert index is not None, (quota_id, day)
        from_reserve, from_general = self.plan(terms, index, units, sub_quota, Counter())
        assert from_reserve + from_general == units, f"{units} units of {quota_id} do not fit"
        self.draw(terms, index, from_reserve, from_general, sub_quota)

    def apply(self, permit: Mapping[str, Any]) -> None:
        """A case's permit application, ending as the case says."""
        if permit.get("refused"):
            return  # a refused application leaves no permit behind
        application = PermitApplication.model_validate(
            {key: value for key, value in permit.items() if key != "refused"}
        )
        measure = self.measure(application.measure)
        quota = measure.quota
        assert quota is not None and quota.permits is not None
        issued_on = application.issued_on or date(2026, 3, 1)
        number = application.permit_number or f"P-{len(self.permits) + 1}"
        terms = application.terms(number, issued_on, quota.permits.validity_days)
        reserve, period = 0, None
        if quota.drawn_at == "permit":
            year_terms = terms_of(measure, max(quota_year_of(measure, issued_on), 1))
            index = _period_index(year_terms, issued_on)
            assert index is not None
            reserve, general = self.plan(
                year_terms, index, terms.quantity, terms.sub_quota, Counter()
            )
            assert reserve + general == terms.quantity, f"{number} should have been refused"
            self.draw(year_terms, index, reserve, general, terms.sub_quota)
            period = year_terms.periods[index].key
        self.permits[(measure.id, number)] = Permit(
            **terms.model_dump(),
            status="issued",
            held=terms.quantity,
            reserve=reserve,
            period=period,
        )

    def own_permits(self, declaration: Declaration) -> dict[str, Permit]:
        """The permits a declaration names, as the worker reads them (its importer's own)."""
        named = {line.permit_number for line in declaration.lines if line.permit_number}
        quotas = self.catalog.permit_quotas()
        found = {
            (quota_id, number): permit
            for (quota_id, number), permit in self.permits.items()
            if number in named and quota_id in quotas
        }
        return own_permits(found, declaration.importer.business_number)

    def allocate(self, requests: Sequence[QuotaRequest], on: date) -> Allocation:
        """The ledger's answer to one declaration's requests: every line, or none."""
        self.asked = True
        lines: list[dict[str, Any]] = []
        planned: dict[tuple[str, int], Counter[str]] = {}
        asked: Counter[tuple[str, str]] = Counter()
        seen_vins: set[tuple[str, str]] = set()
        failed = False
        for request in requests:
            terms = request.quota
            assert terms.mode == "fcfs", f"{terms.id}: the scripted ledger is fcfs only"
            line: dict[str, Any] = {
                "line": request.line,
                "quota_id": terms.id,
                "status": "allocated",
                "in_quota": 0,
                "over_quota": 0,
                "reserved_used": 0,
                "sub_quota": None,
            }
            if request.permit_number is not None:
                asked[(terms.id, request.permit_number)] += request.quantity
            if terms.drawn_at == "permit":
                line.update(in_quota=request.quantity, period="-")
                if request.permit_number is None:
                    line["status"] = "permit_missing"
                    failed = True
            else:
                index = _period_index(terms, on)
                if index is None:  # before the measure's first quota year: no units
                    from_reserve, from_general, period = 0, 0, on.isoformat()
                else:
                    mine = planned.setdefault((terms.id, index), Counter())
                    from_reserve, from_general = self.plan(
                        terms, index, request.quantity, request.sub_quota, mine
                    )
                    mine[""] += from_general
                    if from_reserve:
                        assert request.sub_quota is not None
                        mine[request.sub_quota] += from_reserve
                    period = terms.periods[index].key
                in_quota = from_reserve + from_general
                line.update(
                    in_quota=in_quota,
                    over_quota=request.quantity - in_quota,
                    reserved_used=from_reserve,
                    period=period,
                    index=index,
                    from_general=from_general,
                )
                if from_reserve:
                    line["sub_quota"] = request.sub_quota
                if in_quota < request.quantity:
                    if request.over_quota == "reject":
                        line["status"] = "quota_exhausted"
                        failed = True
                    else:
                        line["status"] = "over_quota" if in_quota == 0 else "split"
            for vin in request.vins:
                if (terms.id, vin) in self.vins or (terms.id, vin) in seen_vins:
                    line["status"] = "vin_already_used"
                    failed = True
                seen_vins.add((terms.id, vin))
            lines.append(line)
        for (quota_id, number), units in asked.items():
            permit = self.permits.get((quota_id, number))
            mine_lines = [
                (request, line)
                for request, line in zip(requests, lines, strict=True)
                if request.quota_id == quota_id and request.permit_number == number
            ]
            if permit is None or permit.status != "issued" or permit.held < units:
                failed = True
                for _, line in mine_lines:
                    line["status"] = "permit_exhausted"
            elif mine_lines[0][0].quota.drawn_at == "permit":
                reserve = permit.reserve
                for request, line in mine_lines:
                    line["period"] = permit.period
                    if reserve > 0:
                        line["sub_quota"] = permit.sub_quota
                        line["reserved_used"] = min(reserve, request.quantity)
                        reserve -= line["reserved_used"]
        if failed:
            return Allocation(
                applied=False,
                lines=tuple(
                    LineAllocation(
                        line=line["line"],
                        quota_id=line["quota_id"],
                        period=line["period"],
                        status="not_applied"
                        if line["status"] in ("allocated", "split", "over_quota")
                        else line["status"],
                    )
                    for line in lines
                ),
            )
        for request, line in zip(requests, lines, strict=True):
            if request.quota.drawn_at == "declaration" and line["in_quota"] > 0:
                self.draw(
                    request.quota,
                    line["index"],
                    line["reserved_used"],
                    line["from_general"],
                    request.sub_quota,
                )
            self.vins.update((request.quota_id, vin) for vin in request.vins)
        for (quota_id, number), units in asked.items():
            permit = self.permits[(quota_id, number)]
            self.permits[(quota_id, number)] = permit.model_copy(
                update={
                    "status": "used",
                    "used": units,
                    "held": units,
                    "reserve": min(permit.reserve, units),
                }
            )
        return Allocation(
            applied=True,
            lines=tuple(
                LineAllocation(
                    **{
                        key: line[key]
                        for key in (
                            "line",
                            "quota_id",
                            "period",
                            "status",
                            "in_quota",
                            "over_quota",
                            "sub_quota",
                            "reserved_used",
                        )
                    }
                )
                for line in lines
            ),
        )

    def decide(self, declaration: Declaration) -> Verdict:
        """The verdict, by the engine steps the worker takes, on this ledger."""
        # the loaded rates of the conversion's window, as the worker reads them
        query = rate_query(declaration, self.catalog.current)
        rates = [
            quote
            for quote in self.rates
            if query is not None
            and (quote.into, quote.currency) == (query.into, query.currency)
            and query.first <= quote.on <= query.last
        ]
        evaluation = engine.evaluate(
            declaration, self.catalog.current, self.own_permits(declaration), rates=rates
        )
        allocation = (
            self.allocate(evaluation.requests, evaluation.as_of) if evaluation.requests else None
        )
        verdict, _ = finalize_with_decisions(evaluation, allocation or NO_ALLOCATION)
        return verdict


def _period_index(terms: QuotaTerms, day: date) -> int | None:
    period = terms.period_containing(day)
    return None if period is None else terms.periods.index(period)


def run_in_process(case: dict[str, Any], catalog: Catalog) -> tuple[dict[str, Any], bool]:
    """The verdict on the case's declaration, as JSON, without Redis; and whether any
    declaration of the case asked the ledger anything."""
    ledger = ScriptedLedger(catalog, case_rates(case))
    for used in case.get("quota_used", []):
        ledger.use(
            used["quota"], date.fromisoformat(used["on"]), used["units"], used.get("sub_quota")
        )
    for permit in case.get("permits", []):
        ledger.apply(permit)
    for index, earlier in enumerate(case.get("before", [])):
        ledger.decide(Declaration.model_validate(declaration(f"before-{index}", **earlier)))
    verdict = ledger.decide(Declaration.model_validate(declaration("case", **case["declaration"])))
    decided: dict[str, Any] = json.loads(verdict.model_dump_json())
    return decided, ledger.asked


def case_rates(case: dict[str, Any]) -> list[RateQuote]:
    """The exchange rates a case says were loaded before its declaration."""
    home = JURISDICTION_CURRENCY[case.get("declaration", {}).get("jurisdiction", "CA")]
    return [
        RateQuote(
            currency=item["currency"],
            into=home,
            on=date.fromisoformat(str(item["on"])),
            rate=Decimal(item["rate"]),
            source=item.get("source", f"test rates FX{item['currency']}{home}"),
        )
        for item in case.get("exchange_rates", [])
    ]


_QUOTA_TREATMENTS = {"in_quota", "split", "over_quota"}


def depends_on_ledger(case: dict[str, Any]) -> bool:
    """Whether the case's outcome depends on the store: what it says existed before (quota
    used, permits, earlier declarations, exchange rates loaded), VINs or permits it names,
    or a verdict it expects in or over quota."""
    if any(key in case for key in ("quota_used", "permits", "before", "exchange_rates")):
        return True
    lines = case.get("declaration", {}).get("lines", [])
    if any("vins" in line or "permit_number" in line for line in lines):
        return True
    expected = case.get("expect", {}).get("lines", [])
    return any(line.get("quota") or line.get("treatment") in _QUOTA_TREATMENTS for line in expected)


# --- on Redis: the worker's own pipeline and the real ledger ----------------------------


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


def run_on_redis(case: dict[str, Any], store: RedisStore, catalog: Catalog) -> dict[str, Any]:
    """The verdict on the case's declaration, decided by the worker against a real Redis."""
    quotes = case_rates(case)
    if quotes:
        store.load_rates(quotes, "test", now_rfc3339())
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


DECLARATION_CASES = [(name, case) for name, case in ALL_CASES if "declaration" in case]
LEDGER_CASES = [(name, case) for name, case in DECLARATION_CASES if depends_on_ledger(case)]


def assert_expected(case: dict[str, Any], verdict: dict[str, Any]) -> None:
    """The verdict is the one the case expects."""
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
            if key == "duties_include":  # these duties among others (a pack may add more)
                shown = [(d["type"], d["base"], d["amount"]) for d in line["duties"]]
                assert all(tuple(duty) in shown for duty in value), shown
            elif key == "duties":
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
    if "not_assessed" in expect:
        # the charges listed as not assessed, by name, in order
        assert [item["tax"] for item in verdict["not_assessed"]] == expect["not_assessed"]
    for rule, wanted in expect.get("assumptions", {}).items():
        # each finding of the rule lists at least these assumptions
        shown = [item for item in verdict["findings"] if item["rule"] == rule]
        assert shown, f"{rule} did not fire"
        for item in shown:
            assert set(wanted) <= set(item["assumptions"]), (rule, item["assumptions"])
    for rule, text in expect.get("messages", {}).items():
        messages = [item["message"] for item in verdict["findings"] if item["rule"] == rule]
        assert any(text in message for message in messages), (rule, messages)
    for rule in expect.get("findings_exclude", []):
        assert rule not in {item["rule"] for item in verdict["findings"]}


@pytest.mark.parametrize(
    "case",
    [case for _, case in DECLARATION_CASES],
    ids=[name for name, _ in DECLARATION_CASES],
)
def test_case(case: dict[str, Any], catalog: Catalog) -> None:
    """The verdict on the case's declaration, decided in-process, is the one it expects."""
    verdict, asked = run_in_process(case, catalog)
    assert_expected(case, verdict)
    # a case that asks a quota must also run on the real ledger
    assert not asked or depends_on_ledger(case), "a case that asks a quota is a ledger case"


@pytest.mark.parametrize(
    "case", [case for _, case in LEDGER_CASES], ids=[name for name, _ in LEDGER_CASES]
)
def test_case_on_redis(case: dict[str, Any], store: RedisStore, catalog: Catalog) -> None:
    """On the real ledger the worker's verdict is the expected one, and the same verdict
    the in-process path gives with the ledger scripted."""
    verdict = run_on_redis(case, store, catalog)
    assert_expected(case, verdict)
    assert verdict == run_in_process(case, catalog)[0]


def test_the_ledger_subset_is_a_subset() -> None:
    """Cases that need no ledger run in-process only: the Redis subset is smaller than all."""
    assert 0 < len(LEDGER_CASES) < len(DECLARATION_CASES)


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
    decisions = measure_checks(*found[0], day, catalog.current)
    fired = {item.rule.id for item in decisions}
    for rule, text in checks.get("messages", {}).items():
        messages = [item.finding.message for item in decisions if item.rule.id == rule]
        assert any(text in message for message in messages), (rule, messages)
    for rule, wanted in checks.get("assumptions", {}).items():
        shown = [item.finding.assumptions for item in decisions if item.rule.id == rule]
        assert shown and all(set(wanted) <= set(each) for each in shown), (rule, shown)
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
