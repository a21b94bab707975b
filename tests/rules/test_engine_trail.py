"""Chaining a decision's events in one pass (`schemas.audit.chain_json`) writes the same
bytes as a validated `AuditEvent` per event, and the trail it makes verifies."""

from __future__ import annotations

from test_engine_projection import allocation_for, random_inputs

from rules import engine, trail
from rules.catalog import Catalog
from schemas.audit import GENESIS, AuditEvent, chain_json, verify_stored

AT = "2026-03-10T15:00:00.123456Z"


def test_chain_json_writes_what_the_models_write_over_random_trails(catalog: Catalog) -> None:
    """Each event's stored JSON and the chain's head equal the model path's, byte for byte."""
    checked = 0
    for parsed, permits, mode in random_inputs(200, seed=5):
        evaluation = engine.evaluate(parsed, catalog.current, permits)
        events = [
            *trail.received(parsed, "tester"),
            *trail.conclude(evaluation, allocation_for(evaluation, mode), permits).events,
        ]
        texts, head = chain_json(GENESIS, 0, AT, events)
        expected, prev = [], GENESIS
        for seq, (kind, data) in enumerate(events, start=1):
            event = AuditEvent.chain(seq, AT, kind, data, prev)
            expected.append(event.model_dump_json())
            prev = event.hash
        assert texts == expected
        assert head == prev
        checked += len(texts)
    assert checked > 1000


def test_a_trail_chained_in_two_steps_verifies(catalog: Catalog) -> None:
    """Events appended onto a stored head continue its sequence and the whole verifies."""
    parsed, permits, mode = next(random_inputs(0, seed=3))
    evaluation = engine.evaluate(parsed, catalog.current, permits)
    first, head = chain_json(GENESIS, 0, AT, trail.received(parsed, "tester"))
    decided = trail.conclude(evaluation, allocation_for(evaluation, mode), permits).events
    rest, end = chain_json(head, len(first), AT, decided)
    events, verification = verify_stored([*first, *rest], end, len(first) + len(rest))
    assert verification.verified, verification.problem
    assert [event.seq for event in events] == list(range(1, len(events) + 1))
