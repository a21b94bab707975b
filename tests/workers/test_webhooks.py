"""Webhooks through the real stack: the API, an evaluation worker and the webhook
delivery worker as processes, and a receiver, a real HTTP server on a free loopback port
of this process (so the stack runs with ACCORD_WEBHOOK_ALLOW_PRIVATE=1). Signatures are
checked here with the hmac module directly, not with Accord's own function."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from cli.runner import webhook_worker_command
from conftest import IMPORTER, OTHER_IMPORTER, ROOT, Stack, _spawn, _terminate, make_stack
from helpers import declaration
from store import EmbeddedRedis, free_port
from workers.webhooks import hooks_of

pytestmark = pytest.mark.stack

QUOTA = "CA-CN-EV-TRQ-2026"  # drawn at permit issuance
YEAR_VOLUME = 49_000  # its first quota year's units
TIMEOUT = 3  # ACCORD_WEBHOOK_TIMEOUT of these stacks: a delivery's lease is 3 + 3 + 5 s


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class Receiver:
    """A webhook receiver: records every POST, answers `status`; while `holding`, a
    request waits (without answering) until released."""

    port: int = field(default_factory=free_port)
    status: int = 200
    received: list[Received] = field(default_factory=list)
    holding: bool = False
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    server: ThreadingHTTPServer | None = None

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if receiver.holding:
                    receiver.arrived.set()
                    receiver.release.wait(30)
                    return  # the connection closes without an answer
                receiver.received.append(Received(self.path, dict(self.headers), body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def events(self, path: str | None = None) -> list[dict[str, Any]]:
        return [item.event for item in self.received if path is None or item.path == path]


def verified(secret: str, item: Received, tolerance: int = 300) -> bool:
    """A receiver's check, written from docs/webhooks.md: HMAC-SHA256 of "<t>.<body>"."""
    parts = dict(part.split("=", 1) for part in item.headers["Accord-Signature"].split(","))
    expected = hmac.new(
        secret.encode(), parts["t"].encode() + b"." + item.body, hashlib.sha256
    ).hexdigest()
    fresh = abs(time.time() - int(parts["t"])) <= tolerance
    return fresh and hmac.compare_digest(expected, parts["v1"])


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s: {what}")


@dataclass
class HookedStack:
    stack: Stack
    webhook_worker: subprocess.Popen[bytes] | None = None

    def start_webhook_worker(self) -> None:
        store = self.stack.store()
        before = hooks_of(store).pumps()
        self.webhook_worker = _spawn(
            webhook_worker_command(f"hooks-{uuid.uuid4().hex[:6]}@%h"),
            self.stack.env,
            self.stack.logs / "webhook-worker.log",
        )
        wait_for(lambda: hooks_of(store).pumps() > before, 60, "the delivery loop's heartbeat")
        store.close()

    def kill_webhook_worker(self) -> None:
        assert self.webhook_worker is not None
        os.killpg(self.webhook_worker.pid, signal.SIGKILL)
        self.webhook_worker.wait()
        self.webhook_worker = None
        # its heartbeat lives on for up to 10 s: gone before a new worker's is looked for
        store = self.stack.store()
        wait_for(lambda: hooks_of(store).pumps() == 0, 15, "the killed loop's heartbeat to end")
        store.close()


@contextlib.contextmanager
def hooked_stack(redis_url: str, directory: Path, **env: str) -> Iterator[HookedStack]:
    """A stack with its webhook delivery worker, allowed to deliver to loopback."""
    stack = make_stack(
        redis_url,
        directory,
        ACCORD_WEBHOOK_ALLOW_PRIVATE="1",
        ACCORD_WEBHOOK_TIMEOUT=str(TIMEOUT),
        ACCORD_SWEEP_AFTER="4",  # the periodic sweep (permit expiries) every second
        **env,
    )
    running = HookedStack(stack)
    try:
        stack.start_worker()
        stack.start_api()
        running.start_webhook_worker()
        yield running
    finally:
        if running.webhook_worker is not None:
            _terminate(running.webhook_worker)
        stack.stop()


