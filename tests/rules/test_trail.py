"""The audit trail's content: measure checks kept once per pack, measure and day, and
named by digest from every trail that applied them."""

from __future__ import annotations

import hashlib
import json
import time

from helpers import declaration
from rules import trail
from rules.catalog import Catalog
from schemas.audit import canonical_json, verify_chain
from schemas.declaration import Declaration
from schemas.verification import verdict_sha256, verify_declaration
from store import RedisStore
from store_calls import measure_check_record
from workers.evaluation import decide


def decided(store: RedisStore, catalog: Catalog, declaration_id: str, **fields: object) -> None:
    parsed = Declaration.model_validate(declaration(declaration_id, **fields))
    store.submit(declaration_id, parsed.canonical_json(), parsed.body_sha256(),
                 parsed.importer.business_number, time.time(), trail.received(parsed, "test"))  # fmt: skip
    assert decide(store, catalog, declaration_id) == "decided"


def test_measure_checks_are_kept_once_and_named_by_digest(
    store: RedisStore, catalog: Catalog
) -> None:
    """Two declarations of one day name the same kept check record, whose digest matches."""
    for declaration_id in ("a", "b"):
        decided(store, catalog, declaration_id, accepted_at="2026-03-10T10:00:00-05:00")
    refs = []
    for declaration_id in ("a", "b"):
        events = store.audit(declaration_id)
        assert verify_chain(events).verified
        [checks] = [event for event in events if event.type == "measure_checks"]
        refs.append(checks.data["checks"])
        assert all(
            event.data.get("stage") != "measure"
            for event in events
            if event.type == "rule_decision"
        )
    assert refs[0] == refs[1]
    [ref] = refs[0]
    assert "WTO-EVTRQ-ILA-1.4A" in ref["rules"]
    record = measure_check_record(store, ref["record_sha256"])
    assert record is not None
    assert record["pack"] == ref["pack"]
    assert hashlib.sha256(canonical_json(record).encode()).hexdigest() == ref["record_sha256"]
    assert record["inputs"]["publication_lead_days"] == 4
    assert [decision["rule"] for decision in record["decisions"]] == ref["rules"]


def test_the_verdict_event_holds_the_sha256_of_the_verdict_as_served(
    store: RedisStore, catalog: Catalog
) -> None:
    """The verdict event records the SHA-256 of the stored verdict as served, and a store
    without a key verifies the trail without calling it authenticated."""
    decided(store, catalog, "v", accepted_at="2026-03-10T10:00:00-05:00")
    record = store.get("v")
    assert record is not None and record.verdict is not None
    [event] = [event for event in store.audit("v") if event.type == "verdict"]
    assert event.data["verdict_sha256"] == verdict_sha256(record.verdict)
    _, verification = verify_declaration(
        "v", store.audit_raw("v"), body=record.body, verdict=record.verdict,
        recorded_head=record.audit_head, recorded_count=record.audit_len,
        recorded_mac=record.audit_mac, key=store.audit_key,
    )  # fmt: skip
    assert (verification.verified, verification.authenticated) == (True, False)
    assert record.audit_mac is None


def test_the_verdict_hash_covers_what_is_not_assessed(store: RedisStore, catalog: Catalog) -> None:
    """A stored verdict whose not-assessed list is emptied no longer verifies: the total
    cannot be made to look like the whole amount owing without the trail saying so."""
    decided(store, catalog, "n", accepted_at="2025-12-01T10:00:00-05:00")
    record = store.get("n")
    assert record is not None and record.verdict is not None
    stored = json.loads(record.verdict)
    assert [item["tax"] for item in stored["not_assessed"]] == ["Luxury tax on subject vehicles"]

    def verified(verdict: str) -> bool:
        assert record is not None
        _, verification = verify_declaration(
            "n", store.audit_raw("n"), body=record.body, verdict=verdict,
            recorded_head=record.audit_head, recorded_count=record.audit_len,
            recorded_mac=record.audit_mac, key=store.audit_key,
        )  # fmt: skip
        return verification.verified

    assert verified(record.verdict)
    assert not verified(json.dumps({**stored, "not_assessed": []}))
