"""A declaration's life in the worker, on a real Redis: races with cancellation,
interrupted evaluations, failures that must give back what they took, and pro-rata
grants that must not be granted twice. What needs only the declarations (a delivery
that finds nothing to do) runs on the declarations in memory instead."""

from __future__ import annotations

import gc
import json
import time
from datetime import date
from typing import Any

from helpers import declaration
from rules import engine, trail
from rules.catalog import Catalog
from rules.quota import terms_on
from schemas.declaration import Declaration
from schemas.ledger import PeriodFigures
from store import Declarations, MemoryDeclarations, RedisStore, now_rfc3339, today
from store_calls import begin
from workers import allocation
from workers.evaluation import MAX_INTERRUPTED, decide, decide_many, fail


def stored(store: Declarations, declaration_id: str, **fields: Any) -> Declaration:
    parsed = Declaration.model_validate(declaration(declaration_id, **fields))
    store.submit(declaration_id, parsed.canonical_json(), parsed.body_sha256(),
                 parsed.importer.business_number, time.time(), trail.received(parsed, "test"))  # fmt: skip
    return parsed


def tw(quantity: int, day: str = "2026-05-04") -> dict[str, Any]:
    """Fields of a declaration under the daily pro-rata test quota (500 a year)."""
    return {
        "accepted_at": f"{day}T10:00:00-04:00",
        "lines": [
            {"origin": "TW", "quantity": str(quantity), "value_for_duty": f"{quantity}000.00"}
        ],
    }


def run(
    store: RedisStore, catalog: Catalog, day: date, quota_id: str = "TEST-TW-EV-PRORATA"
) -> list[str]:
    """The pro-rata run of a day (workers/allocation.py's); the declarations it asks to be
    evaluated again."""
    found = catalog.measure(quota_id)
    assert found is not None
    sent: list[str] = []
    allocation.run_day(store, found[1], day, sent.extend)
    return sent


def period(store: RedisStore, catalog: Catalog, quota_id: str, day: date) -> PeriodFigures:
    """The ledger's period containing `day`, as it stands on that day."""
    found = catalog.measure(quota_id)
    assert found is not None
    year = store.ledger.view(terms_on(found[1], day), day)
    assert year.current is not None
    return year.current


def in_quota(store: RedisStore, declaration_id: str) -> int:
    record = store.get(declaration_id)
    assert record is not None and record.verdict is not None
    return int(json.loads(record.verdict)["lines"][0]["in_quota_quantity"])


def test_a_cancelled_declaration_takes_nothing_even_from_a_late_worker(
    store: RedisStore, catalog: Catalog
) -> None:
    """A worker that allocates after the declaration was cancelled gets nothing applied."""
    parsed = stored(store, "c1", **tw(5))
    assert (
        store.record("c1", [("cancelled", {})], {"status": "cancelled"}, allowed=("queued",))
        == "ok"
    )
    evaluation = engine.evaluate(parsed, catalog.current, {})
    allocation = store.ledger.allocate("c1", evaluation.requests, parsed.accepted_on, now_rfc3339())
    assert allocation.cancelled
    assert decide(store, catalog, "c1") == "cancelled"
    figures = period(store, catalog, "TEST-TW-EV-PRORATA", parsed.accepted_on)
    assert (figures.used, figures.granted, figures.remaining) == (0, 0, 500)


def test_a_declaration_waiting_for_its_run_is_taken_before_it_is_evaluated_again(
    store: RedisStore, catalog: Catalog
) -> None:
    """After the run, a worker moves pending_allocation to evaluating, so a cancel cannot slip in."""
    stored(store, "p1", **tw(5))
    assert decide(store, catalog, "p1") == "pending_allocation"
    assert decide(store, catalog, "p1") == "pending_allocation"  # the sweeper's visit: nothing new
    types = [event.type for event in store.audit("p1")]
    assert types.count("allocation_requested") == 1
    assert run(store, catalog, date(2026, 5, 4)) == ["p1"]
    taken, _ = begin(store, "p1", [])
    assert (taken.status, taken.before) == ("evaluating", "pending_allocation")
    assert (
        store.record(
            "p1", [("cancelled", {})], {"status": "cancelled"}, allowed=("pending_allocation",)
        )
        == "stale"
    )
    assert decide(store, catalog, "p1") == "decided"
    assert in_quota(store, "p1") == 5


