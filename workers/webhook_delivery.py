"""Webhook delivery (SPEC §7.1): the loop that turns events into deliveries, and one
attempt at one delivery.

A delivery worker (`accord run` starts one, consuming only `WEBHOOK_QUEUE`, so a slow
receiver never holds up a declaration) runs the delivery loop in its main process: every
`PUMP_EVERY` seconds it turns new events (workers/webhooks.py announces them) into one
delivery per subscription that wants them, takes the deliveries that are due (for
`QUEUED_LEASE`, while they wait in the pool's queue), and sends each to its pool as a
task (`accord.webhooks.deliver`), whose attempt holds it for the short lease `lease_for`.
The task signs and POSTs the event and records the attempt: delivered (2xx), or retried
after an exponential backoff with jitter (0.5 to 1 s after the first failure, doubling up
to an hour) until `webhook_retry_for` has passed since the first attempt; then it is
given up and the subscription marked failing. At least once: a worker that dies
mid-delivery leaves the delivery to be taken again when its lease ends, so a receiver
deduplicates by event id; order is not kept.

Each attempt checks its target again (workers/webhook_targets.py) and connects to the
address checked; redirects are not followed and no proxy is used; the whole attempt
(connect, TLS handshake, request, answer) must end within `webhook_timeout`, and only
the answer's status line is read, at most `MAX_RESPONSE` bytes of it."""

from __future__ import annotations

import contextlib
import logging
import os
import random
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from celery.signals import worker_ready

from rules.catalog import Catalog
from schemas import webhook
from schemas.webhook import EVENT_ID_HEADER, SIGNATURE_HEADER, Attempt
from settings import Settings, get_settings
from store import RedisStore, Store, StoreError, now_rfc3339
from workers.webhook_targets import RESOLVE_TIMEOUT, Target, TargetRefused, target
from workers.webhooks import Announcement, hooks_of, ledger_lists, outbox_event, quota_event

log = logging.getLogger(__name__)

WEBHOOK_QUEUE = "accord.webhooks"
DELIVER_TASK = "accord.webhooks.deliver"
PUMP_EVERY = 0.2  # seconds between two turns of the delivery loop
CLAIM_LIMIT = 100  # deliveries taken per turn
OUTBOX_LIMIT = 500  # outbox entries read per turn
MAX_RESPONSE = 1024  # bytes of a receiver's answer read at most
MAX_BACKOFF = 3600.0  # seconds between two attempts at most
# seconds a delivery sent to the pool may wait in its queue before it is sent again: the
# short lease (`lease_for`) starts only when its attempt does, so that a backlog (a
# receiver timing out, many events) is not sent again, and again, while it waits
QUEUED_LEASE = 300.0


def _wanting(subs: Sequence[dict[str, str]], event: Announcement) -> list[str]:
    return [
        sub["id"]
        for sub in subs
        if float(sub.get("created_ts") or 0) <= event.at
        and webhook.wants(
            tuple(sub["events"].split(",")), sub.get("business_number") or None,
            event.kind, event.owner,
        )
    ]  # fmt: skip


def pump_once(
    store: RedisStore,
    catalog: Catalog,
    send: Callable[[str], None],
    lease: float,
    today: date | None = None,
) -> int:
    """One turn of the delivery loop: new events into deliveries, then the deliveries due
    sent to the pool. Returns how many were sent."""
    hooks = hooks_of(store)
    # what to announce is read before who wants it: a subscription made after these
    # reads, too late for this turn's list, is also too late for the events they found
    entries = hooks.outbox(OUTBOX_LIMIT)
    lists = ledger_lists(store, catalog, today or datetime.now(UTC).date())
    lengths = hooks.ledger_lengths(lists)
    subs = hooks.subscriptions()
    kinds = {kind for sub in subs for kind in sub["events"].split(",")}
    unwanted = []
    for member, at in entries:
        wanted = member.startswith("{") or member.partition("|")[0] in kinds
        event = outbox_event(store, member, at) if wanted else None
        wanting = _wanting(subs, event) if event is not None else []
        if event is None or not wanting:
            unwanted.append(member)
            continue
        hooks.fan_out(member, event.event_id, event.kind, event.body, wanting, time.time())
    hooks.outbox_drop(unwanted)
    for name, (length, read) in zip(lists, lengths, strict=True):
        if length <= read:
            continue
        if any("quota." in sub["events"] for sub in subs):
            for position, text in enumerate(hooks.ledger_tail(name, read, length), start=read):
                event = quota_event(name, position, text)
                wanting = _wanting(subs, event) if event is not None else []
                if event is not None and wanting:
                    hooks.fan_out("", event.event_id, event.kind, event.body, wanting, time.time())
        hooks.ledger_read(name, length)
    taken = hooks.claim(time.time(), lease, CLAIM_LIMIT)
    for member in taken:
        send(member)
    return len(taken)


def lease_for(settings: Settings) -> float:
    """How long a delivery taken stays with its worker: longer than an attempt can last
    (the name's lookup, then the exchange, bounded by the timeout)."""
    return RESOLVE_TIMEOUT + settings.webhook_timeout + 5


def backoff(attempt: int, draw: Callable[[], float] = random.random) -> float:
    """Seconds before the attempt after failed attempt number `attempt` (1-based):
    exponential, with half of it random, so that receivers coming back are not hit by
    every retry at once. 0.5 to 1 s after the first failure."""
    ceiling = min(2.0 ** (attempt - 1), MAX_BACKOFF)
    return ceiling / 2 + draw() * ceiling / 2


