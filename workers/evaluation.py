"""One declaration from the queue to its verdict: load, evaluate, allocate, finalize,
record. Safe to run any number of times for the same declaration: the allocation is
idempotent in the store, and the verdict is written only by the first run to finish."""

from __future__ import annotations

import functools
import time

from rules import engine
from rules.catalog import Catalog
from schemas.declaration import Declaration
from schemas.quota import NO_ALLOCATION, Allocation
from store.redis_store import RedisStore, now_rfc3339
from workers import trail

OPEN = ("queued", "evaluating", "pending_allocation")
MAX_INTERRUPTED = 5  # evaluations cut short (a worker died) before a declaration fails


def decide(store: RedisStore, catalog: Catalog, declaration_id: str) -> str:
    """Decide a stored declaration; returns its status afterwards.

    Four round trips to Redis at most: read the record; take it and read its permits;
    allocate (only when a line claims quota); record the verdict with its audit events
    and its decision index."""
    record = store.get(declaration_id)
    if record is None:
        return "missing"
    if record.status not in OPEN:
        return record.status
    declaration = Declaration.model_validate_json(record.body)
    numbers = [line.permit_number for line in declaration.lines if line.permit_number]
    taken, permits = store.begin(declaration_id, numbers)
    if taken.status not in OPEN:  # cancelled, or decided by a duplicate delivery, meanwhile
        return taken.status
    if taken.interrupted > MAX_INTERRUPTED:
        fail(store, declaration_id, f"evaluation was interrupted {taken.interrupted} times")
        return "failed"
    evaluation = engine.evaluate(declaration, catalog.current, permits)
    allocation = (
        store.allocate(declaration_id, evaluation.requests, evaluation.as_of)
        if evaluation.requests
        else None
    )
    if allocation is not None and allocation.cancelled:
        return "cancelled"
    if allocation is not None and allocation.pending:
        return _wait_for_run(store, declaration_id, taken.before, allocation)
    verdict, post = engine.finalize_with_decisions(evaluation, allocation or NO_ALLOCATION)
    for pack in evaluation.packs:
        store.keep_pack(pack.sha256, _pack_bytes(pack.path))
    store.keep_measure_checks(trail.measure_check_records(evaluation))
    fired = (*evaluation.measure_findings, *evaluation.fired, *post)
    outcome = store.record(
        declaration_id,
        trail.decided(evaluation, allocation, verdict, post, permits),
        {
            "status": "decided",
            "outcome": verdict.outcome,
            "decided_at": now_rfc3339(),
            "verdict": verdict.model_dump_json(),
        },
        allowed=OPEN,
        done=True,
        known_head=(record.audit_head, record.audit_len),
        decisions=[(item.rule.id, item.line) for item in fired],
        counters=latency_counters(verdict.outcome, time.time() - record.submitted_at),
    )
    if outcome != "ok":
        current = store.get(declaration_id)
        return current.status if current else "missing"
    return "decided"


def _wait_for_run(
    store: RedisStore, declaration_id: str, status: str, allocation: Allocation
) -> str:
    """A daily pro-rata declaration waits for its day's allocation run; the request is
    recorded in its trail the first time only."""
    waited = status == "pending_allocation"
    events = [] if waited else [("allocation_requested", allocation.model_dump(mode="json"))]
    store.record(declaration_id, events, {"status": "pending_allocation"}, allowed=OPEN)
    return "pending_allocation"


def fail(store: RedisStore, declaration_id: str, error: str) -> None:
    """End a declaration that cannot be evaluated in `failed`, with the error in words,
    giving back whatever an interrupted evaluation had allocated."""
    returned = store.give_back(declaration_id)
    store.record(
        declaration_id,
        [("failed", {"error": error}), *(("returned", item) for item in returned)],
        {"status": "failed", "error": error, "decided_at": now_rfc3339()},
        allowed=OPEN,
        done=True,
        counters={"verdicts:failed": 1},
    )


@functools.cache
def _pack_bytes(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def latency_counters(outcome: str, seconds: float) -> dict[str, int]:
    """The counters one verdict adds: its outcome, and its latency in a histogram bucket."""
    bucket = next((str(bound) for bound in LATENCY_BUCKETS if seconds <= bound), "+Inf")
    return {
        f"verdicts:{outcome}": 1,
        f"latency_le:{bucket}": 1,
        "latency_sum_ms": round(seconds * 1000),
    }
