"""What verification proves, without IO: body and verdict held to the chain, heads
authenticated by the key, checkpoints chained and held against the trail."""

from __future__ import annotations

import hashlib
import json

from schemas.audit import GENESIS, AuditEvent
from schemas.verification import (
    NO_KEY,
    Checkpoint,
    head_mac,
    verdict_sha256,
    verify_checkpoints,
    verify_declaration,
)

KEY = b"k" * 32
BODY = '{"declaration_id":"d-1"}'
VERDICT = json.dumps({"outcome": "accepted", "as_of": "2026-03-10T00:00:00Z",
                      "total_duty": "1.06", "findings": []})  # fmt: skip


def trail() -> list[AuditEvent]:
    events = []
    head = GENESIS
    kinds = [
        ("received", {"body_sha256": hashlib.sha256(BODY.encode()).hexdigest()}),
        ("verdict", {"outcome": "accepted", "verdict_sha256": verdict_sha256(VERDICT)}),
    ]
    for seq, (kind, data) in enumerate(kinds, start=1):
        event = AuditEvent.chain(seq, "2026-03-10T00:00:00Z", kind, data, head)
        events.append(event)
        head = event.hash
    return events


def check(
    events: list[AuditEvent], key: bytes | None = KEY, mac_key: bytes = KEY, **changes: object
) -> dict[str, object]:
    args: dict[str, object] = {
        "body": BODY,
        "verdict": VERDICT,
        "recorded_head": events[-1].hash,
        "recorded_count": len(events),
        "recorded_mac": head_mac(mac_key, "d-1", events[-1].hash, len(events)),
        "key": key,
        **changes,
    }
    _, verification = verify_declaration(
        "d-1",
        [event.model_dump_json() for event in events],
        **args,  # type: ignore[arg-type]
    )
    return verification.model_dump()


def test_a_whole_trail_verifies_and_is_authenticated() -> None:
    """Body, verdict, chain and the head's MAC all agree: verified and authenticated."""
    result = check(trail())
    assert (result["verified"], result["authenticated"]) == (True, True)


def test_without_a_key_the_trail_is_checked_but_not_called_authentic() -> None:
    """With no key configured the chain is checked, and the answer says it is not authenticated."""
    result = check(trail(), key=None)
    assert (result["verified"], result["authenticated"]) == (True, False)
    assert result["authentication"] == NO_KEY


def test_a_head_authenticated_under_another_key_fails() -> None:
    """A MAC made with any other key is 'head not authenticated'."""
    result = check(trail(), mac_key=b"x" * 32)
    assert result["verified"] is False
    assert "head not authenticated" in str(result["problem"])


def test_a_verdict_changed_in_any_served_figure_fails_but_not_its_spelling() -> None:
    """A changed total fails at the verdict event; the same verdict re-spelled still verifies."""
    changed = VERDICT.replace('"1.06"', '"0.01"')
    assert (
        check(trail(), verdict=changed)["first_bad_seq"],
        check(trail(), verdict="[")["verified"],
    ) == (2, False)
    assert check(trail(), verdict=json.dumps(json.loads(VERDICT), indent=2))["verified"] is True
    assert "verdict" in str(check(trail(), verdict=None)["problem"])


def test_a_checkpoint_chain_verifies_and_names_a_broken_link() -> None:
    """Checkpoints verify in order; one edited or dropped is named."""
    first = Checkpoint.make(KEY, 1, "t1", [("d-1", "a" * 64, 2)], GENESIS)
    second = Checkpoint.make(KEY, 2, "t2", [("d-2", "b" * 64, 3)], first.mac)
    raw = [first.model_dump_json(), second.model_dump_json()]
    assert verify_checkpoints(raw, KEY) == (2, None)
    forged = first.model_copy(update={"at": "t0"}).model_dump_json()
    assert verify_checkpoints([forged, raw[1]], KEY) == (
        0,
        "checkpoint 1 is not authenticated by the key",
    )
    assert verify_checkpoints([raw[1]], KEY)[0] == 0


def test_a_trail_that_contradicts_its_checkpoint_fails() -> None:
    """A checkpoint holding another head for the declaration makes the trail fail; its own head is covered."""
    events = trail()
    own = Checkpoint.make(KEY, 1, "t1", [("d-1", events[-1].hash, 2)], GENESIS)
    assert check(events, checkpoint=own.model_dump_json())["checkpoint"]["covers"] == "head"  # type: ignore[index]
    other = Checkpoint.make(KEY, 1, "t1", [("d-1", "c" * 64, 2)], GENESIS)
    result = check(events, checkpoint=other.model_dump_json())
    assert result["verified"] is False
    assert "contradicts checkpoint 1" in str(result["problem"])
