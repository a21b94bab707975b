"""The `Declarations` contract, held by every implementation alike: each test runs once
against the Redis store (on the real Redis) and once against the one in memory, with the
same assertions, so that a test that uses the memory one tests what production does."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from helpers import IMPORTER, declaration
from rules import trail
from schemas.audit import GENESIS, verify_chain
from schemas.declaration import Declaration
from schemas.verification import head_mac
from store import Declarations, MemoryDeclarations, NotFound, RedisStore, Write
from store_calls import begin

OTHER = "987654321RM0001"
KEY = b"contract-audit-key"


@pytest.fixture(params=["redis", "memory"])
def declarations(request: pytest.FixtureRequest) -> Iterator[Declarations]:
    """The Redis store under a prefix of its own, or a fresh one in memory; both hold
    the same audit key."""
    if request.param == "memory":
        yield MemoryDeclarations(audit_key=KEY)
        return
    redis_url = request.getfixturevalue("redis_url")
    store = RedisStore.from_url(redis_url, prefix=f"t-{uuid.uuid4().hex[:12]}", audit_key=KEY)
    yield store
    store.close()


def parsed(declaration_id: str, business_number: str = IMPORTER, **fields: object) -> Declaration:
    body = declaration(declaration_id, **fields)
    body["importer"] = {**body["importer"], "business_number": business_number}
    return Declaration.model_validate(body)


def submit(
    store: Declarations, declaration_id: str, at: float = 1000.0, **fields: object
) -> Declaration:
    body = parsed(declaration_id, **fields)
    result = store.submit(declaration_id, body.canonical_json(), body.body_sha256(),
                          body.importer.business_number, at, trail.received(body, "test"))  # fmt: skip
    assert result.outcome == "created"
    return body


def verdict(outcome: str, errors: int = 0) -> str:
    findings = [{"rule": "ELIG-X", "severity": "error"}] * errors
    return json.dumps({"outcome": outcome, "total_duty": "12.50", "findings": findings})


def test_submit_stores_once_and_refuses_another_body_under_the_same_id(
    declarations: Declarations,
) -> None:
    """The first submit creates a queued declaration; the same body again finds it, another
    body conflicts, and neither repeat changes what is stored."""
    body = submit(declarations, "d-1")
    stored = declarations.get("d-1")
    assert stored is not None
    assert (stored.status, stored.sha, stored.business_number) == (
        "queued", body.body_sha256(), IMPORTER,
    )  # fmt: skip
    assert (stored.body, stored.submitted_at, stored.attempts) == (body.canonical_json(), 1000.0, 0)
    assert stored.audit_len == 2 and stored.audit_head != GENESIS

    again = declarations.submit("d-1", body.canonical_json(), body.body_sha256(), IMPORTER, 5.0, [])
    other = parsed("d-1", lines=[{"quantity": "3"}])
    conflict = declarations.submit(
        "d-1", other.canonical_json(), other.body_sha256(), IMPORTER, 5.0, []
    )

    assert (again.outcome, again.status) == ("existing", "queued")
    assert (conflict.outcome, conflict.status) == ("conflict", "queued")
    assert declarations.get("d-1") == stored


def test_a_batch_is_stored_item_by_item(declarations: Declarations) -> None:
    """submit_many answers each item on its own: a repeat within the batch finds the first."""
    one, two = parsed("b-1"), parsed("b-2")
    items = [
        (body.declaration_id, body.canonical_json(), body.body_sha256(), IMPORTER, 7.0, [])
        for body in (one, two, one)
    ]
    results = declarations.submit_many(items)
    assert [result.outcome for result in results] == ["created", "created", "existing"]
    assert declarations.statuses(["b-1", "b-2"]) == ["queued", "queued"]


def test_record_writes_only_from_an_allowed_status(declarations: Declarations) -> None:
    """A record appends its events and sets its fields when the status is allowed; from
    any other status it answers 'stale' and writes nothing."""
    submit(declarations, "d-1")
    ok = declarations.record("d-1", [("note", {"n": 1})], {"status": "evaluating"}, ("queued",))
    before = declarations.get("d-1")

    stale = declarations.record("d-1", [("note", {"n": 2})], {"status": "decided"}, ("queued",))

    assert (ok, stale) == ("ok", "stale")
    assert declarations.get("d-1") == before
    assert before is not None and (before.status, before.audit_len) == ("evaluating", 3)


def test_record_on_a_missing_declaration_raises_not_found(declarations: Declarations) -> None:
    """A write to a declaration never stored is an error, and creates nothing."""
    with pytest.raises(NotFound, match="nobody"):
        declarations.record("nobody", [("note", {})], {"status": "decided"})
    assert declarations.get("nobody") is None


def test_a_write_on_a_head_that_moved_is_chained_on_the_current_one(
    declarations: Declarations,
) -> None:
    """A write that names the head it read, after another write moved it, still joins
    the chain at its end: the trail verifies and counts every event."""
    submit(declarations, "d-1")
    first = declarations.get("d-1")
    assert first is not None
    declarations.record("d-1", [("note", {"n": 1})])
    late = Write("d-1", [("note", {"n": 2})], {}, (), known_head=(first.audit_head, 2))

    assert declarations.record_many([late]) == ["ok"]
    stored = declarations.get("d-1")
    assert stored is not None and stored.audit_len == 4
    events = declarations.audit("d-1")  # both read their trail back, as AuditTrails does
    assert [event.seq for event in events] == [1, 2, 3, 4]
    assert verify_chain(events).verified and events[-1].hash == stored.audit_head


def test_the_head_is_authenticated_under_the_audit_key(declarations: Declarations) -> None:
    """The stored MAC authenticates the declaration's current head and event count."""
    submit(declarations, "d-1")
    declarations.record("d-1", [("note", {})], {"status": "evaluating"})
    stored = declarations.get("d-1")
    assert stored is not None
    assert stored.audit_mac == head_mac(KEY, "d-1", stored.audit_head, stored.audit_len)


