"""Races on the quota ledger between OS processes, against a real Redis (SPEC §5: "tested
against a real Redis under concurrency").

Each child process builds its own store on the same key prefix, as Celery worker and
API processes do, waits at a barrier so that all start together, then works through its
share. Permit applications race for the last vehicles of a half of CA-CN-EV-TRQ-2026
(drawn at permit issuance); declarations race for the last units of TEST-JP-EV-TRQ
(drawn at declarations), each handed to two processes as a redelivered task would be.
"""

from __future__ import annotations

import multiprocessing
import random
from datetime import date
from pathlib import Path
from typing import Any

from helpers import IMPORTER, vin
from helpers import quota_request as request
from rules.catalog import Catalog, load_catalog
from rules.measure import Measure
from rules.quota import terms_of, terms_on
from schemas.ledger import QuotaEvent
from schemas.permit import PermitApplication
from schemas.quota import QuotaRequest
from store import RedisStore
from store_calls import vin_owner
from workers import permits as permit_workflow

NOW = "2026-03-01T12:00:00Z"
PACKS = Path(__file__).resolve().parent.parent / "packs"
EV_TRQ = "CA-CN-EV-TRQ-2026"
EV_H1 = "2026-03-01"
ISSUED_ON = date(2026, 4, 14)
RACE = "TEST-JP-EV-TRQ"
DAY = date(2026, 3, 2)
PERIOD = "2026-01-01"
GENERAL = 40  # general units of the half-year; 10 more are reserved for affordable vehicles
PROCESSES = 4


def _apply_all(url: str, prefix: str, jobs: list[tuple[str, int]], barrier: Any) -> None:
    """Child process: apply for permits through the permit workflow, as the API would;
    a refusal must say that fewer units were left than asked for."""
    store = RedisStore.from_url(url, prefix=prefix)
    catalog = load_catalog([PACKS])
    barrier.wait(timeout=60)
    for number, quantity in jobs:
        application = PermitApplication(
            permit_number=number, business_number=IMPORTER, measure=EV_TRQ,
            quantity=quantity, issued_on=ISSUED_ON,
        )  # fmt: skip
        decision = permit_workflow.apply(store, catalog, application, ISSUED_ON).decision
        if decision.outcome == "refused":
            assert decision.remaining is not None and decision.remaining < quantity
        else:
            assert decision.outcome == "issued", decision
            assert decision.permit is not None and decision.permit.held == quantity
    store.close()


def _allocate_all(
    url: str, prefix: str, jobs: list[tuple[str, list[QuotaRequest]]], barrier: Any
) -> None:
    """Child process: apply declarations' quota requests straight to the ledger."""
    store = RedisStore.from_url(url, prefix=prefix)
    barrier.wait(timeout=60)
    for declaration_id, requests in jobs:
        store.ledger.allocate(declaration_id, requests, DAY, NOW)
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


def _measure(catalog: Catalog, measure_id: str) -> Measure:
    found = catalog.measure(measure_id)
    assert found is not None and found[1].quota is not None
    return found[1]


def _check_event_history(events: tuple[QuotaEvent, ...]) -> None:
    """Every event starts from the balance the previous one of its period left, and none
    is negative."""
    last: dict[str, int] = {}
    for event in events:
        assert event.balance_before == last.get(event.period, 0), event
        assert event.balance_after >= 0, event
        last[event.period] = event.balance_after


def _race_for_permits(
    redis_url: str, store: RedisStore, catalog: Catalog, left: int, quantities: list[int]
) -> tuple[set[str], set[str]]:
    """Leave `left` vehicles in the first half, race applications of `quantities` from
    four processes; answer the numbers issued and refused."""
    measure = _measure(catalog, EV_TRQ)
    year = terms_of(measure, 1)
    first = store.ledger.apply_permit(
        year,
        PermitApplication(
            permit_number="PREFILL", business_number=IMPORTER, measure=EV_TRQ,
            quantity=24_500 - left, issued_on=date(2026, 3, 2),
        ).terms("PREFILL", date(2026, 3, 2), 60),
        NOW,
    )  # fmt: skip
    assert first.outcome == "issued"
    jobs = [(f"R-{index:02d}", quantity) for index, quantity in enumerate(quantities)]
    random.Random(1162).shuffle(jobs)
    shares = [jobs[process::PROCESSES] for process in range(PROCESSES)]

    _run(_apply_all, redis_url, store.prefix, shares)

    found = store.ledger.permits([(EV_TRQ, number) for number, _ in jobs])
    issued = {number for (_, number), permit in found.items() if permit.status == "issued"}
    assert all(permit.status == "issued" for permit in found.values())
    refused = {number for number, _ in jobs} - issued
    view = store.ledger.view(year, ISSUED_ON, limit=1000)
    events = view.events.events
    _check_event_history(events)
    drawn = [event for event in events if event.type == "allocated"]
    # a refused application drew nothing: no event names it, no permit holds units for it
    assert sorted(event.permit_number or "" for event in drawn) == sorted(["PREFILL", *issued])
    sizes = dict(jobs)
    h1 = view.periods[0]
    assert h1.used == 24_500 - left + sum(sizes[number] for number in issued) <= 24_500
    assert h1.remaining == left - sum(sizes[number] for number in issued) >= 0
    assert h1.permits is not None and h1.permits.outstanding == h1.used
    return issued, refused


