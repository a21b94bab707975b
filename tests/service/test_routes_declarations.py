"""The declaration routes' workflows, against a real Redis: the future-date rule refuses
an early declaration and stores nothing, and the cancellation protocol cancels once,
completes on a retry, and refuses a declaration that is being evaluated or that moved."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn

from conftest import unique_id
from helpers import declaration
from rules.catalog import Catalog
from schemas.declaration import Declaration
from schemas.declaration_fields import CLOCK_SKEW
from service.api import create_app
from service.auth import TokenBook, TokenEntry
from settings import Settings
from store import RedisStore, free_port
from workers import cancellation

ADMIN = "an-admin-token-for-the-routes"


@pytest.fixture
def client(store: RedisStore, catalog: Catalog, redis_url: str) -> Iterator[httpx.Client]:
    """The API on this test's store, served by uvicorn in a thread (no worker: what is
    submitted stays queued until a test moves it)."""
    settings = Settings.from_environ({"REDIS_URL": redis_url, "ACCORD_REDIS_PREFIX": store.prefix})
    book = TokenBook((TokenEntry(token=ADMIN, role="admin"),))
    app = create_app(settings, store, lambda ids: None, catalog=catalog, tokens=book)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive()
        time.sleep(0.01)
    headers = {"Authorization": f"Bearer {ADMIN}"}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers) as http:
        yield http
    server.should_exit = True
    thread.join(timeout=10)


def accepted(minutes_from_now: float) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes_from_now)).isoformat()


def submitted(client: httpx.Client) -> str:
    declaration_id = unique_id("cancel")
    answer = client.post("/v1/declarations", json=declaration(declaration_id))
    assert answer.status_code == 202, answer.text
    return declaration_id


def events(client: httpx.Client, declaration_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = client.get(f"/v1/declarations/{declaration_id}/audit").json()[
        "events"
    ]
    return found


def test_a_declaration_accepted_in_the_future_is_refused_and_not_stored(
    client: httpx.Client,
) -> None:
    """Ten minutes ahead of the clock: 422 naming accepted_at, and the id stays unknown."""
    declaration_id = unique_id("early")
    answer = client.post(
        "/v1/declarations", json=declaration(declaration_id, accepted_at=accepted(10))
    )
    assert answer.status_code == 422
    assert answer.json()["detail"] == [
        {
            "field": "accepted_at",
            "message": "accepted_at is in the future: customs has not accepted it yet",
        }
    ]
    assert client.get(f"/v1/declarations/{declaration_id}").status_code == 404


def test_a_clock_a_little_behind_customs_is_tolerated(client: httpx.Client) -> None:
    """Within the clock skew (a few minutes ahead) a declaration is received."""
    assert timedelta(minutes=4) <= CLOCK_SKEW
    body = declaration(unique_id("skew"), accepted_at=accepted(3))
    assert client.post("/v1/declarations", json=body).status_code == 202


def test_the_future_date_rule_is_the_declarations_own() -> None:
    """Declaration.too_early says why at one instant and nothing a skew later."""
    body = Declaration.model_validate(declaration("d", accepted_at="2026-03-10T10:00:00-05:00"))
    accepted_at = datetime(2026, 3, 10, 15, tzinfo=UTC)
    assert body.too_early(accepted_at - CLOCK_SKEW - timedelta(seconds=1)) is not None
    assert body.too_early(accepted_at - CLOCK_SKEW) is None


def test_a_cancel_retried_answers_the_same_and_records_one_cancellation(
    client: httpx.Client,
) -> None:
    """Cancelling twice: both 200 with status cancelled, one `cancelled` event in the trail."""
    declaration_id = submitted(client)
    first = client.post(f"/v1/declarations/{declaration_id}/cancel")
    again = client.post(f"/v1/declarations/{declaration_id}/cancel")
    assert (first.status_code, again.status_code) == (200, 200)
    assert first.json() == again.json()
    assert first.json()["status"] == "cancelled"
    kinds = [event["type"] for event in events(client, declaration_id)]
    assert kinds.count("cancelled") == 1


def test_a_declaration_being_evaluated_is_not_cancelled(
    client: httpx.Client, store: RedisStore
) -> None:
    """While a worker holds it: 409, and the status and trail are as they were."""
    declaration_id = submitted(client)
    assert store.record(declaration_id, [], {"status": "evaluating"}, allowed=("queued",)) == "ok"
    before = events(client, declaration_id)
    answer = client.post(f"/v1/declarations/{declaration_id}/cancel")
    assert answer.status_code == 409
    assert answer.json()["error"] == "declaration is being evaluated"
    assert client.get(f"/v1/declarations/{declaration_id}").json()["status"] == "evaluating"
    assert events(client, declaration_id) == before


def test_a_cancel_that_lost_a_race_changes_nothing(client: httpx.Client, store: RedisStore) -> None:
    """Cancelling from a stale read (a worker took it meanwhile) is refused by the
    compare-and-set: the declaration keeps the status the worker gave it."""
    declaration_id = submitted(client)
    stale = store.get(declaration_id)
    assert stale is not None
    assert store.record(declaration_id, [], {"status": "evaluating"}, allowed=("queued",)) == "ok"
    with pytest.raises(cancellation.NotCancellable, match="changed status meanwhile"):
        cancellation.cancel(store, stale, "admin", datetime.now(UTC).date())
    after = store.get(declaration_id)
    assert after is not None and after.status == "evaluating"