def test_a_verdict_is_listed_by_its_summary(declarations: Declarations) -> None:
    """recent lists the newest submissions first, one importer's when named, and shows a
    recorded verdict's outcome, duty and findings."""
    submit(declarations, "old", at=1.0)
    submit(declarations, "new", at=3.0)
    submit(declarations, "theirs", at=2.0, business_number=OTHER)
    fields = {"status": "decided", "verdict": verdict("rejected", errors=2), "decided_at": "Z"}
    assert declarations.record("old", [("verdict", {})], fields, done=True) == "ok"

    everyone = declarations.recent(limit=10)
    mine = declarations.recent(limit=10, business_number=IMPORTER)

    assert [item.declaration_id for item in everyone] == ["new", "theirs", "old"]
    assert [item.declaration_id for item in declarations.recent(limit=2)] == ["new", "theirs"]
    assert [item.declaration_id for item in mine] == ["new", "old"]
    old = mine[1]
    assert (old.status, old.outcome, old.total_duty, old.errors, old.warnings) == (
        "decided", "rejected", "12.50", 2, 0,
    )  # fmt: skip
    assert (old.importer_name, old.line_count, old.business_number) == (
        "Maple Motors Inc.", 1, IMPORTER,
    )  # fmt: skip
    assert (mine[0].outcome, mine[0].status) == (None, "queued")


def test_decided_between_lists_decided_and_failed_declarations(
    declarations: Declarations,
) -> None:
    """A decided or failed declaration is listed among those decided in a window that
    holds now; a cancelled or open one never is."""
    for declaration_id in ("dec", "fail", "cancel", "open"):
        submit(declarations, declaration_id)
    declarations.record("dec", [], {"status": "decided", "verdict": verdict("accepted")})
    declarations.record("fail", [], {"status": "failed", "error": "boom"})
    declarations.record("cancel", [], {"status": "cancelled"})

    assert sorted(declarations.decided_between(0, float("inf"))) == ["dec", "fail"]
    assert declarations.decided_between(0, 1) == []


def test_a_worker_takes_a_declaration_once_and_counts_interrupted_attempts(
    declarations: Declarations,
) -> None:
    """Taking moves queued to evaluating; finding it evaluating counts an interrupted
    attempt; a closed or missing declaration is left as it is; unknown permits are left out."""
    submit(declarations, "d-1")
    submit(declarations, "closed")
    declarations.record("closed", [], {"status": "cancelled"})

    taken, permits = begin(declarations, "d-1", [("TEST-QUOTA", "P-UNKNOWN")])
    again, _ = begin(declarations, "d-1")
    (closed, _), (missing, _) = declarations.begin_many([("closed", []), ("nobody", [])])

    assert (taken.status, taken.before, taken.interrupted, permits) == (
        "evaluating", "queued", 0, {},
    )  # fmt: skip
    assert (again.status, again.before, again.interrupted) == ("evaluating", "evaluating", 1)
    assert (closed.status, closed.before, closed.interrupted) == ("cancelled", "cancelled", 0)
    assert (missing.status, missing.before) == ("", "")
    stored = declarations.get("d-1")
    assert stored is not None and (stored.status, stored.attempts) == ("evaluating", 1)


def test_the_pending_queue_orders_by_submission_and_forgets_what_is_done(
    declarations: Declarations,
) -> None:
    """Pending declarations are listed oldest first up to a time and a limit; a touched
    one goes to the back; one recorded done leaves the queue."""
    for position, declaration_id in enumerate(("p-1", "p-2", "p-3"), start=1):
        submit(declarations, declaration_id, at=float(position))

    assert declarations.pending_since(2.5) == ["p-1", "p-2"]
    assert declarations.pending_since(10.0, limit=1) == ["p-1"]
    declarations.touch_pending("p-1", 9.0)
    declarations.touch_pending("never-stored", 0.5)  # only declarations already pending
    assert declarations.pending_since(10.0) == ["p-2", "p-3", "p-1"]
    declarations.record("p-2", [("decided", {})], {"status": "decided"}, done=True)
    assert sorted(declarations.pending_all()) == ["p-1", "p-3"]
    assert declarations.pending_since(10.0) == ["p-3", "p-1"]


def test_reads_of_many_keep_order_and_skip_what_is_missing(declarations: Declarations) -> None:
    """get_many returns the stored ones in the order asked; statuses answers None for a
    missing one, in its place."""
    submit(declarations, "a")
    submit(declarations, "b")
    records = declarations.get_many(["b", "nobody", "a"])
    assert [record.declaration_id for record in records] == ["b", "a"]
    assert declarations.statuses(["b", "nobody", "a"]) == ["queued", None, "queued"]