@pytest.fixture
def hooked(redis_url: str, tmp_path: Path) -> Iterator[HookedStack]:
    with hooked_stack(redis_url, tmp_path) as running:
        yield running


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver().start()
    yield started
    started.release.set()
    started.stop()


def subscribe(stack: Stack, role: str, url: str, events: list[str]) -> dict[str, Any]:
    with stack.client(role) as client:
        answer = client.post("/v1/webhooks", json={"url": url, "events": events})
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


def submit(stack: Stack, role: str, body: dict[str, Any]) -> None:
    with stack.client(role) as client:
        answer = client.post("/v1/declarations", json=body)
    assert answer.status_code == 202, answer.text


def attempts(stack: Stack, webhook_id: str) -> list[dict[str, Any]]:
    with stack.client() as client:
        answer = client.get(f"/v1/webhooks/{webhook_id}/deliveries")
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["attempts"]
    return found


def test_a_decision_arrives_signed_with_the_verdict(
    hooked: HookedStack, receiver: Receiver
) -> None:
    """A decided declaration reaches its subscriber as declaration.decided, with the
    verdict's outcome and amount, and a signature the receiver's own HMAC confirms."""
    stack = hooked.stack
    created = subscribe(stack, "admin", receiver.url(), ["declaration.decided"])
    declaration_id = f"WH-{uuid.uuid4().hex[:8]}"
    submit(stack, "submitter", declaration(declaration_id))
    item = wait_for(lambda: receiver.received, 30, "a delivery")[0]
    event = item.event
    assert event["type"] == "declaration.decided"
    assert set(event) == {"id", "type", "created_at", "data"}
    assert item.headers["Accord-Event-Id"] == event["id"]
    assert event["data"]["declaration_id"] == declaration_id
    assert event["data"]["business_number"] == IMPORTER
    with stack.client() as client:
        status = client.get(f"/v1/declarations/{declaration_id}").json()
    assert event["data"]["outcome"] == status["outcome"]
    assert event["data"]["total_duty"] == status["total_duty"]
    assert event["data"]["currency"] == "CAD"
    assert verified(created["secret"], item)
    assert not verified("whsec_another-secret", item)
    tampered = Received(item.path, item.headers, item.body.replace(b"decided", b"decidex"))
    assert not verified(created["secret"], tampered)
    logged = wait_for(lambda: attempts(stack, created["id"]), 10, "the attempt in the log")
    assert logged[0]["outcome"] == "delivered"
    assert logged[0]["status_code"] == 200
    assert logged[0]["event_id"] == event["id"]


def test_a_cancellation_and_an_expiry_are_announced(
    hooked: HookedStack, receiver: Receiver
) -> None:
    """Cancelling a decided declaration announces declaration.cancelled; a permit that
    expired unused announces permit.expired when the periodic sweep ends it."""
    stack = hooked.stack
    subscribe(stack, "submitter", receiver.url(), ["declaration.cancelled", "permit.expired"])
    declaration_id = f"WH-{uuid.uuid4().hex[:8]}"
    submit(stack, "submitter", declaration(declaration_id))
    today = datetime.now(UTC).date()
    with stack.client() as client:
        decided = client.get(f"/v1/declarations/{declaration_id}", params={"wait": 20})
        assert decided.json()["status"] == "decided"
        assert client.post(f"/v1/declarations/{declaration_id}/cancel").status_code == 200
        # issued 30 days ago, valid 5 days: past its 10 days' grace, the sweep ends it
        permit = client.post("/v1/permits", json={
            "business_number": IMPORTER, "measure": QUOTA, "quantity": 1,
            "issued_on": (today - timedelta(days=30)).isoformat(),
            "expires_on": (today - timedelta(days=26)).isoformat(),
        })  # fmt: skip
    assert permit.status_code == 201, permit.text
    wanted = {"declaration.cancelled", "permit.expired"}
    wait_for(lambda: {e["type"] for e in receiver.events()} == wanted, 30, "both events")
    by_type = {event["type"]: event["data"] for event in receiver.events()}
    assert by_type["declaration.cancelled"]["declaration_id"] == declaration_id
    expired = by_type["permit.expired"]
    assert expired["permit_number"] == permit.json()["permit_number"]
    assert expired["status"] == "expired"
    assert len(receiver.events()) == 2


