"""The record's proof covers what a reader is served (docs/security.md): status,
decided_at, the list summary and the business number changed directly in Redis fail
verification, and so do a rollback to an older authentic state, a removed checkpoint
pointer and a checkpoint list cut short. Tampering is done with a raw Redis client, as
someone with write access to Redis but without the audit key could."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from conftest import OTHER_IMPORTER, InProcess, audit_of, unique_id
from helpers import declaration
from store import RedisStore
from store_calls import change_stored_byte, declaration_keys

CHECKPOINT_AT = "2026-12-01T00:00:00.000000Z"


def decided(api: InProcess) -> str:
    body = declaration(unique_id())
    with api.client() as client:
        assert client.post("/v1/declarations", json=body).status_code == 202
        path = f"/v1/declarations/{body['declaration_id']}"
        assert client.get(path, params={"wait": 20}).json()["status"] == "decided"
    return str(body["declaration_id"])


def cancel(api: InProcess, declaration_id: str) -> None:
    with api.client() as client:
        assert client.post(f"/v1/declarations/{declaration_id}/cancel").status_code == 200


def set_field(name: str, value: str) -> Callable[[RedisStore, str], None]:
    def change(store: RedisStore, declaration_id: str) -> None:
        store.client.hset(store.key("decl", declaration_id), name, value)

    return change


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (set_field("decided_at", "2026-01-01T00:00:00.000000Z"), "decided_at"),
        (set_field("outcome", "accepted"), "outcome"),
        (set_field("total_duty", "0.01"), "total_duty"),
        (set_field("errors", "0"), "errors"),
        (set_field("bn", OTHER_IMPORTER), "business number"),
        (set_field("status", "queued"), "status"),
    ],
)
def test_a_served_field_changed_in_redis_fails_verification(
    api: InProcess, change: Callable[[RedisStore, str], None], words: str
) -> None:
    """Changing decided_at, the list summary, the business number or the status of a
    decided declaration in Redis makes its trail fail, naming what was changed."""
    declaration_id = decided(api)
    before = audit_of(api, declaration_id)
    assert (before["verified"], before["authenticated"]) == (True, True)
    store = api.store()
    if words in ("outcome", "errors"):  # to values it does not already have
        current = store.client.hget(store.key("decl", declaration_id), words)
        change = set_field(words, {"outcome": "rejected", "errors": "7"}[words])
        assert current != {"outcome": b"rejected", "errors": b"7"}[words]
    change(store, declaration_id)
    after = audit_of(api, declaration_id)
    assert (after["verified"], after["authenticated"]) == (False, False)
    assert words in after["problem"], after["problem"]
    store.close()


def test_a_cancelled_declaration_shown_as_decided_fails(api: InProcess) -> None:
    """A cancelled declaration whose status is set back to decided fails verification at
    its cancelled event; cancelled, it verifies."""
    declaration_id = decided(api)
    cancel(api, declaration_id)
    assert audit_of(api, declaration_id)["verified"] is True
    store = api.store()
    set_field("status", "decided")(store, declaration_id)
    after = audit_of(api, declaration_id)
    assert after["verified"] is False
    assert after["events"][after["first_bad_seq"] - 1]["type"] == "cancelled"
    assert "status" in after["problem"]
    store.close()


def test_a_rollback_to_an_older_authentic_state_is_detected(api: InProcess) -> None:
    """The record and trail of a decided, checkpointed declaration, saved and put back
    after its cancellation was checkpointed too, fail: the checkpoint index names a newer
    checkpoint than the record."""
    declaration_id = decided(api)
    store = api.store()
    store.write_checkpoint(CHECKPOINT_AT)
    keys = declaration_keys(store, declaration_id)
    saved = [store.client.dump(key) for key in keys]
    cancel(api, declaration_id)
    store.write_checkpoint(CHECKPOINT_AT)
    assert audit_of(api, declaration_id)["verified"] is True
    for key, value in zip(keys, saved, strict=True):
        if value is None:  # not there then
            store.client.delete(key)
        else:
            store.client.restore(key, 0, value, replace=True)  # type: ignore[arg-type]
    with api.client("auditor") as client:  # what a reader is served: the old state
        assert client.get(f"/v1/declarations/{declaration_id}").json()["status"] == "decided"
    after = audit_of(api, declaration_id)
    assert after["verified"] is False
    assert "rolled back" in after["problem"]
    store.close()


def test_a_removed_checkpoint_pointer_is_detected(api: InProcess) -> None:
    """Deleting a checkpointed record's pointer to its checkpoint fails verification."""
    declaration_id = decided(api)
    store = api.store()
    store.write_checkpoint(CHECKPOINT_AT)
    assert audit_of(api, declaration_id)["checkpoint"] is not None
    store.client.hdel(store.key("decl", declaration_id), "checkpoint")
    after = audit_of(api, declaration_id)
    assert after["verified"] is False
    assert "pointer was removed" in after["problem"]
    store.close()


