"""How declarations are kept in Redis changes nothing a reader sees. A store seeded
through the API answers byte for byte the same (each declaration, its audit trail and
its verification, the decision list, the export) whether its declarations are kept as
now (packed body, verdict and trail, the decision index in buckets) or as a store kept
them before packing (body and verdict in the hash, each event a JSON text of the audit
list, one sorted set and one hash of rows per rule); and a declaration stored before
packing is decided, verified and archived like any other."""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import json
import threading
import time
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from conftest import InProcess, unique_id
from helpers import declaration, permit_terms
from rules import trail
from rules.catalog import Catalog
from rules.quota import terms_of, terms_on
from schemas.audit import verify_chain
from schemas.declaration import Declaration
from store import Archive, RedisStore, Unreadable, archive_closed
from store.declarations import Write
from store.packing import KINDS, compressor, dictionaries, newest, pack, unpacked
from store_calls import decision_index_as_before, rewrite_trail, stored_trail

REJECTING_RULE = "ELIG-EVTRQ-PERMIT-MISSING"
EV_TRQ = "CA-CN-EV-TRQ-2026"
NOW = "2026-03-01T12:00:00Z"


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
    decision_index_as_before(store)
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


def test_decisions_read_across_buckets_in_time_order_with_those_of_before(
    store: RedisStore,
) -> None:
    """A rule's 900 decisions fill one bucket and part of a second; with one decision
    indexed before the buckets, every page from every offset is the slice of the whole
    list in time order, and a time range keeps only what lies in it."""
    for number in range(3):
        declaration_id = f"many-{number}"
        parsed = Declaration.model_validate(declaration(declaration_id))
        store.submit(
            declaration_id, parsed.canonical_json(), parsed.body_sha256(),
            parsed.importer.business_number, 1.0, trail.received(parsed, "test"),
        )  # fmt: skip
        store.record(declaration_id, [("verdict", {"outcome": "rejected"})],
                     {"status": "decided", "outcome": "rejected"},
                     decisions=[("R-1", line) for line in range(1, 301)])  # fmt: skip
    assert int(store.client.get(store.key("decisions", "R-1:count")) or 0) == 2
    store.client.zadd(store.key("decisions", "R-1"), {"before-1|1": 5.0})
    whole = store.decisions("R-1", 0, float("inf"))
    assert len(whole) == 901
    assert whole[0].declaration_id == "before-1" and whole[0].kept is None
    assert [row.at for row in whole] == sorted(row.at for row in whole)
    assert {row.kept["outcome"] for row in whole[1:] if row.kept} == {"rejected"}
    for offset in (0, 1, 511, 512, 513, 899, 900, 901):
        for limit in (1, 7, 600):
            assert store.decisions("R-1", 0, float("inf"), offset, limit) == whole[offset:][:limit]
    later = [row for row in whole if row.at > 10]
    assert store.decisions("R-1", 10, float("inf")) == later
    store.client.delete(store.key("decisions", "R-1"))
    assert store.decisions("R-1", 0, float("inf"), 600, 50) == whole[601:651]


def test_a_permit_keeps_its_registration_in_pieces_and_one_kept_whole_still_reads(
    store: RedisStore, catalog: Catalog
) -> None:
    """A permit's hash keeps its registration in pieces, so Redis keeps it a listpack; a
    permit whose registration was kept whole reads the same and is cancelled the same."""
    found = catalog.measure(EV_TRQ)
    assert found is not None
    measure, day = found[1], date(2026, 3, 3)
    for number in ("P-NEW", "P-OLD"):
        terms = permit_terms(number, 5, EV_TRQ, day, day + timedelta(days=59))
        assert store.ledger.apply_permit(terms_on(measure, day), terms, NOW).outcome == "issued"
    new_key = store.ledger.key(f"{EV_TRQ}|permit|P-NEW")
    assert store.client.object("encoding", new_key) in (b"ziplist", b"listpack")
    old_key = store.ledger.key(f"{EV_TRQ}|permit|P-OLD")
    pieces = {
        name: value for name, value in store.client.hgetall(old_key).items()
        if name.startswith(b"registration:")
    }  # fmt: skip
    assert len(pieces) > 1
    store.client.hdel(old_key, *pieces)
    whole = b"".join(pieces[f"registration:{n}".encode()] for n in range(1, len(pieces) + 1))
    store.client.hset(old_key, "registration", whole)
    new, old = store.ledger.permit(EV_TRQ, "P-NEW"), store.ledger.permit(EV_TRQ, "P-OLD")
    assert new is not None and old is not None
    assert old.model_copy(update={"permit_number": "P-NEW"}) == new
    store.ledger.end_permit(
        functools.partial(terms_of, measure), EV_TRQ, "P-OLD", day, "cancelled", NOW
    )
    cancelled = store.ledger.permit(EV_TRQ, "P-OLD")
    assert cancelled is not None and (cancelled.status, cancelled.returned) == ("cancelled", 5)


