"""What no caller can do to the HTTP service (SPEC §7, docs/security.md): send a body
before its token is checked, hold a connection with a body that never ends, open
connections without bound, run an action with an over-long body, fill the log with
tracebacks by hanging up, or end another dashboard session than its own."""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import InProcess, Stack, make_stack, unique_id
from helpers import declaration

READ_TIMEOUT = 2
PER_ADDRESS = 6


@pytest.fixture(scope="module")
def front(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The API process alone (no worker: nothing here needs a verdict), with a whole
    request allowed 2 s and 6 connections per address."""
    running = make_stack(
        redis_url, tmp_path_factory.mktemp("front"),
        ACCORD_READ_TIMEOUT=str(READ_TIMEOUT), ACCORD_CONNECTIONS_PER_ADDRESS=str(PER_ADDRESS),
    )  # fmt: skip
    try:
        running.start_api()
        yield running
    finally:
        running.stop()


def connect(stack: Stack) -> socket.socket:
    host, port = stack.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=30)


def closed_within(connection: socket.socket, seconds: float) -> tuple[bool, bytes]:
    """Whether the server closes the connection within `seconds`, and what it said."""
    said = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        readable, _, _ = select.select([connection], [], [], 0.1)
        if readable:
            try:
                chunk = connection.recv(65536)
            except ConnectionResetError:
                return True, said
            if not chunk:
                return True, said
            said += chunk
    return False, said


def head(path: str, token: str | None = None, length: int = 100, method: str = "POST") -> bytes:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return (
        f"{method} {path} HTTP/1.1\r\nHost: accord\r\nContent-Type: application/json\r\n"
        f"{auth}Content-Length: {length}\r\n\r\n"
    ).encode()


@pytest.mark.stack
def test_a_body_that_never_ends_is_closed_at_the_read_deadline(front: Stack) -> None:
    """A complete head with a valid token, then 10 of its 100 bytes and nothing more: the
    server closes the connection once ACCORD_READ_TIMEOUT (2 s here) has passed."""
    with connect(front) as connection:
        connection.sendall(head("/v1/permits", front.tokens["submitter"]) + b'{"measure"')
        assert not closed_within(connection, READ_TIMEOUT / 2)[0]  # not at once
        closed, said = closed_within(connection, READ_TIMEOUT * 5)
    assert closed
    assert said == b""  # nothing was answered: no route ran


@pytest.mark.stack
def test_without_a_token_the_answer_is_401_before_any_body_is_read(front: Stack) -> None:
    """With no token, a head that announces a body (even one over the limit) is answered
    401 at once, without the body, and the connection is closed."""
    for length in (100, 50 * 1024 * 1024):
        with connect(front) as connection:
            connection.sendall(head("/v1/permits", length=length))
            closed, said = closed_within(connection, 10)
        assert said.startswith(b"HTTP/1.1 401"), said
        assert closed


@pytest.mark.stack
def test_every_api_route_answers_401_before_413_or_422_without_a_token(front: Stack) -> None:
    """Every operation of the OpenAPI document under /v1/ and /metrics, sent an unreadable
    body (or one over the limit) without a token, answers 401."""
    document = httpx.get(f"{front.url}/openapi.json").json()
    operations = [
        (method.upper(), path.replace("{", "").replace("}", ""))
        for path, item in document["paths"].items()
        for method in item
        if path.startswith("/v1/") or path == "/metrics"
    ]
    assert len(operations) >= 19
    with httpx.Client(base_url=front.url, timeout=30) as client:
        for method, path in operations:
            for body in (b"{not json", b"x" * (1024 * 1024 + 1)):
                response = client.request(method, path, content=body,
                                          headers={"content-type": "application/json"})  # fmt: skip
                assert response.status_code == 401, (method, path, response.text)


@pytest.mark.stack
def test_connections_from_one_address_are_bounded(front: Stack) -> None:
    """Six open connections from one address are the most it holds: the seventh is told
    503 and closed before anything is read; once one closes, a new one is served."""
    held = [connect(front) for _ in range(PER_ADDRESS)]
    try:
        time.sleep(0.1)
        with connect(front) as extra:
            closed, said = closed_within(extra, 5)
        assert closed
        assert said.startswith(b"HTTP/1.1 503") and b"too many connections" in said
    finally:
        for connection in held:
            connection.close()
    time.sleep(0.3)
    assert httpx.get(f"{front.url}/healthz", timeout=10).status_code in (200, 503)


@pytest.mark.stack
def test_a_client_hanging_up_mid_body_logs_one_line(front: Stack) -> None:
    """A client that sends half a body and hangs up leaves one warning line in the API's
    log, and no traceback."""
    log = Path(front.logs) / "api.log"
    before = log.read_text() if log.exists() else ""
    marker = unique_id("hangup")
    with connect(front) as connection:
        connection.sendall(head(f"/v1/replay?{marker}", front.tokens["admin"]) + b"{")
        time.sleep(0.3)
    time.sleep(0.5)
    added = log.read_text()[len(before) :]
    lines = [line for line in added.splitlines() if "went away before its body ended" in line]
    assert len(lines) == 1, added
    assert "Traceback" not in added


def test_an_over_long_chunked_body_on_a_route_without_one_runs_nothing(api: InProcess) -> None:
    """POST /v1/declarations/{id}/cancel with a chunked body of more than 1 MiB is refused
    413, and the declaration is not cancelled."""
    body = declaration(unique_id())
    with api.client() as client:
        assert client.post("/v1/declarations", json=body).status_code == 202
        path = f"/v1/declarations/{body['declaration_id']}"
        client.get(path, params={"wait": 20})

        def chunks() -> Iterator[bytes]:
            for _ in range(20):
                yield b"x" * 65536

        response = client.post(f"{path}/cancel", content=chunks())
        assert response.status_code == 413, response.text
        assert client.get(path).json()["status"] != "cancelled"


def test_two_sign_ins_with_one_token_are_two_sessions(api: InProcess) -> None:
    """Two dashboard sign-ins with one token in the same second get different cookies, and
    signing out of one leaves the other signed in."""
    with (
        httpx.Client(base_url=api.url, timeout=30) as first,
        httpx.Client(base_url=api.url, timeout=30) as second,
    ):
        for client in (first, second):
            signed = client.post("/dashboard/login", data={"token": api.tokens["auditor"]})
            assert signed.status_code == 303
        one, other = first.cookies["accord_session"], second.cookies["accord_session"]
        assert one != other
        # issued in one and the same second, too
        sessions = api.app.state.dashboard_sessions
        twice = [sessions.issue(api.tokens["auditor"], now=1_000_000) for _ in range(2)]
        assert twice[0][0] != twice[1][0]
        assert first.post("/dashboard/logout").status_code == 303
        assert second.get("/dashboard").status_code == 200
        assert httpx.get(f"{api.url}/dashboard", cookies={"accord_session": one}).status_code == 303
