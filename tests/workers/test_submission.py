"""Submitting declarations (workers/submission.py) on a real Redis: what is stored is what
acceptance promises, so a hand-over to the queue that fails loses nothing (the sweeper
sends it again), and a declaration customs has not accepted yet is not stored."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from helpers import declaration
from schemas.declaration import Declaration
from store import RedisStore
from store.declarations import SubmitResult
from workers import schedule, submission


def parsed(declaration_id: str, accepted_at: datetime | None = None) -> Declaration:
    fields = {} if accepted_at is None else {"accepted_at": accepted_at.isoformat()}
    return Declaration.model_validate(declaration(declaration_id, **fields))


def test_a_failed_hand_over_leaves_the_declarations_stored_for_the_sweeper(
    store: RedisStore, caplog: pytest.LogCaptureFixture
) -> None:
    """The queue refusing the new ids changes no answer: each is created and queued, the failure is logged, and the sweeper sends them again."""

    def broker_down(declaration_ids: list[str]) -> None:
        raise ConnectionError("broker unreachable")

    now = datetime.now(UTC)
    with caplog.at_level(logging.ERROR, logger="workers.submission"):
        results = submission.submit(
            store, [parsed("lost-1"), parsed("lost-2")], "test", broker_down, now
        )
    assert results == [SubmitResult("created", "queued")] * 2
    assert "could not enqueue 2 declarations" in caplog.text
    assert [record.status for record in store.get_many(["lost-1", "lost-2"])] == ["queued"] * 2
    sent: list[str] = []
    schedule.requeue_stale(store, ["accord-test-empty-queue"], -1, sent.extend)
    assert sorted(sent) == ["lost-1", "lost-2"]


def test_only_new_declarations_are_handed_on_and_one_not_yet_accepted_is_not_stored(
    store: RedisStore,
) -> None:
    """Answers come in order; an id stored already is not sent again, and one dated after now is refused, unstored."""
    now = datetime.now(UTC)
    sent: list[list[str]] = []
    submission.submit(store, [parsed("first")], "test", sent.append, now)
    later = now + timedelta(days=2)
    results = submission.submit(
        store, [parsed("first"), parsed("future", later), parsed("second")], "test",
        sent.append, now,
    )  # fmt: skip
    assert results[0] == SubmitResult("existing", "queued")
    assert isinstance(results[1], submission.TooEarly)
    assert "accepted_at" in results[1].message
    assert results[2] == SubmitResult("created", "queued")
    assert sent == [["first"], ["second"]]
    assert store.get("future") is None