def deliver(store: Store, member: str, settings: Settings) -> str:
    """One attempt at one delivery; what came of it."""
    hooks = hooks_of(store)
    delivery = hooks.delivery(member)
    if delivery is None:
        return "gone"  # delivered, or given up, by an earlier attempt
    sub_id = delivery["sub"]
    sub = hooks.subscription(sub_id)
    if sub is None:  # removed since: nobody to deliver to
        hooks.drop(member, sub_id)
        return "dropped"
    attempt = int(delivery.get("attempts") or 0) + 1
    hooks.start(member, time.time() + lease_for(settings))
    started = time.monotonic()
    status_code, error = _post(sub, delivery, settings)
    duration_ms = round((time.monotonic() - started) * 1000)
    now = time.time()
    next_at = 0.0
    if status_code is not None and 200 <= status_code < 300:
        outcome = "delivered"
    elif now - float(delivery["first_at"]) >= settings.webhook_retry_for:
        outcome = "gave_up"
    else:
        outcome = "retrying"
        next_at = now + backoff(attempt)
    record = Attempt(
        at=datetime.fromtimestamp(now, UTC),
        event_id=delivery["event"],
        type=delivery["type"],  # type: ignore[arg-type]
        attempt=attempt,
        status_code=status_code,
        error=error,
        duration_ms=duration_ms,
        outcome=outcome,  # type: ignore[arg-type]
    )
    hooks.settle(member, sub_id, outcome, next_at, record.model_dump(mode="json"), now_rfc3339())
    if outcome == "gave_up":
        log.warning("webhook %s: gave up delivering %s", sub_id, delivery["event"])
    return outcome


def _post(
    sub: dict[str, str], delivery: dict[str, str], settings: Settings
) -> tuple[int | None, str | None]:
    """POST the event to the subscription's URL: the receiver's status code, or the error."""
    body = delivery["body"].encode()
    try:
        checked = target(sub["url"], settings.webhook_allow_private)
    except TargetRefused as exc:
        return None, f"refused: {exc}"
    signed = webhook.signature(sub["secret"], int(time.time()), body)
    head = (
        f"POST {checked.path} HTTP/1.1\r\n"
        f"Host: {checked.host_header}\r\n"
        "Content-Type: application/json\r\n"
        "User-Agent: Accord-Webhooks/1\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n"
        f"{EVENT_ID_HEADER}: {delivery['event']}\r\n"
        f"{SIGNATURE_HEADER}: {signed}\r\n\r\n"
    )
    try:
        answer = _exchange(checked, head.encode() + body, settings.webhook_timeout)
    except TimeoutError:
        return None, f"timed out after {settings.webhook_timeout:g} s"
    except ssl.SSLError as exc:
        return None, f"TLS: {exc.reason or exc}"
    except OSError as exc:
        return None, f"{type(exc).__name__}: {exc.strerror or exc}"
    found = STATUS_LINE.match(answer)
    if found is None:
        return None, "the answer is not HTTP/1.x"
    return int(found.group(1)), None


STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([1-5][0-9][0-9])[ \r]")
_tls = ssl.create_default_context()  # the system's trust store; names checked


def _exchange(checked: Target, request: bytes, seconds: float) -> bytes:
    """Send `request` to the checked address and read the answer up to the end of its
    status line (at most MAX_RESPONSE bytes), all within `seconds`: a receiver that
    trickles its answer is cut off at the deadline like one that says nothing."""
    deadline = time.monotonic() + seconds

    def left() -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        return remaining

    with contextlib.ExitStack() as opened:
        raw = socket.create_connection((checked.address, checked.port), timeout=left())
        opened.callback(raw.close)
        connection = raw
        if checked.scheme == "https":
            raw.settimeout(left())  # the handshake's
            connection = _tls.wrap_socket(raw, server_hostname=checked.host)
            opened.callback(connection.close)
        connection.settimeout(left())  # for the whole of sendall
        connection.sendall(request)
        answer = b""
        while b"\r\n" not in answer and len(answer) < MAX_RESPONSE:
            connection.settimeout(left())
            chunk = connection.recv(MAX_RESPONSE - len(answer))
            if not chunk:
                break
            answer += chunk
        return answer


# --- the loop in the delivery worker ---------------------------------------------------


def run_pump(
    store: RedisStore,
    catalog: Callable[[], Catalog],
    send: Callable[[str], None],
    settings: Settings,
    stop: threading.Event,
) -> None:
    """The delivery loop, until `stop`: Redis away is waited out, turn after turn."""
    name = f"{socket.gethostname()}:{os.getpid()}"
    while not stop.is_set():
        try:
            hooks_of(store).beat(name, ttl=10)
            pump_once(store, catalog(), send, QUEUED_LEASE)
        except StoreError as exc:
            log.warning("webhook deliveries wait for Redis: %s", exc)
        except Exception:  # never leave the worker without its loop
            log.exception("the webhook delivery loop failed a turn")
        stop.wait(PUMP_EVERY)


def _start_pump(sender: Any = None, **_: object) -> None:
    """In a worker that consumes the webhook queue: the delivery loop, in a thread of its
    main process."""
    from workers import context
    from workers.app import app

    consumed = set(app.amqp.queues.consume_from or {})
    if WEBHOOK_QUEUE not in consumed:
        return

    def send(member: str) -> None:
        with contextlib.suppress(Exception):  # the lease brings it back if this is lost
            app.send_task(DELIVER_TASK, args=[member], queue=WEBHOOK_QUEUE)

    threading.Thread(
        target=run_pump,
        args=(context.store(), context.catalog, send, get_settings(), threading.Event()),
        name="accord-webhooks",
        daemon=True,
    ).start()


worker_ready.connect(_start_pump, weak=False)
