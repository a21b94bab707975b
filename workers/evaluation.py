"""Declarations from the queue to their verdicts: load, take, evaluate, allocate,
finalize, record. Safe to run any number of times for the same declaration: the
allocation is idempotent in the store, and the verdict is written only by the first
run to finish."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Protocol

from rules import engine, trail
from rules.catalog import Catalog
from rules.currency import rate_query
from schemas.declaration import Declaration
from schemas.permit import Permit
from schemas.quota import Allocation
from schemas.rates import RateQuote
from store import (
    DeclarationRecord,
    Declarations,
    ExchangeRates,
    HoldsLedger,
    PackRecords,
    StoreUnavailable,
    Taken,
    Write,
    now_rfc3339,
    today,
)

log = logging.getLogger(__name__)

OPEN = ("queued", "evaluating", "pending_allocation")
MAX_INTERRUPTED = 5  # evaluations cut short (a worker died) before a declaration fails


class Deciding(Declarations, PackRecords, HoldsLedger, ExchangeRates, Protocol):
    """What deciding declarations needs of a store: the declarations, the pack records
    a trail names, the quota ledger, and the exchange rates loaded."""


def decide(store: Deciding, catalog: Catalog, declaration_id: str) -> str:
    """Decide a stored declaration; returns its status afterwards."""
    return decide_many(store, catalog, [declaration_id])[0]


def decide_many(store: Deciding, catalog: Catalog, declaration_ids: Sequence[str]) -> list[str]:
    """Decide stored declarations, in order; returns each one's status afterwards.

    Reads, takes and records the whole chunk in one round trip each; only allocations go
    one by one, in order, so that first come is first served. A declaration that cannot
    be evaluated ends `failed` without stopping the others; Redis becoming unreachable
    stops the chunk (the task retries it, and what was decided already returns at once)."""
    ids = list(dict.fromkeys(declaration_ids))
    statuses: dict[str, str] = {}
    todo: list[tuple[DeclarationRecord, Declaration]] = []
    records = {record.declaration_id: record for record in store.get_many(ids)}
    for declaration_id in ids:
        record = records.get(declaration_id)
        if record is None or record.status not in OPEN:
            statuses[declaration_id] = record.status if record else "missing"
            continue
        try:
            todo.append((record, Declaration.model_validate_json(record.body)))
        except ValueError as exc:
            statuses[declaration_id] = _failed(store, declaration_id, exc)
    permit_quotas = catalog.permit_quotas()
    wanted = [
        (
            record.declaration_id,
            [
                (quota_id, line.permit_number)
                for line in parsed.lines
                if line.permit_number
                for quota_id in permit_quotas
            ],
        )
        for record, parsed in todo
    ]
    writes: list[Write] = []
    for (record, parsed), (taken, found) in zip(todo, store.begin_many(wanted), strict=True):
        declaration_id = record.declaration_id
        try:
            permits = own_permits(found, parsed.importer.business_number)
            outcome = _decide_one(store, catalog, record, parsed, taken, permits)
        except StoreUnavailable:
            raise
        except Exception as exc:  # this declaration's own problem: the others go on
            statuses[declaration_id] = _failed(store, declaration_id, exc)
            continue
        if isinstance(outcome, Write):
            writes.append(outcome)
        else:
            statuses[declaration_id] = outcome
    for write, written in zip(writes, store.record_many(writes), strict=True):
        if written == "ok":
            statuses[write.declaration_id] = "decided"
        else:  # a duplicate delivery finished first, or it was cancelled meanwhile
            current = store.get(write.declaration_id)
            statuses[write.declaration_id] = current.status if current else "missing"
    return [statuses[declaration_id] for declaration_id in declaration_ids]


def _decide_one(
    store: Deciding,
    catalog: Catalog,
    record: DeclarationRecord,
    declaration: Declaration,
    taken: Taken,
    permits: Mapping[str, Permit],
) -> str | Write:
    """One declaration, taken: its final status, or the write that records its verdict."""
    declaration_id = record.declaration_id
    if taken.status not in OPEN:  # cancelled, or decided by a duplicate delivery, meanwhile
        return taken.status
    if taken.interrupted > MAX_INTERRUPTED:
        fail(store, declaration_id, f"evaluation was interrupted {taken.interrupted} times")
        return "failed"
    evaluation = engine.evaluate(
        declaration, catalog.current, permits, rates=loaded_rates(store, catalog, declaration)
    )
    allocation = (
        store.ledger.allocate(
            declaration_id,
            evaluation.requests,
            evaluation.as_of,
            now_rfc3339(),
            declaration.importer.business_number,
        )
        if evaluation.requests
        else None
    )
    if allocation is not None and allocation.cancelled:
        return "cancelled"
    if allocation is not None and allocation.pending:
        return _wait_for_run(store, declaration_id, taken.before, allocation)
    concluded = trail.conclude(evaluation, allocation, permits)
    for pack in evaluation.packs:
        store.keep_pack(pack.sha256, pack.text)
    store.keep_measure_checks(concluded.check_records)
    outcome = concluded.verdict.outcome
    return Write(
        declaration_id=declaration_id,
        events=concluded.events,
        fields={
            "status": "decided",
            "outcome": outcome,
            "decided_at": now_rfc3339(),
            "verdict": concluded.verdict_json,
        },
        allowed=OPEN,
        done=True,
        known_head=(record.audit_head, record.audit_len),
        decisions=concluded.decisions,
        findings={
            (finding.rule, finding.line): (finding.severity, finding.pack_version)
            for finding in reversed(concluded.verdict.findings)  # the first one of each
        },
        counters=latency_counters(outcome, time.time() - record.submitted_at),
    )


def loaded_rates(
    store: ExchangeRates, catalog: Catalog, declaration: Declaration
) -> list[RateQuote]:
    """The loaded exchange rates a declaration's conversion may use (none when its values
    are in its jurisdiction's currency): the rules pick the one that prevails, and the
    trail keeps them all."""
    query = rate_query(declaration, catalog.current)
    if query is None:
        return []
    return store.rates_between(query.into, query.currency, query.first, query.last)


def own_permits(found: Mapping[tuple[str, str], Permit], business_number: str) -> dict[str, Permit]:
    """The permits a declaration names that its importer holds, by number: another
    importer's permit never enters an evaluation, a verdict or a trail."""
    own: dict[str, Permit] = {}
    for (_, number), permit in sorted(found.items()):
        if permit.business_number == business_number:
            own.setdefault(number, permit)
    return own