def test_runs_never_grant_units_an_earlier_run_granted(store: RedisStore, catalog: Catalog) -> None:
    """Two days' runs for one 500-unit balance grant 500, then 0, until the first grant is taken."""
    stored(store, "d1", **tw(500, "2026-05-04"))
    stored(store, "d2", **tw(500, "2026-05-05"))
    assert decide(store, catalog, "d1") == "pending_allocation"
    assert decide(store, catalog, "d2") == "pending_allocation"
    run(store, catalog, date(2026, 5, 4))
    run(store, catalog, date(2026, 5, 5))
    assert decide(store, catalog, "d2") == "decided"  # the later day decided first
    assert decide(store, catalog, "d1") == "decided"
    assert (in_quota(store, "d1"), in_quota(store, "d2")) == (500, 0)
    figures = period(store, catalog, "TEST-TW-EV-PRORATA", date(2026, 5, 5))
    assert (figures.used, figures.granted) == (500, 0)


def test_a_cancelled_grant_is_free_for_the_next_run(store: RedisStore, catalog: Catalog) -> None:
    """Cancelling a declaration that was granted units but had not taken them frees them,
    from the day the cancellation is processed: a run of the next day has them all."""
    stored(store, "g1", **tw(300, "2026-05-04"))
    assert decide(store, catalog, "g1") == "pending_allocation"
    run(store, catalog, date(2026, 5, 4))
    assert (
        store.record(
            "g1", [("cancelled", {})], {"status": "cancelled"}, allowed=("pending_allocation",)
        )
        == "ok"
    )
    store.ledger.give_back("g1", date(2026, 5, 4), now_rfc3339())  # processed that day
    stored(store, "g2", **tw(500, "2026-05-05"))
    assert decide(store, catalog, "g2") == "pending_allocation"
    run(store, catalog, date(2026, 5, 5))
    assert decide(store, catalog, "g2") == "decided"
    assert in_quota(store, "g2") == 500


def test_batch_submissions_are_shared_in_submission_order(
    store: RedisStore, catalog: Catalog
) -> None:
    """Declarations stored in one batch (one timestamp) still tie-break in the order given."""
    now = time.time()
    items = []
    for declaration_id in ("t1", "t2", "t3"):
        parsed = Declaration.model_validate(declaration(declaration_id, **tw(1)))
        items.append((declaration_id, parsed.canonical_json(), parsed.body_sha256(),
                      parsed.importer.business_number, now, trail.received(parsed, "test")))  # fmt: skip
    store.submit_many(items)
    stored(store, "big", **tw(497))
    for declaration_id in ("t3", "t2", "big", "t1"):  # workers file them in another order
        assert decide(store, catalog, declaration_id) == "pending_allocation"
    # 500 for 500 asked: everyone is served in full; order shows in the run's answer
    assert run(store, catalog, date(2026, 5, 4)) == ["t1", "t2", "t3", "big"]


def test_an_evaluation_interrupted_too_often_ends_failed(
    store: RedisStore, catalog: Catalog
) -> None:
    """A declaration whose evaluations keep dying (worker killed mid-way) ends failed."""
    stored(store, "crash")
    begin(store, "crash", [])  # an attempt that never finished
    for _ in range(MAX_INTERRUPTED):
        begin(store, "crash", [])
    assert decide(store, catalog, "crash") == "failed"
    record = store.get("crash")
    assert record is not None and "interrupted" in (record.error or "")