def test_processes_applying_for_the_last_permits_issue_exactly_the_quota(
    redis_url: str, store: RedisStore, catalog: Catalog
) -> None:
    """Four processes applying at once for 24 one-vehicle permits when 7 vehicles are left
    in the half issue exactly 7, never more, and each refusal draws nothing."""
    issued, refused = _race_for_permits(redis_url, store, catalog, 7, [1] * 24)
    assert (len(issued), len(refused)) == (7, 17)
    h1 = store.ledger.view(terms_of(_measure(catalog, EV_TRQ), 1), ISSUED_ON).periods[0]
    assert (h1.remaining, h1.status) == (0, "exhausted")


def test_processes_applying_for_permits_of_several_sizes_never_overdraw(
    redis_url: str, store: RedisStore, catalog: Catalog
) -> None:
    """Applications for 1 to 4 vehicles racing for the last 9 never issue more than 9, and
    each refused one asked for more than was left when it was decided."""
    quantities = [1 + index % 4 for index in range(20)]
    issued, _ = _race_for_permits(redis_url, store, catalog, 9, quantities)
    assert issued


def test_processes_racing_for_the_last_units_allocate_exactly_those(
    redis_url: str, store: RedisStore, catalog: Catalog
) -> None:
    """Four processes applying 24 one-vehicle declarations, each handed to two of them, for
    the last 7 general units apply exactly 7, each once, and refuse the rest with
    nothing taken: no VIN counted, the reserve untouched, the balance never below zero."""
    measure = _measure(catalog, RACE)
    left, count = 7, 24
    assert store.ledger.allocate(
        "prefill", [request(measure, DAY, GENERAL - left)], DAY, NOW
    ).applied
    jobs = [
        (f"race-{index:02d}", [request(measure, DAY, 1, vins=[vin(index)])])
        for index in range(count)
    ]
    rng = random.Random(1162)
    shares: list[list[tuple[str, list[QuotaRequest]]]] = [[] for _ in range(PROCESSES)]
    for job in jobs:
        for process in rng.sample(range(PROCESSES), 2):
            shares[process].append(job)
    for share in shares:
        rng.shuffle(share)

    _run(_allocate_all, redis_url, store.prefix, shares)

    winners = []
    for index, (declaration_id, _) in enumerate(jobs):
        allocation = store.ledger.allocation(declaration_id)
        assert allocation is not None
        owner = vin_owner(store.ledger, RACE, vin(index))
        if allocation.applied:
            winners.append(declaration_id)
            assert [(line.in_quota, line.reserved_used) for line in allocation.lines] == [(1, 0)]
            assert owner == declaration_id
        else:
            assert [line.status for line in allocation.lines] == ["quota_exhausted"]
            assert owner is None
    assert len(winners) == left
    year = terms_on(measure, DAY)
    view = store.ledger.view(year, DAY, limit=1000)
    h1 = view.periods[0]
    assert (h1.used, h1.remaining, h1.sub_quotas[0].remaining) == (GENERAL, 10, 10)
    events = view.events.events
    _check_event_history(events)
    allocated = [event for event in events if event.type == "allocated"]
    assert sorted(event.declaration_id or "" for event in allocated) == sorted(
        ["prefill", *winners]
    )


def test_processes_racing_for_general_and_reserved_units_never_overdraw(
    redis_url: str, store: RedisStore, catalog: Catalog
) -> None:
    """With 4 general and 10 reserved units left, processes racing 24 declarations of an
    affordable and a non-affordable vehicle, and 2 of two affordable vehicles, end in the
    one outcome every order gives: 4 of the first kind and both of the second applied,
    no general unit taken twice or from the reserve, the balance never below zero."""
    measure = _measure(catalog, RACE)
    assert store.ledger.allocate("prefill", [request(measure, DAY, GENERAL - 4)], DAY, NOW).applied
    pairs = [
        (
            f"pair-{index:02d}",
            [
                request(measure, DAY, 1, line=1, affordable=True),
                request(measure, DAY, 1, line=2),
            ],
        )
        for index in range(24)
    ]
    doubles = [
        (f"double-{index}", [request(measure, DAY, 2, affordable=True)]) for index in range(2)
    ]
    jobs = pairs + doubles
    random.Random(35000).shuffle(jobs)
    shares = [jobs[process::PROCESSES] for process in range(PROCESSES)]

    _run(_allocate_all, redis_url, store.prefix, shares)

    results = {
        declaration_id: store.ledger.allocation(declaration_id) for declaration_id, _ in jobs
    }
    applied = sorted(d for d, result in results.items() if result and result.applied)
    assert len([d for d in applied if d.startswith("pair-")]) == 4
    assert [d for d in applied if d.startswith("double-")] == ["double-0", "double-1"]
    for declaration_id in applied:
        lines = results[declaration_id].lines  # type: ignore[union-attr]
        assert all(line.in_quota == line.reserved_used for line in lines if line.line == 1)
        assert all(line.reserved_used == 0 for line in lines if line.line == 2)
    view = store.ledger.view(terms_on(measure, DAY), DAY, limit=1000)
    h1 = view.periods[0]
    assert (h1.used, h1.sub_quotas[0].used, h1.remaining) == (48, 8, 2)
    assert h1.status == "critical"
    _check_event_history(view.events.events)
