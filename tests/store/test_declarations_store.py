"""Declarations in the store against a real Redis: storing once (idempotent on the body's
hash), guarded status changes, the tamper-evident audit chain, and how a declaration
sees the permits it names."""

from __future__ import annotations

import json
from datetime import date

import pytest

from helpers import IMPORTER, declaration, permit_terms, quota_request
from rules import trail
from rules.catalog import Catalog
from rules.quota import terms_on
from schemas.audit import verify_chain
from schemas.declaration import Declaration
from store import NotFound, RedisStore
from store_calls import begin, change_stored_event

QUOTA = "TEST-JP-EV-TRQ"
NOW = "2026-03-01T12:00:00Z"


def parsed(declaration_id: str, quantity: str = "2") -> Declaration:
    return Declaration.model_validate(
        declaration(
            declaration_id,
            lines=[{"origin": "JP", "quantity": quantity}],
            accepted_at="2026-03-02T10:00:00-05:00",
        )
    )


def submit(store: RedisStore, body: Declaration) -> str:
    return store.submit(
        body.declaration_id,
        body.canonical_json(),
        body.body_sha256(),
        body.importer.business_number,
        1_700_000_000.0,
        trail.received(body, "test"),
    ).outcome


def test_the_submissions_counter_counts_declarations_stored_not_repeats(
    store: RedisStore,
) -> None:
    """/metrics' `accord_submissions` counts each declaration once, in the same atomic step
    that stores it: a repeat or a conflicting body adds nothing."""
    before = store.stats().get("submissions", 0)
    assert submit(store, parsed("count-1")) == "created"
    assert submit(store, parsed("count-1")) == "existing"
    assert submit(store, parsed("count-1", quantity="3")) == "conflict"
    assert submit(store, parsed("count-2")) == "created"
    assert store.stats()["submissions"] == before + 2


def test_submit_stores_once_and_refuses_another_body_under_the_same_id(
    store: RedisStore,
) -> None:
    """The first submit creates, the same body again finds it, another body conflicts,
    and none of the repeats touches the stored declaration."""
    first = parsed("d-1")
    result = store.submit(
        "d-1",
        first.canonical_json(),
        first.body_sha256(),
        IMPORTER,
        1.0,
        trail.received(first, "t"),
    )
    assert (result.outcome, result.status) == ("created", "queued")
    stored = store.get("d-1")

    assert submit(store, first) == "existing"
    assert submit(store, parsed("d-1", quantity="3")) == "conflict"

    assert store.get("d-1") == stored
    assert stored is not None and stored.sha == first.body_sha256()
    assert stored.audit_len == 2 and len(store.audit("d-1")) == 2
    assert store.pending_since(2.0) == ["d-1"]


def test_record_changes_status_only_from_an_allowed_one(store: RedisStore) -> None:
    """`record` appends and sets fields when the status is allowed, and answers 'stale'
    without writing anything when it is not."""
    submit(store, parsed("d-1"))
    assert store.record("d-1", [("note", {"n": 1})], {"status": "evaluating"}, ("queued",)) == "ok"
    before = (store.get("d-1"), store.audit("d-1"))

    outcome = store.record("d-1", [("note", {"n": 2})], {"status": "decided"}, ("queued",))

    assert outcome == "stale"
    assert (store.get("d-1"), store.audit("d-1")) == before
    record = store.get("d-1")
    assert record is not None and record.status == "evaluating"
    assert store.record("d-1", [("decided", {})], {"status": "decided"}, ("evaluating",), True)
    assert store.pending_since(float("inf")) == []  # done: off the pending set


def test_record_on_an_unknown_declaration_raises_not_found(store: RedisStore) -> None:
    """Appending to a declaration that was never stored is an error, not a new record."""
    with pytest.raises(NotFound):
        store.record("nobody", [("note", {})], {"status": "decided"})
    assert store.get("nobody") is None


def test_the_audit_chain_verifies_and_names_an_altered_event(store: RedisStore) -> None:
    """The chain written by submit and record verifies; changing one stored event makes
    verification fail at that event's sequence number."""
    submit(store, parsed("d-1"))
    store.record("d-1", [("evaluated", {"as_of": "2026-03-02"})], {"status": "evaluating"})
    store.record("d-1", [("verdict", {"outcome": "accepted"}), ("duties", {"total": "1.00"})])
    chain = store.audit("d-1")
    assert [event.seq for event in chain] == [1, 2, 3, 4, 5]
    assert [event.type for event in chain] == [
        "received",
        "validated",
        "evaluated",
        "verdict",
        "duties",
    ]
    verification = verify_chain(chain)
    assert verification.verified
    record = store.get("d-1")
    assert record is not None and verification.head == record.audit_head == chain[-1].hash

    altered = json.loads(chain[3].model_dump_json())
    altered["data"]["outcome"] = "rejected"
    change_stored_event(store, "d-1", 3, json.dumps(altered))

    broken = verify_chain(store.audit("d-1"))
    assert not broken.verified
    assert broken.first_bad_seq == 4
    assert broken.problem is not None and "event 4" in broken.problem


def test_a_declaration_sees_its_permits_without_its_own_consumption(
    store: RedisStore, catalog: Catalog
) -> None:
    """A declaration sees a permit it used as if its own allocation had not used it
    (issued, for the units it declared); any other declaration sees it used, and unknown
    permit numbers are left out."""
    found = catalog.measure(QUOTA)
    assert found is not None and found[1].quota is not None
    measure = found[1]
    day = date(2026, 3, 2)
    terms = permit_terms("P-1", 5, QUOTA, date(2026, 3, 1), date(2026, 4, 30))
    year = terms_on(measure, day)
    assert store.ledger.apply_permit(year, terms, NOW).outcome == "issued"
    assert store.ledger.apply_permit(year, terms, NOW).outcome == "existing"
    assert (
        store.ledger.apply_permit(year, terms.model_copy(update={"quantity": 6}), NOW).outcome
        == "conflict"
    )
    request = quota_request(measure, day, 3, permit="P-1")
    assert store.ledger.allocate("mine", [request], day, NOW).applied

    used = store.ledger.permit(QUOTA, "P-1")
    assert used is not None and (used.status, used.used_by, used.used) == ("used", "mine", 3)
    _, own = begin(store, "mine", [(QUOTA, "P-1"), (QUOTA, "P-UNKNOWN")])
    assert set(own) == {(QUOTA, "P-1")}
    assert (own[QUOTA, "P-1"].status, own[QUOTA, "P-1"].remaining) == ("issued", 3)
    _, other = begin(store, "someone-else", [(QUOTA, "P-1")])
    assert (other[QUOTA, "P-1"].status, other[QUOTA, "P-1"].remaining) == ("used", 0)

    store.ledger.give_back("mine", day, NOW)
    again = begin(store, "someone-else", [(QUOTA, "P-1")])[1][QUOTA, "P-1"]
    assert (again.status, again.used, again.remaining) == ("issued", 0, 3)
