"""One client cannot slow the others (SPEC §7): long polls woken by Redis and capped per
token, single declarations not queued behind another importer's batch, incomplete
requests timed out."""

from __future__ import annotations

import concurrent.futures
import select
import socket
import time
from datetime import datetime

import httpx
import pytest

from conftest import OTHER_IMPORTER, InProcess, Stack, unique_id
from helpers import declaration
from store import RedisStore


def undecided(store: RedisStore, business_number: str = "123456789RM0001") -> str:
    """A declaration stored as the API stores one, but handed to no worker."""
    declaration_id = unique_id("wait")
    store.submit(declaration_id, "{}", "0" * 64, business_number, time.time(), [])
    return declaration_id


def fail(store: RedisStore, declaration_id: str) -> None:
    """Change its status the way a worker does, through the record script."""
    outcome = store.record(
        declaration_id, [("failed", {"error": "test"})], {"status": "failed", "error": "test"},
        allowed=("queued", "evaluating"), done=True,
    )  # fmt: skip
    assert outcome == "ok"


def test_a_long_poll_wakes_on_the_status_change_without_polling(
    api: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A waiting request reads the declaration twice in all: once when it starts waiting,
    once when the record script announces the change; nothing in between."""
    store = api.api_store
    assert store is not None
    declaration_id = undecided(store)
    reads: list[str] = []
    read = store.get
    monkeypatch.setattr(store, "get", lambda wanted: reads.append(wanted) or read(wanted))
    waiters = api.app.state.waiters
    with concurrent.futures.ThreadPoolExecutor(1) as pool, api.client() as client:
        answer = pool.submit(client.get, f"/v1/declarations/{declaration_id}?wait=30")
        while not waiters._waiting.get(declaration_id) or not waiters.listening:
            assert not answer.done(), answer.result().text
            time.sleep(0.01)
        time.sleep(0.3)  # long enough for a poller to have read again, many times
        assert reads == [declaration_id]
        fail(store, declaration_id)
        response = answer.result(timeout=30)
    assert response.status_code == 200
    assert response.json()["status"] == "failed"
    assert reads == [declaration_id, declaration_id]
    assert not waiters._waiting


def test_many_long_polls_are_all_answered_and_one_token_holds_at_most_twenty(
    api: InProcess,
) -> None:
    """25 polls from one token on 25 undecided declarations: 5 are refused with 429 and
    Retry-After at once, and the 20 others are answered as their declarations are decided."""
    store = api.store()
    ids = [undecided(store) for _ in range(25)]
    with api.client("auditor") as client, concurrent.futures.ThreadPoolExecutor(25) as pool:
        polls = [
            pool.submit(client.get, f"/v1/declarations/{declaration_id}", params={"wait": 30})
            for declaration_id in ids
        ]
        refused: list[httpx.Response] = []
        for finished in concurrent.futures.as_completed(polls):
            refused.append(finished.result())
            if len(refused) == 5:
                break
        assert [response.status_code for response in refused] == [429] * 5
        assert all(response.headers["retry-after"] for response in refused)
        waiting = [ids[index] for index, poll in enumerate(polls) if not poll.done()]
        assert len(waiting) == 20
        for declaration_id in waiting:
            fail(store, declaration_id)
        answers = {poll.result().json()["declaration_id"]: poll.result() for poll in polls
                   if poll.result().status_code == 200}  # fmt: skip
    assert sorted(answers) == sorted(waiting)
    assert {answer.json()["status"] for answer in answers.values()} == {"failed"}
    # the slots are given back: the same token may wait again
    with api.client("auditor") as client:
        again = client.get(f"/v1/declarations/{waiting[0]}", params={"wait": 1})
    assert again.status_code == 200


@pytest.mark.stack
def test_a_single_declaration_is_not_queued_behind_another_importers_batch(stack: Stack) -> None:
    """After a batch of 1,000 from one importer, another importer's single declaration,
    submitted right after it, is decided before most of that batch."""
    batch = [declaration(unique_id("bulk")) for _ in range(1000)]
    single = declaration(unique_id("single"), importer={"business_number": OTHER_IMPORTER,
                                                       "name": "Prairie Auto Ltd."})  # fmt: skip
    with stack.client("submitter") as mine, stack.client("other_submitter") as theirs:
        response = mine.post("/v1/declarations/batch", json={"declarations": batch})
        assert response.status_code == 202
        assert {item["status_code"] for item in response.json()["results"]} == {202}
        assert theirs.post("/v1/declarations", json=single).status_code == 202
        path = f"/v1/declarations/{single['declaration_id']}"
        verdict = theirs.get(path, params={"wait": 30}).json()
    assert verdict["status"] == "decided"
    single_at = datetime.fromisoformat(verdict["decided_at"])
    records = stack.store().get_many([body["declaration_id"] for body in batch])
    before = [
        r for r in records if r.decided_at and datetime.fromisoformat(r.decided_at) < single_at
    ]
    assert len(before) < len(batch) // 4, f"{len(before)} of the batch were decided first"


@pytest.mark.stack
def test_a_request_head_dripped_a_header_at_a_time_is_closed(stack: Stack) -> None:
    """A connection that keeps sending header lines but never ends its head is closed
    by the server once ACCORD_HEADER_TIMEOUT (1 s for the test stack) has passed."""
    host, port = stack.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: accord\r\n")
        closed = False
        for number in range(100):  # up to 20 s of dripping, far past the timeout
            readable, _, _ = select.select([connection], [], [], 0.2)
            if readable:
                try:
                    closed = connection.recv(1024) == b""
                except ConnectionResetError:  # closed with our drip unread: a reset, not EOF
                    closed = True
                break
            try:
                connection.sendall(f"X-Drip-{number}: 1\r\n".encode())
            except OSError:  # reset: closed too
                closed = True
                break
    assert closed


@pytest.mark.stack
def test_a_request_outlasting_the_header_timeout_is_answered(stack: Stack) -> None:
    """The timeout is on the head only: a long poll of 2.5 s, past the 1 s of the test
    stack, is answered on its connection, which then serves the next request."""
    declaration_id = undecided(stack.store())
    with stack.client("admin") as client:
        waited = client.get(f"/v1/declarations/{declaration_id}", params={"wait": 2.5})
        assert waited.status_code == 200
        assert waited.json()["status"] == "queued"
        assert client.get(f"/v1/declarations/{declaration_id}").status_code == 200
