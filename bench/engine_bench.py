"""Engine throughput on one core: the shipped packs through durable-rules, against
durable-rules' own raw post rate and a hand-written Python evaluation of the same rules.

Rates are declarations per second of the process's CPU time (`time.process_time`), not
of the wall clock: the benchmark VM's two cores are shared, and a neighbour's load would
otherwise count against whichever figure ran while it was busy. Each declaration gets
the permits it names, as the worker gives it (`workers.evaluation.own_permits`).

    declarations_per_s    evaluate + finalize, memos warm (the mix is run repeatedly)
    cold_per_s            the same, one pass over the mix with every engine memo empty
    with_trail_per_s      evaluate + trail.conclude (verdict JSON, trail events, records)
                          + chaining the events as the store does: the worker's CPU work
                          short of Redis
    firings_hit_rate      share of facts the projection cache answered, over the run

Run one: `.venv/bin/python -c "from bench import engine_bench; print(engine_bench.run())"`."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from bench.mix import declarations, permit_for
from rules import engine, trail
from rules.catalog import load_catalog
from rules.matching import FIRINGS
from rules.memos import MEMOS
from schemas.audit import GENESIS, chain_json
from schemas.declaration import Declaration
from schemas.permit import Permit
from schemas.quota import Allocation, LineAllocation, QuotaRequest
from store import now_rfc3339

CENT = Decimal("0.01")


def _rate(seconds: float, count: int) -> float:
    return count / seconds if seconds > 0 else float("inf")


def _timed(count: int, run: Callable[[], None], minimum: float = 2.0) -> float:
    """Declarations per CPU second of `run` (which processes `count`), over at least
    `minimum` s of CPU time."""
    done = 0
    started = time.process_time()
    while True:
        run()
        done += count
        elapsed = time.process_time() - started
        if elapsed >= minimum:
            return _rate(elapsed, done)


def _once(count: int, run: Callable[[], None]) -> float:
    started = time.process_time()
    run()
    return _rate(time.process_time() - started, count)


def _period_key(request: QuotaRequest, day: date) -> str:
    period = request.quota.period_containing(day)
    return period.key if period is not None else day.isoformat()


def allocation_for(evaluation: engine.Evaluation) -> Allocation:
    """As if the ledger had room for every request (the engine benchmark does no IO)."""
    return Allocation(
        applied=True,
        lines=tuple(
            LineAllocation(
                line=request.line, quota_id=request.quota_id, period=_period_key(request, evaluation.as_of),
                status="allocated", in_quota=request.quantity,
            )
            for request in evaluation.requests
        ),
    )  # fmt: skip


def own(declaration: Declaration, permits: dict[str, Permit]) -> dict[str, Permit]:
    """The permits a declaration names, as the worker gives them to the engine."""
    return {
        line.permit_number: permits[line.permit_number]
        for line in declaration.lines
        if line.permit_number in permits
    }


def engine_rate(
    parsed: list[Declaration], permits: dict[str, Permit]
) -> tuple[float, float, list[Decimal]]:
    """Evaluate and finalize: the rate with every memo empty (one pass), then warm."""
    packs = load_catalog().current
    given = [own(item, permits) for item in parsed]
    totals: list[Decimal] = []

    def run() -> None:
        totals.clear()
        for item, its_permits in zip(parsed, given, strict=True):
            evaluation = engine.evaluate(item, packs, its_permits)
            totals.append(engine.finalize(evaluation, allocation_for(evaluation)).total_duty)

    for memo in MEMOS:
        memo.clear()
    cold = _once(len(parsed), run)
    return cold, _timed(len(parsed), run), list(totals)


def with_trail_rate(parsed: list[Declaration], permits: dict[str, Permit]) -> float:
    """Evaluate, conclude (verdict JSON, events, records) and chain the events as the
    store's record path does (`schemas.audit.chain_json`): what a worker computes for a
    declaration besides Redis."""
    packs = load_catalog().current
    given = [own(item, permits) for item in parsed]
    at = now_rfc3339()

    def run() -> None:
        for item, its_permits in zip(parsed, given, strict=True):
            evaluation = engine.evaluate(item, packs, its_permits)
            allocation = allocation_for(evaluation) if evaluation.requests else None
            concluded = trail.conclude(evaluation, allocation, its_permits)
            chain_json(GENESIS, 2, at, concluded.events)

    return _timed(len(parsed), run)


def durable_raw_rate(count: int) -> float:
    """durable-rules alone: one fact per declaration, one trivial rule, same session handling."""
    from durable import engine as durable_engine

    host = durable_engine.Host()
    fired: list[int] = []
    ruleset = {
        "raw": {"r": {"all": [{"m": {"kind": "declaration"}}], "run": lambda c: fired.append(1)}}
    }
    host.set_rulesets(copy.deepcopy(ruleset))
    facts = [{"sid": "0", "kind": "declaration", "n": index} for index in range(count)]

    def run() -> None:
        for fact in facts:
            try:
                host.assert_fact("raw", fact)
            finally:
                host.delete_state("raw", "0")

    return _timed(count, run)


# --- the same rules, written by hand -----------------------------------------------------

EV_ITEMS = tuple(
    item.replace(".", "")
    for item in [
        "8702.20.10",
        "8702.20.20",
        "8702.30.10",
        "8702.30.20",
        "8702.40.10",
        "8702.40.20",
        "8702.90.10",
        "8702.90.20",
        "8703.40.10",
        "8703.40.90",
        "8703.50.00",
        "8703.60.10",
        "8703.60.90",
        "8703.70.00",
        "8703.80.00",
        "8703.90.00",
        "8704.41.90",
        "8704.42.00",
        "8704.43.00",
        "8704.51.00",
        "8704.52.00",
        "8704.60.00",
        "8704.90.00",
    ]
)
STEEL_AL = tuple(
    str(heading) for heading in [*range(7206, 7230), *range(7301, 7307), *range(7601, 7610)]
)
MFN, SURTAX_EV, SURTAX_STEEL = Decimal("0.061"), Decimal("1"), Decimal("0.25")
EXCISE, GST = Decimal("100.00"), Decimal("0.05")  # per air-conditioned vehicle; on value + duties
EXCISE_ITEMS = tuple(item for item in EV_ITEMS if not item.startswith("8702"))


def _duty(base: Decimal, rate: Decimal) -> Decimal:
    return (base * rate).quantize(CENT, rounding=ROUND_HALF_UP)


def by_hand(declaration: Declaration, permits: dict[str, Permit]) -> Decimal:
    day = declaration.accepted_on
    total = Decimal("0.00")
    rejected = False
    for line in declaration.lines:
        if line.origin != "CN":
            continue
        value = line.value_for_duty
        duties = Decimal("0.00")
        if line.tariff_item.startswith(EV_ITEMS) and date(2024, 10, 1) <= day <= date(2026, 2, 28):
            duties += _duty(value, MFN)
            shipped = declaration.shipment_date
            if shipped is None or shipped > date(2024, 10, 1):  # in transit on the day: exempt
                duties += _duty(value, SURTAX_EV)
        elif line.tariff_item.startswith(EV_ITEMS) and day >= date(2026, 3, 1):
            # a permit for every importation in 87.02-87.04, personal ones too
            permit = permits.get(line.permit_number or "")
            valid = (
                permit is not None
                and permit.status == "issued"
                and permit.measure == "CA-CN-EV-TRQ-2026"
                and permit.business_number == declaration.importer.business_number
                and permit.issued_on <= day <= permit.expires_on
                and permit.remaining >= line.quantity
            )
            if not valid:
                rejected = True
            duties += _duty(value, MFN)
        elif line.tariff_item.startswith(STEEL_AL) and day >= date(2024, 10, 22):
            # the mix's claims name the order without a scheduled item: nothing is remitted
            duties += _duty(value, SURTAX_STEEL)
        if day >= date(2024, 10, 1) and line.tariff_item.startswith((*EV_ITEMS, *STEEL_AL)):
            if line.tariff_item.startswith(EXCISE_ITEMS):
                duties += EXCISE * line.quantity
            duties += _duty(value + duties, GST)
        total += duties
    return Decimal("0.00") if rejected else total


def python_rate(
    parsed: list[Declaration], permits: dict[str, Permit]
) -> tuple[float, list[Decimal]]:
    totals: list[Decimal] = []

    def run() -> None:
        totals.clear()
        totals.extend(by_hand(item, permits) for item in parsed)

    return _timed(len(parsed), run), list(totals)


def run(count: int = 2000) -> dict[str, Any]:
    raw = declarations(count)
    parsed = [Declaration.model_validate(item) for item in raw]
    permits = {
        permit.permit_number: permit for permit in (permit_for(index) for index in range(count))
    }
    cold_per_s, engine_per_s, engine_totals = engine_rate(parsed, permits)
    firings = FIRINGS
    hit_rate = firings.hits / max(firings.hits + firings.misses, 1)
    trail_per_s = with_trail_rate(parsed, permits)
    python_per_s, python_totals = python_rate(parsed, permits)
    if engine_totals != python_totals:
        raise AssertionError("the hand-written evaluation disagrees with the engine")
    raw_per_s = durable_raw_rate(count)
    return {
        "declarations_per_s": round(engine_per_s, 1),
        "vs_durable_rules_raw": round(engine_per_s / raw_per_s, 3),
        "vs_python": round(engine_per_s / python_per_s, 4),
        "cold_per_s": round(cold_per_s, 1),
        "with_trail_per_s": round(trail_per_s, 1),
        "firings_hit_rate": round(hit_rate, 4),
        "durable_rules_raw_per_s": round(raw_per_s, 1),
        "python_per_s": round(python_per_s, 1),
    }
