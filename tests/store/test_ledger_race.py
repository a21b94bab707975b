"""Races on the quota ledger between OS processes, against a real Redis (SPEC §5: "tested
against a real Redis under concurrency").

Each child process builds its own store on the same key prefix, as Celery worker
processes do, waits at a barrier so that all start together, then works through its
share. In the race between worker processes every declaration is handed to two of them,
as a redelivered task would be.
"""

from __future__ import annotations

import json
import multiprocessing
import random
from datetime import date
from pathlib import Path
from typing import Any

from helpers import IMPORTER, declaration, vin
from rules import engine
from rules.catalog import Catalog, load_catalog
from rules.pack import Measure
from rules.quota import period_of
from schemas.audit import verify_chain
from schemas.declaration import Declaration
from schemas.permit import Permit
from schemas.quota import QuotaRequest
from store.redis_store import RedisStore
from workers import trail
from workers.evaluation import decide

QUOTA = "TEST-JP-EV-TRQ"
PACKS = Path(__file__).resolve().parent.parent / "packs"
DAY = date(2026, 3, 2)
PERIOD = "2026-01-01"
GENERAL = 40  # general units of the half-year; 10 more are reserved for affordable vehicles
PROCESSES = 4


def _decide_all(url: str, prefix: str, ids: list[str], barrier: Any) -> None:
    """Child process: decide each declaration, as a worker process would."""
    store = RedisStore.from_url(url, prefix=prefix)
    catalog = load_catalog([PACKS])
    warm = Declaration.model_validate_json(store.get(ids[0]).body)  # type: ignore[union-attr]
    engine.evaluate(warm, catalog.current, {})  # compile the rulesets before the start
    barrier.wait(timeout=60)
    for declaration_id in ids:
        assert decide(store, catalog, declaration_id) == "decided"
    store.close()


def _allocate_all(
    url: str, prefix: str, jobs: list[tuple[str, list[QuotaRequest]]], barrier: Any
) -> None:
    """Child process: apply quota requests straight to the ledger."""
    store = RedisStore.from_url(url, prefix=prefix)
    barrier.wait(timeout=60)
    for declaration_id, requests in jobs:
        store.allocate(declaration_id, requests)
    store.close()


