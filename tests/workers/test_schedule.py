"""The API's periodic jobs (workers/schedule.py) on a real Redis: the sweep runs the
pro-rata days that are over, and only those, and sends on what they answered; it
enqueues again what was stored long ago without a verdict."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from helpers import declaration
from rules.catalog import Catalog
from schemas.declaration import Declaration
from store import RedisStore
from store.declarations import SubmitResult
from workers import schedule, submission
from workers.evaluation import decide_many


def stored(store: RedisStore, declaration_id: str, **fields: Any) -> None:
    """Submitted as the API submits, its task lost: nothing was sent."""
    parsed = Declaration.model_validate(declaration(declaration_id, **fields))
    [result] = submission.submit(store, [parsed], "test", lambda ids: None, datetime.now(UTC))
    assert isinstance(result, SubmitResult) and result.outcome == "created"


def tw(quantity: int, day: str) -> dict[str, Any]:
    """Fields of a declaration under the daily pro-rata test quota (500 a year)."""
    return {
        "accepted_at": f"{day}T00:00:00Z",
        "lines": [
            {"origin": "TW", "quantity": str(quantity), "value_for_duty": f"{quantity}000.00"}
        ],
    }


def test_the_sweep_runs_the_pro_rata_days_before_today_and_sends_what_they_answered(
    store: RedisStore, catalog: Catalog
) -> None:
    """A request of yesterday is run and its declaration sent to be decided; today's waits for tomorrow's sweep."""
    today = datetime.now(UTC).date()
    stored(store, "yesterday", **tw(5, str(today - timedelta(days=1))))
    stored(store, "today", **tw(5, str(today)))
    assert decide_many(store, catalog, ["yesterday", "today"]) == ["pending_allocation"] * 2
    sent: list[str] = []
    schedule.allocation_runs(store, catalog, sent.extend)
    assert sent == ["yesterday"]
    assert store.ledger.pro_rata_days("TEST-TW-EV-PRORATA") == [today]
    assert decide_many(store, catalog, sent) == ["decided"]


def test_the_sweep_enqueues_again_what_waited_too_long_for_a_verdict(store: RedisStore) -> None:
    """A declaration stored before the sweep's delay and still undecided is sent again, once per delay."""
    stored(store, "lost")
    sent: list[str] = []
    schedule.requeue_stale(store, ["accord-test-empty-queue"], 3600, sent.extend)
    assert sent == []  # stored a moment ago: its task may still come
    schedule.requeue_stale(store, ["accord-test-empty-queue"], -1, sent.extend)
    assert sent == ["lost"]
    assert store.pending_since(time.time() - 1) == []  # at the back of the sweeper's queue
