"""One delivery attempt against receivers that misbehave, on loopback sockets this test
serves: one that trickles its answer is cut off at the timeout, one that answers a huge
body is read no further than its status line, one that speaks no HTTP is an error."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from settings import Settings
from store import RedisStore
from workers import webhook_delivery, webhooks

SETTINGS = Settings.from_environ(
    {"ACCORD_WEBHOOK_ALLOW_PRIVATE": "1", "ACCORD_WEBHOOK_TIMEOUT": "1"}
)


def serve(answer: Callable[[socket.socket], None]) -> Iterator[int]:
    """A one-connection-at-a-time server on a free loopback port: it reads the request
    head, then `answer`s on the connection."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def loop() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            with connection:
                connection.recv(65536)
                # the client hanging up is what these receivers are for
                with contextlib.suppress(OSError):
                    answer(connection)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def attempt(store: RedisStore, port: int) -> dict[str, object]:
    """Subscribe to the port, queue a test event, make one attempt: the attempt logged."""
    hooks = webhooks.hooks_of(store)
    hooks.create({
        "id": "wh_00000000000000aa", "url": f"http://127.0.0.1:{port}/in", "events": "permit.issued",
        "business_number": "", "secret": "whsec_x", "created_at": "2026-01-01T00:00:00Z",
        "created_ts": "0", "status": "active",
    })  # fmt: skip
    event_id = webhooks.queue_test_event(store, "wh_00000000000000aa")
    outcome = webhook_delivery.deliver(store, f"wh_00000000000000aa|{event_id}", SETTINGS)
    logged = hooks.attempts("wh_00000000000000aa", 1)[0]
    assert logged["outcome"] == outcome
    return logged


def trickle(connection: socket.socket) -> None:
    for byte in b"HTTP/1.1 200 OK\r\n":  # a byte every 0.3 s: 5 s for the status line
        connection.sendall(bytes([byte]))
        time.sleep(0.3)


def huge(connection: socket.socket) -> None:
    connection.sendall(b"HTTP/1.1 201 Created\r\nContent-Length: 10000000\r\n\r\n")
    for _ in range(1000):
        connection.sendall(b"x" * 10000)


def not_http(connection: socket.socket) -> None:
    connection.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")


@pytest.fixture
def trickling() -> Iterator[int]:
    yield from serve(trickle)


@pytest.fixture
def huge_answer() -> Iterator[int]:
    yield from serve(huge)


@pytest.fixture
def no_http() -> Iterator[int]:
    yield from serve(not_http)


def test_a_receiver_trickling_its_answer_is_cut_off_at_the_timeout(
    store: RedisStore, trickling: int
) -> None:
    """Each byte comes well within the timeout, the whole answer does not: the attempt
    ends timed out (and is retried), not when the receiver is done."""
    logged = attempt(store, trickling)
    assert logged["error"] == "timed out after 1 s"
    assert logged["status_code"] is None
    assert logged["outcome"] == "retrying"


def test_only_the_status_line_of_an_answer_is_read(store: RedisStore, huge_answer: int) -> None:
    """A 2xx with a 10 MB body is delivered on its status line; the body is not read."""
    logged = attempt(store, huge_answer)
    assert (logged["status_code"], logged["outcome"]) == (201, "delivered")


def test_an_answer_that_is_not_http_is_a_failed_attempt(store: RedisStore, no_http: int) -> None:
    """Another protocol answering is an error named in the log, retried."""
    logged = attempt(store, no_http)
    assert logged["error"] == "the answer is not HTTP/1.x"
    assert logged["outcome"] == "retrying"


def test_an_attempt_holds_its_delivery_for_the_short_lease_from_its_start(
    store: RedisStore,
) -> None:
    """A delivery taken for the queue's long lease (so that a backlog is not sent again
    while it waits) is held, once its attempt begins, for the short lease counted from
    then: a worker killed mid-attempt leaves it to be taken again soon."""
    hooks = webhooks.hooks_of(store)
    during: list[float] = []

    def note_the_lease(connection: socket.socket) -> None:
        score = store.client.zscore(hooks.key("due"), member)
        during.append(float(score or 0))
        connection.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")

    for port in serve(note_the_lease):
        hooks.create({
            "id": "wh_00000000000000bb", "url": f"http://127.0.0.1:{port}/in",
            "events": "permit.issued", "business_number": "", "secret": "whsec_x",
            "created_at": "2026-01-01T00:00:00Z", "created_ts": "0", "status": "active",
        })  # fmt: skip
        member = f"wh_00000000000000bb|{webhooks.queue_test_event(store, 'wh_00000000000000bb')}"
        taken_at = time.time()
        assert hooks.claim(taken_at, webhook_delivery.QUEUED_LEASE, 10) == [member]
        queued = float(store.client.zscore(hooks.key("due"), member) or 0)
        assert queued == pytest.approx(taken_at + webhook_delivery.QUEUED_LEASE)
        assert webhook_delivery.deliver(store, member, SETTINGS) == "delivered"
    short = webhook_delivery.lease_for(SETTINGS)
    assert short < webhook_delivery.QUEUED_LEASE / 10
    assert taken_at + short - 1 < during[0] <= time.time() + short
    assert store.client.zscore(hooks.key("due"), member) is None