def _run(target: Any, url: str, prefix: str, shares: list[Any]) -> None:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(shares))
    processes = [
        context.Process(target=target, args=(url, prefix, share, barrier)) for share in shares
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    for process in processes:
        if process.is_alive():
            process.kill()
            process.join()
    assert [process.exitcode for process in processes] == [0] * len(processes)


def _measure(catalog: Catalog) -> Measure:
    found = catalog.measure(QUOTA)
    assert found is not None and found[1].quota is not None
    return found[1]


def _request(measure: Measure, line: int, quantity: int, affordable: bool) -> QuotaRequest:
    period, previous = period_of(measure, DAY)
    return QuotaRequest(
        quota_id=QUOTA, line=line, quantity=quantity,
        sub_quota="affordable" if affordable else None, over_quota="reject", mode="fcfs",
        critical_threshold="0.9", period=period, previous_period=previous, permit_number=None,
    )  # fmt: skip


def _check_event_history(events: list[dict[str, Any]]) -> None:
    """Every event starts from the balance the previous one left, and none is negative."""
    last: dict[str, int] = {}
    for event in events:
        assert event["balance_before"] == last.get(event["period"], 0), event
        assert event["balance_after"] >= 0, event
        last[event["period"]] = event["balance_after"]


def test_processes_racing_for_the_last_units_allocate_exactly_those(
    redis_url: str, store: RedisStore, catalog: Catalog
) -> None:
    """Four worker processes deciding 24 one-vehicle declarations for the last 7 general
    units accept exactly 7, reject the rest with QUOTA-TRACE-REFUSED, consume the losers'
    permits and VINs not at all, and never leave the reserve or drive the balance below
    zero."""
    measure = _measure(catalog)
    left, count = 7, 24
    prefill = _request(measure, 1, GENERAL - left, affordable=False)
    assert store.allocate("prefill", [prefill]).applied
    ids = [f"race-{index:02d}" for index in range(count)]
    for index, declaration_id in enumerate(ids):
        body = Declaration.model_validate(
            declaration(
                declaration_id,
                lines=[
                    {
                        "origin": "JP",
                        "quantity": "1",
                        "permit_number": f"P-{index:02d}",
                        "vins": [vin(index)],
                    }
                ],
                accepted_at="2026-03-02T10:00:00-05:00",
            )
        )
        stored = store.submit(
            declaration_id, body.canonical_json(), body.body_sha256(), IMPORTER, float(index),
            trail.received(body, "race"),
        )  # fmt: skip
        assert stored.outcome == "created"
        permit = Permit(
            permit_number=f"P-{index:02d}", business_number=IMPORTER, measure=QUOTA, quantity=1,
            issued_on=date(2026, 3, 1), expires_on=date(2026, 4, 30),
        )  # fmt: skip
        assert store.add_permit(permit)
    # every declaration goes to two of the processes, in a different order in each
    rng = random.Random(1162)
    shares: list[list[str]] = [[] for _ in range(PROCESSES)]
    for declaration_id in ids:
        for process in rng.sample(range(PROCESSES), 2):
            shares[process].append(declaration_id)
    for share in shares:
        rng.shuffle(share)

    _run(_decide_all, redis_url, store.prefix, shares)

    outcomes: dict[str, str] = {}
    for index, declaration_id in enumerate(ids):
        record = store.get(declaration_id)
        assert record is not None and record.status == "decided" and record.verdict is not None
        verdict = json.loads(record.verdict)
        outcomes[declaration_id] = verdict["outcome"]
        allocation = store.allocation(declaration_id)
        assert allocation is not None
        permit = store.permit(f"P-{index:02d}")
        assert permit is not None
        owner = store.vin_owner(QUOTA, vin(index))
        rules = {finding["rule"] for finding in verdict["findings"]}
        if verdict["outcome"] == "accepted":
            assert allocation.applied and allocation.lines[0].in_quota == 1
            assert allocation.lines[0].reserved_used == 0
            assert (permit.used, owner) == (1, declaration_id)
            assert "QUOTA-TRACE-REFUSED" not in rules
        else:
            assert verdict["outcome"] == "rejected"
            assert not allocation.applied
            assert allocation.lines[0].status == "quota_exhausted"
            assert "QUOTA-TRACE-REFUSED" in rules
            assert (permit.used, owner) == (0, None)
        # decided once, although two processes worked on it
        chain = store.audit(declaration_id)
        assert verify_chain(chain).verified
        assert [event.type for event in chain].count("quota_allocation") == 1
        assert [event.type for event in chain].count("verdict") == 1

    winners = sorted(d for d, outcome in outcomes.items() if outcome == "accepted")
    assert len(winners) == left
    fields = store.quota_periods(QUOTA)[PERIOD]
    assert int(fields["allocated"]) == GENERAL
    assert int(fields["reserved_used:affordable"]) == 0
    events = store.quota_events(QUOTA)
    _check_event_history(events)
    allocated = [event for event in events if event["type"] == "allocated"]
    assert sorted(event["declaration_id"] for event in allocated) == ["prefill", *winners]
    assert events[-1]["balance_after"] == 10  # the reserve, untouched


def test_processes_racing_for_general_and_reserved_units_never_overdraw(
    redis_url: str, store: RedisStore, catalog: Catalog
) -> None:
    """With 4 general and 10 reserved units left, processes racing 24 declarations of an
    affordable and a non-affordable vehicle, and 2 of two affordable vehicles, end in the
    one outcome every order gives: 4 of the first kind and both of the second applied,
    no general unit taken twice or from the reserve, the balance never below zero."""
    measure = _measure(catalog)
    assert store.allocate("prefill", [_request(measure, 1, GENERAL - 4, affordable=False)]).applied
    pairs = [
        (f"pair-{index:02d}", [_request(measure, 1, 1, True), _request(measure, 2, 1, False)])
        for index in range(24)
    ]
    doubles = [(f"double-{index}", [_request(measure, 1, 2, True)]) for index in range(2)]
    jobs = pairs + doubles
    random.Random(35000).shuffle(jobs)
    shares = [jobs[process::PROCESSES] for process in range(PROCESSES)]

    _run(_allocate_all, redis_url, store.prefix, shares)

    results = {declaration_id: store.allocation(declaration_id) for declaration_id, _ in jobs}
    applied = sorted(d for d, result in results.items() if result and result.applied)
    assert len([d for d in applied if d.startswith("pair-")]) == 4
    assert [d for d in applied if d.startswith("double-")] == ["double-0", "double-1"]
    for declaration_id in applied:
        lines = results[declaration_id].lines  # type: ignore[union-attr]
        assert all(line.in_quota == line.reserved_used for line in lines if line.line == 1)
        assert all(line.reserved_used == 0 for line in lines if line.line == 2)
    fields = store.quota_periods(QUOTA)[PERIOD]
    assert (fields["allocated"], fields["reserved_used:affordable"]) == ("48", "8")
    assert fields["status"] == "critical"
    _check_event_history(store.quota_events(QUOTA))