def test_failing_gives_back_what_an_interrupted_evaluation_allocated(
    store: RedisStore, catalog: Catalog
) -> None:
    """A declaration that fails after its allocation returns its quota units, to the period
    open on the day it failed within the quota year (after the year they lapse)."""
    parsed = stored(
        store,
        "f1",
        accepted_at="2026-03-10T10:00:00-05:00",
        lines=[{"origin": "KR", "quantity": "3"}],
    )
    evaluation = engine.evaluate(parsed, catalog.current, {})
    allocation = store.ledger.allocate("f1", evaluation.requests, parsed.accepted_on, now_rfc3339())
    assert allocation.applied
    fail(store, "f1", "boom")
    found = catalog.measure("TEST-KR-EV-TRQ")
    assert found is not None
    year = store.ledger.view(terms_on(found[1], parsed.accepted_on), today())
    assert sum(item.used for item in year.periods) == 3
    within_year = year.periods[0].start <= today() <= year.periods[-1].end
    assert sum(item.returned for item in year.periods) == (3 if within_year else 0)
    assert [event.type for event in store.audit("f1")][-2:] == ["failed", "returned"]
    assert store.ledger.allocation("f1") is not None  # marked returned: a retry gives nothing
    assert store.ledger.give_back("f1", today(), now_rfc3339()) == []


def test_a_chunk_decides_in_order_and_one_bad_declaration_stops_no_other(
    store: RedisStore, catalog: Catalog
) -> None:
    """decide_many serves a chunk first come first served; a corrupt one fails alone."""
    for declaration_id in ("k1", "k2"):  # 8 of the 10 units each: only the first fits
        stored(store, declaration_id, accepted_at="2026-03-10T10:00:00-05:00",
               lines=[{"origin": "KR", "quantity": "8"}])  # fmt: skip
    store.submit("broken", '{"not": "a declaration"}', "0" * 64, "123456789RM0001", time.time(), [])
    statuses = decide_many(store, catalog, ["k1", "broken", "k2"])
    assert statuses == ["decided", "failed", "decided"]
    assert (in_quota(store, "k1"), in_quota(store, "k2")) == (8, 2)
    record = store.get("broken")
    assert record is not None and (record.error or "").startswith("ValidationError")


def test_a_delivery_for_a_closed_or_missing_declaration_changes_nothing(catalog: Catalog) -> None:
    """A message redelivered after its declaration was decided or cancelled, or one for a
    declaration never stored, is answered with its status and neither takes nor writes."""
    store = MemoryDeclarations()
    for declaration_id in ("decided", "cancelled"):
        stored(store, declaration_id)
        store.record(declaration_id, [(declaration_id, {})], {"status": declaration_id}, done=True)
    before = store.get_many(["decided", "cancelled"])
    trails = [store.audit(declaration_id) for declaration_id in ("decided", "cancelled")]

    # decide_many is typed for the whole store; this path reads and takes declarations only
    statuses = decide_many(store, catalog, ["decided", "nobody", "cancelled"])

    assert statuses == ["decided", "missing", "cancelled"]
    assert store.get_many(["decided", "cancelled"]) == before
    assert [store.audit(declaration_id) for declaration_id in ("decided", "cancelled")] == trails
    assert store.get("nobody") is None


def test_the_catalog_loaded_before_the_pool_forks_is_out_of_the_collectors_passes() -> None:
    """A worker's main process loads the catalog before it forks its pool and freezes
    what it holds then: the pool processes' full collections no longer walk the packs
    (45 to 80 ms each on the bench machine, a stall of every declaration in flight)."""
    from celery.signals import worker_init

    from workers import context

    gc.unfreeze()
    try:
        worker_init.send(sender=None)
        held = {id(item) for generation in range(3) for item in gc.get_objects(generation)}
        assert gc.get_freeze_count() > 10_000
        assert id(context.catalog()) not in held
    finally:
        gc.unfreeze()