def decided_while_down(stack: Stack, receiver: Receiver) -> tuple[dict[str, Any], list[str]]:
    """A subscription to decisions at `receiver`, then the receiver down and three
    declarations decided: the subscription and the declarations' ids."""
    created = subscribe(stack, "admin", receiver.url(), ["declaration.decided"])
    receiver.stop()
    ids = [f"WH-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    for declaration_id in ids:
        submit(stack, "submitter", declaration(declaration_id))
    return created, ids


def test_a_receiver_down_for_a_while_gets_every_event_once_it_is_back(
    hooked: HookedStack, receiver: Receiver
) -> None:
    """Events sent while the receiver refuses connections are retried with backoff, and
    each arrives once it listens again; the log shows the failures, then delivered."""
    stack = hooked.stack
    created, ids = decided_while_down(stack, receiver)
    wait_for(
        lambda: sum(1 for item in attempts(stack, created["id"]) if item["error"]) >= 6,
        30,
        "failed attempts while the receiver is down",
    )
    with stack.client() as client:
        listed = client.get("/v1/webhooks").json()["webhooks"]
    assert listed[0]["pending"] == 3
    receiver.start()
    wait_for(lambda: len({e["data"]["declaration_id"] for e in receiver.events()}) == 3, 60,
             "every event after the receiver came back")  # fmt: skip
    assert sorted({e["data"]["declaration_id"] for e in receiver.events()}) == sorted(ids)
    assert all(verified(created["secret"], item) for item in receiver.received)
    log = attempts(stack, created["id"])
    delivered = {item["event_id"] for item in log if item["outcome"] == "delivered"}
    assert delivered == {event["id"] for event in receiver.events()}
    assert all(item["outcome"] == "retrying" for item in log if item["error"])
    with stack.client() as client:
        listed = client.get("/v1/webhooks").json()["webhooks"]
    assert listed[0]["pending"] == 0
    assert listed[0]["status"] == "active"


def test_a_delivery_whose_worker_is_killed_mid_request_is_made_again(
    hooked: HookedStack, receiver: Receiver
) -> None:
    """The delivery worker killed (SIGKILL) while a receiver holds its request: a new
    worker delivers the same event, with the same id, when the lease ends."""
    stack = hooked.stack
    created = subscribe(stack, "admin", receiver.url(), ["declaration.decided"])
    receiver.holding = True
    declaration_id = f"WH-{uuid.uuid4().hex[:8]}"
    submit(stack, "submitter", declaration(declaration_id))
    assert receiver.arrived.wait(30), "the first attempt never reached the receiver"
    hooked.kill_webhook_worker()
    receiver.holding = False
    receiver.release.set()
    assert receiver.received == []
    hooked.start_webhook_worker()
    item = wait_for(lambda: receiver.received, 60, "the delivery after the kill")[0]
    assert item.event["data"]["declaration_id"] == declaration_id
    assert verified(created["secret"], item)
    logged = wait_for(
        lambda: [a for a in attempts(stack, created["id"]) if a["outcome"] == "delivered"],
        10,
        "the delivered attempt",
    )
    assert logged[0]["event_id"] == item.event["id"]


def test_a_submitter_never_receives_another_importers_event(
    hooked: HookedStack, receiver: Receiver
) -> None:
    """Two importers' submitters subscribe to everything they may; each gets its own
    importer's decision and permit, never the other's."""
    stack = hooked.stack
    events = ["declaration.decided", "permit.issued", "permit.refused"]
    mine = subscribe(stack, "submitter", receiver.url("/mine"), events)
    theirs = subscribe(stack, "other_submitter", receiver.url("/theirs"), events)
    assert mine["business_number"] == IMPORTER
    assert theirs["business_number"] == OTHER_IMPORTER
    my_id, their_id = (f"WH-{uuid.uuid4().hex[:8]}" for _ in range(2))
    submit(stack, "submitter", declaration(my_id))
    other = declaration(their_id, importer={"business_number": OTHER_IMPORTER, "name": "Other"})
    submit(stack, "other_submitter", other)
    with stack.client("other_submitter") as client:
        applied = client.post(
            "/v1/permits",
            json={"business_number": OTHER_IMPORTER, "measure": "TEST-JP-EV-TRQ", "quantity": 1},
        )
    assert applied.status_code == 201, applied.text
    wait_for(lambda: len(receiver.events("/theirs")) >= 2, 30, "the other importer's events")
    wait_for(lambda: receiver.events("/mine"), 30, "this importer's event")
    time.sleep(1)  # anything misdirected would have come with them
    assert [e["data"]["declaration_id"] for e in receiver.events("/mine")] == [my_id]
    theirs_got = receiver.events("/theirs")
    assert {e["type"] for e in theirs_got} == {"declaration.decided", "permit.issued"}
    assert {e["data"]["business_number"] for e in theirs_got} == {OTHER_IMPORTER}
    for item in receiver.received:
        secret = mine["secret"] if item.path == "/mine" else theirs["secret"]
        assert verified(secret, item)


def test_quota_thresholds_and_permits_are_announced(
    hooked: HookedStack, receiver: Receiver
) -> None:
    """Permits drawing today's period to its end announce permit.issued, then quota.critical and
    quota.exhausted; the application refused for want of units announces permit.refused."""
    stack = hooked.stack
    subscribe(
        stack,
        "admin",
        receiver.url(),
        ["permit.issued", "permit.refused", "quota.critical", "quota.exhausted"],
    )

    def apply(quantity: int, **extra: Any) -> Any:
        body = {"business_number": IMPORTER, "measure": QUOTA, "quantity": quantity}
        with stack.client() as client:
            return client.post("/v1/permits", json={**body, **extra})

    # one unit first, so that the quota year's whole volume (the most an application may
    # ask for) is more than the period holds
    assert apply(1).status_code == 201
    refused = apply(YEAR_VOLUME)
    assert refused.status_code == 409
    general = refused.json()["detail"]["remaining"]
    assert apply(general).status_code == 201
    left = apply(YEAR_VOLUME, sub_quota="affordable").json()["detail"]["remaining"]
    if left:  # the affordable reserve, where this period has one
        assert apply(left, sub_quota="affordable").status_code == 201
    wanted = {"permit.issued", "permit.refused", "quota.critical", "quota.exhausted"}
    wait_for(lambda: {e["type"] for e in receiver.events()} >= wanted, 30, "every kind")
    by_type: dict[str, list[dict[str, Any]]] = {}
    for event in receiver.events():
        by_type.setdefault(event["type"], []).append(event)
    assert len(by_type["permit.issued"]) == (3 if left else 2)
    assert {e["data"]["quantity"] for e in by_type["permit.refused"]} == {YEAR_VOLUME}
    exhausted = by_type["quota.exhausted"][0]["data"]
    assert exhausted["quota_id"] == QUOTA
    assert exhausted["balance"] == 0
    assert len({e["id"] for e in receiver.events()}) == len(receiver.events())


def test_a_test_event_reaches_the_subscription(hooked: HookedStack, receiver: Receiver) -> None:
    """POST /v1/webhooks/{id}/test delivers a signed webhook.test event to that URL."""
    stack = hooked.stack
    created = subscribe(stack, "admin", receiver.url(), ["permit.expired"])
    with stack.client() as client:
        queued = client.post(f"/v1/webhooks/{created['id']}/test")
    assert queued.status_code == 202, queued.text
    item = wait_for(lambda: receiver.received, 30, "the test delivery")[0]
    assert item.event["type"] == "webhook.test"
    assert item.event["id"] == queued.json()["event_id"]
    assert verified(created["secret"], item)


def test_a_delivery_given_up_marks_its_subscription_failing(
    redis_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    """A receiver answering 500 past the retry period (2 s here, 24 h by default): the
    delivery is given up, the subscription is listed failing and counted so on /metrics;
    its next delivery that succeeds makes it active again."""
    with hooked_stack(redis_url, tmp_path, ACCORD_WEBHOOK_RETRY_FOR="2") as hooked:
        stack = hooked.stack
        created = subscribe(stack, "admin", receiver.url(), ["declaration.decided"])
        receiver.status = 500
        submit(stack, "submitter", declaration(f"WH-{uuid.uuid4().hex[:8]}"))

        def listing() -> dict[str, Any]:
            with stack.client() as client:
                found: dict[str, Any] = client.get("/v1/webhooks").json()["webhooks"][0]
            return found

        wait_for(lambda: listing()["status"] == "failing", 30, "the subscription failing")
        assert listing()["failing_since"] is not None
        assert listing()["pending"] == 0
        log = attempts(stack, created["id"])
        assert log[0]["outcome"] == "gave_up"
        assert log[0]["status_code"] == 500
        assert len(log) >= 2  # retried before giving up
        assert {item["outcome"] for item in log[1:]} == {"retrying"}
        with stack.client("auditor") as client:
            metrics = client.get("/metrics").text
        assert 'accord_webhook_subscriptions{status="failing"} 1.0' in metrics
        assert 'accord_webhook_attempts_total{outcome="gave_up"} 1.0' in metrics
        receiver.status = 204
        submit(stack, "submitter", declaration(f"WH-{uuid.uuid4().hex[:8]}"))
        wait_for(lambda: listing()["status"] == "active", 30, "the subscription active again")
        assert listing()["failing_since"] is None


def test_the_readme_subscription_reaches_the_example_receiver(hooked: HookedStack) -> None:
    """As the README shows it: the example subscription, its answer saved and given to
    examples/webhook_receiver.py, the example permit applied for: the receiver prints the verified
    permit.issued event, the log shows it delivered, and a forged delivery is refused."""
    stack = hooked.stack
    port = free_port()
    body = json.loads((ROOT / "examples" / "webhook-subscription.json").read_text())
    created = subscribe(stack, "admin", f"http://127.0.0.1:{port}/accord", body["events"])
    answer = hooked.stack.logs / "subscription.json"  # as `| tee subscription.json` keeps it
    answer.write_text(json.dumps(created))
    process = subprocess.Popen(
        [sys.executable, "examples/webhook_receiver.py", str(port), str(answer)],
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    printed: list[str] = []
    assert process.stdout is not None
    output = process.stdout
    reader = threading.Thread(target=lambda: printed.extend(output), daemon=True)
    reader.start()
    try:
        application = json.loads((ROOT / "examples" / "webhook-permit.json").read_text())
        with stack.client() as client:
            issued = client.post("/v1/permits", json=application)
        assert issued.status_code == 201, issued.text
        line = wait_for(lambda: printed, 30, "the receiver's line")[0]
        kind, event_id, data = line.split(" ", 2)
        assert kind == "permit.issued"
        assert json.loads(data)["permit_number"] == issued.json()["permit_number"]
        logged = attempts(stack, created["id"])
        assert (logged[0]["event_id"], logged[0]["status_code"]) == (event_id, 204)
        forged = httpx.post(
            f"http://127.0.0.1:{port}/accord",
            content=b'{"id":"evt_x","type":"permit.issued","data":{}}',
            headers={"Accord-Signature": f"t={int(time.time())},v1=00"},
        )
        assert forged.status_code == 400
    finally:
        process.terminate()
        process.wait(timeout=10)
        reader.join(timeout=10)
        output.close()


@pytest.mark.fault
def test_events_waiting_for_a_receiver_survive_a_redis_crash(
    tmp_path: Path, receiver: Receiver
) -> None:
    """Redis SIGKILLed and restarted on its append-only file while decisions wait for a
    receiver that is down: once it is up, it gets every event, nothing restarted by hand."""
    server = EmbeddedRedis(tmp_path / "redis").start()
    (tmp_path / "stack").mkdir()
    try:
        with hooked_stack(server.url, tmp_path / "stack") as hooked:
            stack = hooked.stack
            created, ids = decided_while_down(stack, receiver)
            wait_for(lambda: len(attempts(stack, created["id"])) >= 3, 30, "failed attempts")
            time.sleep(1.5)  # the append-only file is written every second
            server.kill()
            time.sleep(1)
            server.start()
            receiver.start()
            wait_for(
                lambda: {e["data"]["declaration_id"] for e in receiver.events()} == set(ids),
                90,
                "every event after the restart",
            )
            assert all(verified(created["secret"], item) for item in receiver.received)
    finally:
        server.stop()
