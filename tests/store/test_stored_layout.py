"""How declarations are kept in Redis changes nothing a reader sees. A store seeded
through the API answers byte for byte the same (each declaration, its audit trail and
its verification, the decision list, the export) whether its declarations are kept as
now (packed body, verdict and trail, the decision index in buckets) or as a store kept
them before packing (body and verdict in the hash, each event a JSON text of the audit
list, one sorted set and one hash of rows per rule); and a declaration stored before
packing is decided, verified and archived like any other."""

from __future__ import annotations

import json
from typing import Any

import orjson

from conftest import InProcess, unique_id
from helpers import declaration
from rules import trail
from schemas.audit import verify_chain
from schemas.declaration import Declaration
from store.redis_store import RedisStore
from store_calls import rewrite_trail, stored_trail

REJECTING_RULE = "ELIG-EVTRQ-PERMIT-MISSING"
ROW_FIELDS = ("severity", "pack_version", "outcome")


def as_before_packing(store: RedisStore, declaration_id: str) -> None:
    """Rewrite one declaration's keys as a store kept them before packing."""
    record = store.get(declaration_id)
    assert record is not None
    events = stored_trail(store, declaration_id)
    key = store.key("decl", declaration_id)
    old = {"body": record.body, **({"verdict": record.verdict} if record.verdict else {})}
    store.client.delete(*(store.key(name, declaration_id) for name in ("body", "verdict", "doc")))
    store.client.hset(key, mapping=old)
    rewrite_trail(store, declaration_id, events)


def index_as_before(store: RedisStore) -> None:
    """Rewrite every rule's bucketed decision index as one sorted set and one hash of rows."""
    for raw in store.client.keys(store.key("decisions", "*:count")):
        index = raw.decode().removesuffix(":count")
        rule = index.removeprefix(store.key("decisions", ""))
        rows_key = store.key("decision_rows", rule)
        for number in range(1, int(store.client.get(raw) or 0) + 1):
            entries = store.client.zrange(f"{index}:{number}", 0, -1, withscores=True)
            rows = store.client.hgetall(f"{rows_key}:{number}")
            store.client.zadd(index, dict(entries))
            store.client.hset(rows_key, mapping={
                member: orjson.dumps(dict(zip(ROW_FIELDS, json.loads(row), strict=True)))
                for member, row in rows.items()
            })  # fmt: skip
            store.client.delete(f"{index}:{number}", f"{rows_key}:{number}")
        store.client.delete(raw, f"{index}:first", f"{index}:last")


def seeded(api: InProcess) -> list[str]:
    """Declarations of several kinds, decided: rejected by a rule, accepted, one cancelled."""
    ids = []
    with api.client() as client:
        for accepted_at in ("2026-03-12T10:00:00-05:00", "2026-03-13T10:00:00-05:00", None):
            for _ in range(2):
                fields = {"accepted_at": accepted_at} if accepted_at else {}
                body = declaration(unique_id(), **fields)
                assert client.post("/v1/declarations", json=body).status_code == 202
                ids.append(body["declaration_id"])
        for declaration_id in ids:
            client.get(f"/v1/declarations/{declaration_id}", params={"wait": 20})
        client.post(f"/v1/declarations/{ids[-1]}/cancel")
    return ids


def answers(api: InProcess, ids: list[str]) -> list[bytes]:
    """What readers are served, as bytes."""
    out = []
    with api.client("auditor") as client:
        for declaration_id in ids:
            out.append(client.get(f"/v1/declarations/{declaration_id}").content)
            out.append(client.get(f"/v1/declarations/{declaration_id}/audit").content)
        for limit in (1, 2, 50):
            params: dict[str, Any] = {"rule": REJECTING_RULE, "limit": limit, "cursor": 1}
            out.append(client.get("/v1/decisions", params=params).content)
        params = {"from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z"}
        out.append(client.get("/v1/export", params=params).content)
    return out


def test_answers_are_the_same_bytes_from_packed_and_from_unpacked_records(
    api: InProcess,
) -> None:
    """Each declaration, its audit trail and verification, the decision list and the export
    are the same bytes after the store's keys are rewritten as a store kept them before."""
    ids = seeded(api)
    now = answers(api, ids)
    store = api.store()
    assert store.client.exists(store.key("doc", ids[0]))  # decided: packed into its document
    for declaration_id in ids:
        as_before_packing(store, declaration_id)
    index_as_before(store)
    assert not store.client.exists(store.key("doc", ids[0]))
    assert store.client.hexists(store.key("decl", ids[0]), "verdict")
    before = answers(api, ids)
    store.close()
    assert before == now
    trail = json.loads(now[1])
    assert (trail["verified"], trail["authenticated"]) == (True, True)
    assert json.loads(now[-2])["decisions"]  # the list is not empty
    assert now[-1].count(b"\n") >= len(ids) - 1  # every decided one exported


def test_a_declaration_stored_before_packing_is_decided_and_verifies(store: RedisStore) -> None:
    """A declaration submitted before packing (its body in the hash, its events as JSON
    texts) is taken, decided and read like a new one: its trail joins its document and
    verifies, its body and verdict read back as written."""
    parsed = Declaration.model_validate(declaration("old-1"))
    store.submit(
        "old-1", parsed.canonical_json(), parsed.body_sha256(),
        parsed.importer.business_number, 1.0, trail.received(parsed, "test"),
    )  # fmt: skip
    as_before_packing(store, "old-1")
    assert store.client.hget(store.key("decl", "old-1"), "body") == parsed.canonical_json().encode()
    store.record("old-1", [("evaluated", {"as_of": "2026-03-02"})], {"status": "evaluating"})
    verdict = json.dumps({"outcome": "accepted", "lines": []})
    store.record("old-1", [("verdict", {"outcome": "accepted"})],
                 {"status": "decided", "verdict": verdict, "decided_at": "2026-03-02T00:00:00Z"})  # fmt: skip
    assert store.client.exists(store.key("doc", "old-1"))
    assert not store.client.hexists(store.key("decl", "old-1"), "body")
    record = store.get("old-1")
    assert record is not None
    assert (record.body, record.verdict, record.status) == (
        parsed.canonical_json(),
        verdict,
        "decided",
    )
    chain = store.audit("old-1")
    assert [event.type for event in chain][-2:] == ["evaluated", "verdict"]
    assert verify_chain(chain).verified
    assert verify_chain(chain).head == record.audit_head
