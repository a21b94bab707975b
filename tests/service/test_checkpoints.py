"""The API's periodic checkpoint of audit heads goes in pieces: a tick that finds many
trails changed writes several small checkpoints, each authentic and linked to the one
before, so that Redis is never held for long by one."""

from __future__ import annotations

import time

from conftest import InProcess, unique_id
from helpers import declaration
from rules import trail
from schemas.declaration import Declaration
from schemas.verification import verify_checkpoints
from store_calls import checkpoints_raw
from workers.schedule import CHECKPOINT_PIECE, write_checkpoints


def test_a_tick_with_many_changed_trails_writes_small_linked_checkpoints(api: InProcess) -> None:
    """2.4 pieces' worth of changed trails: three checkpoints of at most CHECKPOINT_PIECE,
    covering every trail once, and the chain verifies under the audit key."""
    store = api.store()
    write_checkpoints(store, pause=0)  # what other tests left changed
    before = len(checkpoints_raw(store))
    ids = []
    for _ in range(int(CHECKPOINT_PIECE * 2.4)):
        parsed = Declaration.model_validate(declaration(unique_id("cp")))
        store.submit(parsed.declaration_id, parsed.canonical_json(), parsed.body_sha256(),
                     parsed.importer.business_number, time.time(),
                     trail.received(parsed, "test"))  # fmt: skip
        ids.append(parsed.declaration_id)
    written = write_checkpoints(store, pause=0)
    assert [len(piece.declarations) for piece in written] == [
        CHECKPOINT_PIECE,
        CHECKPOINT_PIECE,
        len(ids) - 2 * CHECKPOINT_PIECE,
    ]
    covered = [entry for piece in written for entry in piece.declarations]
    assert sorted(entry[0] for entry in covered) == sorted(ids)
    raw = checkpoints_raw(store)
    assert len(raw) == before + 3
    count, problem = verify_checkpoints(raw, api.audit_key)
    assert (count, problem) == (len(raw), None)
    assert write_checkpoints(store, pause=0) == []  # nothing changed since
    store.close()