def test_a_checkpoint_list_cut_short_is_detected(api: InProcess) -> None:
    """With two checkpoints, dropping the newer from the list fails verification of a
    trail the older one covers (the list ends before its keyed tip) and of one the newer
    covered (its checkpoint is missing)."""
    first = decided(api)
    store = api.store()
    store.write_checkpoint(CHECKPOINT_AT)
    second = decided(api)
    store.write_checkpoint(CHECKPOINT_AT)
    assert audit_of(api, first)["verified"] is True
    assert audit_of(api, second)["checkpoint"]["seq"] == 2
    store.client.ltrim(store.checkpoints_key, 0, 0)
    for declaration_id in (first, second):
        after = audit_of(api, declaration_id)
        assert after["verified"] is False
        assert "cut short" in after["problem"], after["problem"]
    store.close()


def test_untouched_trails_verify_through_every_status(api: InProcess) -> None:
    """Decided and cancelled declarations verify and are authenticated, before and after
    checkpoints."""
    decided_id = decided(api)
    cancelled_id = decided(api)
    cancel(api, cancelled_id)
    store = api.store()
    ids = [decided_id, cancelled_id]
    for _ in range(2):
        for declaration_id in ids:
            found = audit_of(api, declaration_id)
            assert (found["verified"], found["authenticated"]) == (True, True), found["problem"]
        store.write_checkpoint(CHECKPOINT_AT)
    store.close()


def test_a_byte_changed_in_a_packed_document_fails_verification_and_is_never_a_5xx(
    api: InProcess,
) -> None:
    """A byte changed by hand in a decided declaration's packed document (doc:{id}, its
    body, verdict and trail in one value), wherever it is: the audit answers 200 and fails
    verification, at event 1 and naming the document when it cannot be read; the
    declaration answers 409 naming the document. A document that unpacks to other text
    (raw deflate carries no checksum) fails verification where it changed, and is served
    only if it still reads as a declaration's body and verdict: else a 409 too. Never a
    5xx."""
    declaration_id = decided(api)
    store = api.store()
    size = len(store.client.get(store.key("doc", declaration_id)) or b"")
    unreadable = 0
    for position in range(0, size, 3):
        original = change_stored_byte(store, declaration_id, position)
        with api.client("auditor") as client:
            read = client.get(f"/v1/declarations/{declaration_id}")
            audited = client.get(f"/v1/declarations/{declaration_id}/audit")
        assert read.status_code in (200, 409), (position, read.status_code, read.text)
        assert audited.status_code == 200, (position, audited.text)
        proof = audited.json()
        assert (proof["verified"], proof["authenticated"]) == (False, False), position
        assert proof["first_bad_seq"] is not None and proof["problem"], position
        if read.status_code == 409:
            assert read.json()["error"] == "stored record unreadable"
            assert f"/v1/declarations/{declaration_id}/audit" in read.json()["detail"]
        if f"doc:{declaration_id}" in proof["problem"]:  # it does not unpack
            unreadable += 1
            assert read.status_code == 409
            assert f"doc:{declaration_id}" in read.json()["detail"], read.text
            assert proof["first_bad_seq"] == 1
        store.client.set(store.key("doc", declaration_id), original)
    assert unreadable > 0
    assert audit_of(api, declaration_id)["verified"] is True  # put back, it verifies again
    store.close()


def test_a_packed_document_cut_short_is_a_409_a_failing_audit_and_an_export_line(
    api: InProcess,
) -> None:
    """A decided declaration's packed document cut short in Redis: the declaration answers
    409 naming doc:{id}, its audit fails verification at event 1 naming it, and the export
    goes on, with the declaration's id and that failing trail in its line."""
    declaration_id = decided(api)
    store = api.store()
    key = store.key("doc", declaration_id)
    store.client.set(key, (store.client.get(key) or b"")[:-4])
    store.close()
    with api.client("auditor") as client:
        read = client.get(f"/v1/declarations/{declaration_id}")
        proof = client.get(f"/v1/declarations/{declaration_id}/audit").json()
        params = {"from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z"}
        exported = client.get("/v1/export", params=params)
    assert read.status_code == 409
    assert read.json()["error"] == "stored record unreadable"
    assert f"doc:{declaration_id}" in read.json()["detail"]
    assert (proof["verified"], proof["first_bad_seq"]) == (False, 1)
    assert f"doc:{declaration_id}" in proof["problem"]
    assert exported.status_code == 200
    lines = [json.loads(line) for line in exported.text.splitlines()]
    (line,) = [line for line in lines if line.get("declaration_id") == declaration_id]
    assert "declaration" not in line and "status" not in line
    assert (line["audit"]["verified"], line["audit"]["first_bad_seq"]) == (False, 1)