def submitted(store: RedisStore, declaration_id: str, events: bool = True) -> str:
    """A declaration stored, with its first audit events (or none); its body as stored."""
    parsed = Declaration.model_validate(declaration(declaration_id))
    store.submit(
        declaration_id, parsed.canonical_json(), parsed.body_sha256(),
        parsed.importer.business_number, 1.0, trail.received(parsed, "test") if events else [],
    )  # fmt: skip
    return parsed.canonical_json()


def deciding(declaration_id: str, outcome: str) -> Write:
    verdict = json.dumps({"outcome": outcome, "lines": []})
    return Write(
        declaration_id, [("verdict", {"outcome": outcome})],
        {"status": "decided", "verdict": verdict, "decided_at": "2026-03-02T00:00:00Z"}, (),
    )  # fmt: skip


def test_a_second_decision_that_read_the_trail_before_the_first_keeps_the_first_events(
    store: RedisStore,
) -> None:
    """Two workers decide one declaration (a duplicate delivery, any status allowed): the
    second read the body and trail before the first made them a document, and its head
    after. Its write is refused as a conflict, not laid over the first one's document;
    written again, its verdict and events follow the first one's, and the chain verifies."""
    submitted(store, "twice-1", events=False)  # an empty trail: its length cannot tell
    second = deciding("twice-1", "rejected")
    read_before = store._priors([second])
    assert store.record_many([deciding("twice-1", "accepted")]) == ["ok"]
    outcome, _ = store.run("record", *store._record_call(second, read_before))
    assert outcome == b"conflict"
    assert store.record_many([second]) == ["ok"]
    chain = store.audit("twice-1")
    assert [event.data["outcome"] for event in chain] == ["accepted", "rejected"]
    record = store.get("twice-1")
    assert record is not None and record.audit_len == 2
    assert json.loads(record.verdict or "")["outcome"] == "rejected"
    assert verify_chain(chain).verified and verify_chain(chain).head == record.audit_head


def test_a_duplicate_delivery_finds_the_declaration_decided(store: RedisStore) -> None:
    """The second of two workers deciding one declaration from `evaluating` is stale: the
    trail holds the first one's verdict alone."""
    submitted(store, "twice-2")
    open_ = ("queued", "evaluating")
    first, second = (
        dataclasses.replace(deciding("twice-2", outcome), allowed=open_, done=True)
        for outcome in ("accepted", "rejected")
    )
    read_before = store._priors([second])
    assert store.record_many([first]) == ["ok"]
    outcome, _ = store.run("record", *store._record_call(second, read_before))
    assert outcome == b"stale"
    assert store.record_many([second]) == ["stale"]
    chain = store.audit("twice-2")
    assert [event.type for event in chain].count("verdict") == 1
    assert verify_chain(chain).verified


def test_a_reader_sees_a_declaration_whole_while_it_is_decided(store: RedisStore) -> None:
    """While declarations are decided (body, verdict and trail moving into one document) and
    then cancelled (an event after the document), every read of a record has its body, a
    verdict exactly when decided, and every trail read has each event once, in order."""
    ids = [f"race-{n}" for n in range(60)]
    bodies = {declaration_id: submitted(store, declaration_id) for declaration_id in ids}
    writer = RedisStore(store.client, store.prefix)

    def decide() -> None:
        for declaration_id in ids:
            writer.record_many([deciding(declaration_id, "accepted")])
            writer.record(declaration_id, [("cancelled", {"by": "test"})], {"status": "cancelled"})

    thread = threading.Thread(target=decide)
    thread.start()
    seen = 0
    while thread.is_alive() or not seen:
        for record in store.get_many(ids):
            assert record.body == bodies[record.declaration_id]
            assert (record.verdict is not None) == (record.status != "queued")
        for declaration_id in ids[::7]:
            chain = store.audit(declaration_id)
            assert [event.seq for event in chain] == list(range(1, len(chain) + 1))
            assert verify_chain(chain).verified
        seen += 1
    thread.join()
    assert {record.status for record in store.get_many(ids)} == {"cancelled"}