def _failed(store: Deciding, declaration_id: str, exc: Exception) -> str:
    log.exception("declaration %s could not be evaluated", declaration_id)
    fail(store, declaration_id, f"{type(exc).__name__}: {exc}")
    return "failed"


def _wait_for_run(
    store: Declarations, declaration_id: str, status: str, allocation: Allocation
) -> str:
    """A daily pro-rata declaration waits for its day's allocation run; the request is
    recorded in its trail the first time only."""
    waited = status == "pending_allocation"
    events = [] if waited else [("allocation_requested", allocation.model_dump(mode="json"))]
    store.record(declaration_id, events, {"status": "pending_allocation"}, allowed=OPEN)
    return "pending_allocation"


def fail(store: Deciding, declaration_id: str, error: str) -> None:
    """End a declaration that cannot be evaluated in `failed`, with the error in words,
    giving back whatever an interrupted evaluation had allocated."""
    returned = store.ledger.give_back(declaration_id, today(), now_rfc3339())
    store.record(
        declaration_id,
        [("failed", {"error": error}), *(("returned", item) for item in returned)],
        {"status": "failed", "error": error, "decided_at": now_rfc3339()},
        allowed=OPEN,
        done=True,
        counters={"verdicts:failed": 1},
    )


LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def latency_counters(outcome: str, seconds: float) -> dict[str, int]:
    """The counters one verdict adds: its outcome, and its latency in a histogram bucket."""
    bucket = next((str(bound) for bound in LATENCY_BUCKETS if seconds <= bound), "+Inf")
    return {
        f"verdicts:{outcome}": 1,
        f"latency_le:{bucket}": 1,
        "latency_sum_ms": round(seconds * 1000),
    }