def test_an_archive_line_lists_the_fields_by_name(store: RedisStore, tmp_path: Path) -> None:
    """An archive line's fields are in name order, whether the record was kept packed or
    as before packing (when they came in the order of Redis's hash table, never fixed); a
    record decided before packing and cancelled since verifies before and after."""
    for declaration_id in ("line-1", "line-2"):
        submitted(store, declaration_id)
        store.record_many([deciding(declaration_id, "accepted")])
    as_before_packing(store, "line-2")
    store.record("line-2", [("cancelled", {"by": "test"})], {"status": "cancelled"})
    before = store.audit_raw("line-2")
    assert verify_chain(store.audit("line-2")).verified
    time.sleep(0.002)
    archive_closed(store, Archive(tmp_path), datetime.now(UTC))
    reading = RedisStore(store.client, store.prefix, archive_dir=tmp_path)
    assert [str(event) for event in reading.audit_raw("line-2")] == [
        item.decode() if isinstance(item, bytes) else item for item in before
    ]
    chain = reading.audit("line-2")
    assert [event.type for event in chain][-2:] == ["verdict", "cancelled"]
    assert verify_chain(chain).verified
    (path,) = tmp_path.rglob("*.jsonl.gz")
    with gzip.open(path, "rt") as handle:
        lines = {line["declaration_id"]: line for line in map(json.loads, handle)}
    assert set(lines) == {"line-1", "line-2"}
    for line in lines.values():
        assert list(line["fields"]) == sorted(line["fields"])
        assert {"body", "verdict", "status", "audit_head"} <= set(line["fields"])


SHIPPED = {
    "1-trail.zdict": "59e30691e1827aa60b33fc18e52921ed823e1a2dcd04517886f3a6dfe01502d0",
    "2-verdict.zdict": "b7ad6e3b4f0c71967087cd6bcce4607955f99ef7eef60998dcf868d034ced333",
    "3-body.zdict": "f9a003b550aac23dfc384c1c06d14a726fd1edab691d23f4a9999c6de27a82fb",
    "4-doc.zdict": "b76128e09b1d7265db1d6cbb896c784df534c890b1a606c4a4a77be122a24105",
}
"""Every preset dictionary shipped, by SHA-256: a stored value names its dictionary by
number, so one changed or removed would leave values that no longer unpack. A new one
takes the next number and is added here."""


def test_the_shipped_dictionaries_never_change() -> None:
    folder = resources.files("store").joinpath("zdict")
    found = {
        item.name: hashlib.sha256(item.read_bytes()).hexdigest()
        for item in folder.iterdir()
        if item.name.endswith(".zdict")
    }
    assert {name: found.get(name) for name in SHIPPED} == SHIPPED
    numbers = [name.split("-")[0] for name in found]
    assert len(numbers) == len(set(numbers))  # one dictionary per number
    assert set(dictionaries()) == {0, *(int(number) for number in numbers)}


def test_a_value_packs_the_same_each_time_and_unpacks_to_its_bytes() -> None:
    """Each value packs from a copy of one primed stream: the same bytes as a stream primed
    for it alone, the same bytes the second time, and unpacked the very text."""
    text = json.dumps(declaration("pack-1"), separators=(",", ":"))
    for kind in KINDS:
        number = newest(kind)
        alone = compressor(dictionaries()[number][1])
        expected = bytes((0xFF, number)) + alone.compress(text.encode()) + alone.flush()
        assert pack(text, kind) == pack(text, kind) == expected
        assert unpacked(pack(text, kind)) == text.encode()


def test_a_packed_value_that_does_not_read_back_is_unreadable_and_says_where(
    store: RedisStore,
) -> None:
    """A decided declaration's document cut short, or a packed piece of a trail with a byte
    changed after it: reads raise Unreadable naming the key and the first event the value
    holds (1 for the document), never zlib's error; put back, they read as before."""
    submitted(store, "damaged-1")
    assert store.record_many([deciding("damaged-1", "accepted")]) == ["ok"]
    store.record("damaged-1", [("noted", {"n": 1})])
    doc, audit = store.key("doc", "damaged-1"), store.key("audit", "damaged-1")
    whole, piece = store.client.get(doc), store.client.lindex(audit, 0)
    assert whole is not None and piece is not None and piece[0] == 0xFF
    recorded = store.get("damaged-1")
    assert recorded is not None
    held = len(store.audit_raw("damaged-1")) - 1  # the events of the document
    for key, damaged, where, seq in (
        (doc, whole[:-3], "doc:damaged-1", 1),
        (doc, whole + b"\x00", "doc:damaged-1", 1),
        (doc, whole[:1] + b"\xee" + whole[2:], "doc:damaged-1", 1),  # no such dictionary
        (audit, piece[:2] + b"\xff" * (len(piece) - 2), "audit:damaged-1", held + 1),
    ):
        if key == doc:
            store.client.set(key, damaged)
            with pytest.raises(Unreadable) as read:
                store.get("damaged-1")
            assert (read.value.key, read.value.seq) == (where, seq), read.value
            assert read.value.business_number == recorded.business_number
        else:
            store.client.lset(key, 0, damaged)
        with pytest.raises(Unreadable) as trailed:
            store.audit_raw("damaged-1")
        assert (trailed.value.key, trailed.value.seq) == (where, seq), trailed.value
        assert where in str(trailed.value)
        store.client.set(doc, whole)
        store.client.lset(audit, 0, piece)
    assert store.get("damaged-1") == recorded
