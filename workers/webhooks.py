"""Webhooks (SPEC §7.1): subscribing, announcing events, and delivering them.

Events are recorded in Redis with the change that causes them (store/webhooks.py says
where). A delivery worker (`accord run` starts one, consuming only `WEBHOOK_QUEUE`, so a
slow receiver never holds up a declaration) runs the delivery loop in its main process:
every `PUMP_EVERY` seconds it turns new events into one delivery per subscription that
wants them, takes the deliveries that are due (for `QUEUED_LEASE`, while they wait in the
pool's queue), and sends each to its pool as a task (`accord.webhooks.deliver`), whose
attempt holds it for the short lease `lease_for`. The task signs and POSTs the event and
records the attempt: delivered (2xx), or retried after an exponential backoff with
jitter (0.5 to 1 s after the first failure, doubling up to an hour) until
`webhook_retry_for` has passed since the first attempt; then it is given up and the subscription marked
failing. At least once: a worker that dies mid-delivery leaves the delivery to be taken
again when its lease ends, so a receiver deduplicates by event id; order is not kept.

Targets must be https and every address their host resolves to must be public (not
loopback, private, link-local, shared, reserved or multicast, which covers the cloud
metadata addresses), unless `webhook_allow_private` (ACCORD_WEBHOOK_ALLOW_PRIVATE=1).
The check is made when a subscription is created and again at each attempt, on the
addresses the request then connects to (no second lookup a DNS rebinding could
answer differently); redirects are not followed and no proxy is used; the whole
attempt (connect, TLS handshake, request, answer) must end within `webhook_timeout`, and
only the answer's status line is read, at most `MAX_RESPONSE` bytes of it."""

from __future__ import annotations

import concurrent.futures
import contextlib
import ipaddress
import logging
import os
import random
import re
import secrets
import socket
import ssl
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import orjson
from celery.signals import worker_ready

from rules.catalog import Catalog
from rules.quota import quota_year_of
from schemas import webhook
from schemas.declaration import duty_currency
from schemas.permit import Permit, PermitTerms
from schemas.webhook import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    Attempt,
    Subscription,
    SubscriptionRequest,
)
from settings import Settings, get_settings
from store import (
    Declarations,
    PermitDecision,
    RedisStore,
    RedisWebhooks,
    Store,
    StoreError,
    now_rfc3339,
)

log = logging.getLogger(__name__)

WEBHOOK_QUEUE = "accord.webhooks"
DELIVER_TASK = "accord.webhooks.deliver"
PUMP_EVERY = 0.2  # seconds between two turns of the delivery loop
CLAIM_LIMIT = 100  # deliveries taken per turn
OUTBOX_LIMIT = 500  # outbox entries read per turn
MAX_RESPONSE = 1024  # bytes of a receiver's answer read at most
RESOLVE_TIMEOUT = 3.0  # seconds a host's name has to resolve
MAX_BACKOFF = 3600.0  # seconds between two attempts at most
# seconds a delivery sent to the pool may wait in its queue before it is sent again: the
# short lease (`lease_for`) starts only when its attempt does, so that a backlog (a
# receiver timing out, many events) is not sent again, and again, while it waits
QUEUED_LEASE = 300.0
TEST_EVERY = 5  # seconds between two test events of one subscription at least
QUOTA_EVENTS = {"critical": "quota.critical", "exhausted": "quota.exhausted"}


_HOOKS: weakref.WeakKeyDictionary[Store, RedisWebhooks] = weakref.WeakKeyDictionary()
_HOOKS_LOCK = threading.Lock()


def hooks_of(store: Store) -> RedisWebhooks:
    """The webhooks part of a store, on its connection and prefix: one per store, kept
    while the store lives, since each registers its scripts on first use (reading and
    hashing each script's source: half of what recording a permit's event cost)."""
    with _HOOKS_LOCK:
        found = _HOOKS.get(store)
        if found is None:
            found = _HOOKS[store] = RedisWebhooks(store.client, store.prefix)
        return found


# --- targets --------------------------------------------------------------------------


class TargetRefused(Exception):
    """A URL no delivery may go to; the message says why."""


@dataclass(frozen=True)
class Target:
    """Where one attempt connects: the URL as subscribed, and an address of its host
    that was checked."""

    scheme: str
    host: str
    port: int
    address: str
    path: str

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == default else f"{name}:{self.port}"


# IPv6 ranges whose low 32 bits are an IPv4 address the packet ends up at:
# IPv4-compatible (deprecated, RFC 4291 §2.5.5.1; a host with an automatic tunnel routes
# ::127.0.0.1 to its own loopback), refused whatever it carries, and NAT64's well-known
# prefix (RFC 6052), judged by what it carries; 6to4 (2002::/16, RFC 3056) carries one
# in bits 16 to 48, and NAT64's local-use prefix (RFC 8215) is a local network's
_COMPATIBLE = ipaddress.ip_network("::/96")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NOT_RECEIVERS = (
    ipaddress.ip_network("64:ff9b:1::/48"),
    ipaddress.ip_network("192.0.0.0/24"),  # IETF protocol assignments (RFC 6890)
)


def public(address: str) -> bool:
    """Whether an address is one the internet routes: not loopback, private, link-local
    (169.254.169.254, the cloud metadata address, among them), shared, reserved,
    site-local or multicast; an IPv6 address that carries an IPv4 one (mapped, NAT64,
    6to4) is judged by the IPv4 address too, and an IPv4-compatible one is refused."""
    found = ipaddress.ip_address(address.split("%", 1)[0])
    if any(found in network for network in _NOT_RECEIVERS):
        return False
    if isinstance(found, ipaddress.IPv6Address):
        if found in _COMPATIBLE or found.is_site_local:
            return False
        carried = found.ipv4_mapped or found.sixtofour
        if found in _NAT64:
            carried = ipaddress.IPv4Address(int(found) & 0xFFFFFFFF)
        if carried is not None and not public(str(carried)):
            return False
        if carried is not None and found.sixtofour is None:
            return True  # mapped or NAT64: the IPv4 address is where it goes
    return found.is_global and not found.is_multicast and not found.is_reserved


_resolver = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="resolve")


def _resolve(host: str, port: int) -> list[str]:
    named = host if len(host) <= 80 else host[:80] + "…"  # what an error message repeats
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return [str(literal)]
    lookup = _resolver.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        found = lookup.result(timeout=RESOLVE_TIMEOUT)
    except concurrent.futures.TimeoutError:
        raise TargetRefused(f"{named} did not resolve within {RESOLVE_TIMEOUT:g} s") from None
    except (OSError, ValueError) as exc:  # UnicodeError (a label too long) is a ValueError
        raise TargetRefused(f"{named} does not resolve ({exc})") from None
    return list(dict.fromkeys(str(info[4][0]) for info in found))


def target(url: str, allow_private: bool) -> Target:
    """The checked target of `url`: https (or http with `allow_private`), a host whose
    every address is public (any address with `allow_private`)."""
    if any(char.isspace() or not char.isprintable() for char in url):
        raise TargetRefused("a webhook URL has no spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"not a URL: {exc}") from None
    scheme = parts.scheme.lower()
    allowed_schemes = ("https", "http") if allow_private else ("https",)
    if scheme not in allowed_schemes:
        raise TargetRefused("a webhook URL must be https")
    host = parts.hostname
    if not host:
        raise TargetRefused("a webhook URL names a host")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("a webhook URL carries no credentials (the signature is the proof)")
    if port == 0:
        raise TargetRefused("a webhook URL's port is 1 to 65535")
    port = port or (443 if scheme == "https" else 80)
    try:  # an internationalised name as the DNS, the Host header and TLS know it
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise TargetRefused("a webhook URL's host is not a valid name") from None
    addresses = _resolve(host, port)
    if not addresses:
        raise TargetRefused(f"{host} does not resolve")
    if not allow_private:
        refused = [address for address in addresses if not public(address)]
        if refused:
            # a name's address is not repeated: the answer would tell any caller what
            # the service's own DNS says of internal names
            named = refused[0] if refused[0] == host else f"{host} resolves to an address that"
            raise TargetRefused(
                f"{named} is not public (loopback, private, link-local or reserved)"
            )
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    path = quote(path, safe="!$%&'()*+,/:;=?@~")  # a request line is ASCII
    return Target(scheme, host, port, addresses[0], path)


# --- subscriptions --------------------------------------------------------------------


def subscribe(
    store: Store, request: SubscriptionRequest, business_number: str | None
) -> tuple[Subscription, str]:
    """A new subscription and its secret (the URL checked by the caller beforehand)."""
    sub_id = "wh_" + secrets.token_hex(8)
    secret = "whsec_" + secrets.token_urlsafe(32)
    created = time.time()
    fields = {
        "id": sub_id,
        "url": request.url,
        "events": ",".join(request.events),
        "business_number": business_number or "",
        "secret": secret,
        "created_at": _rfc3339(created),
        "created_ts": repr(created),
        "status": "active",
    }
    hooks_of(store).create(fields)
    return subscription_view(fields, 0), secret


def subscription_view(fields: dict[str, str], pending: int) -> Subscription:
    return Subscription.model_validate(
        {
            "id": fields["id"],
            "url": fields["url"],
            "events": tuple(name for name in fields["events"].split(",") if name),
            "business_number": fields.get("business_number") or None,
            "created_at": fields["created_at"],
            "status": fields.get("status") or "active",
            "failing_since": fields.get("failing_since") or None,
            "pending": pending,
        }
    )


def queue_test_event(store: Store, sub_id: str) -> str | None:
    """A `webhook.test` event for one subscription, due at once; its id, or None when one
    was queued less than `TEST_EVERY` seconds ago (each is a delivery kept until it is
    made or given up, so their number is bounded)."""
    now = time.time()
    announced = Announcement(
        event_id=webhook.event_id(f"webhook.test|{sub_id}|{uuid.uuid4().hex}"),
        kind="webhook.test",
        owner=None,
        at=now,
        data={"webhook_id": sub_id, "message": "a test delivery from Accord"},
    )
    made = hooks_of(store).fan_out(
        "", announced.event_id, announced.kind, announced.body, [sub_id], now,
        guard=(f"test|{sub_id}", TEST_EVERY),
    )  # fmt: skip
    return announced.event_id if made else None


# --- events ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Announcement:
    """An event as the workers hold it: who it belongs to (a business number, or None
    for a quota's) and when it happened, besides what the receiver gets."""

    event_id: str
    kind: str
    owner: str | None
    at: float
    data: dict[str, Any]

    @property
    def body(self) -> bytes:
        return orjson.dumps(
            {"id": self.event_id, "type": self.kind, "created_at": _rfc3339(self.at),
             "data": self.data}
        )  # fmt: skip

    @property
    def entry(self) -> str:
        """The announcement as an outbox member."""
        return orjson.dumps(
            {"id": self.event_id, "type": self.kind, "owner": self.owner, "at": self.at,
             "data": self.data}
        ).decode()  # fmt: skip


def _permit_data(permit: PermitTerms) -> dict[str, Any]:
    data: dict[str, Any] = {
        "permit_number": permit.permit_number,
        "business_number": permit.business_number,
        "measure": permit.measure,
        "quantity": permit.quantity,
        "issued_on": permit.issued_on.isoformat(),
        "expires_on": permit.expires_on.isoformat(),
        "sub_quota": permit.sub_quota,
    }
    if isinstance(permit, Permit):
        data.update(status=permit.status, held=permit.held, period=permit.period)
    return data


def _announce_permit(store: Any, kind: str, permit: PermitTerms, **extra: Any) -> None:
    if not isinstance(store, RedisStore):  # a store without webhooks (one in memory)
        return
    announced = Announcement(
        event_id=webhook.event_id(f"{kind}|{permit.measure}|{permit.permit_number}"),
        kind=kind,
        owner=permit.business_number,
        at=time.time(),
        data={**_permit_data(permit), **extra},
    )
    try:
        hooks_of(store).outbox_add(announced.entry, announced.kind, announced.at)
    except StoreError:  # the permit stands; its announcement is what is lost
        log.exception("permit %s: could not record its %s event", permit.permit_number, kind)


def announce_application(store: Any, decision: PermitDecision, applied: PermitTerms) -> None:
    """permit.issued or permit.refused for the ledger's answer to an application (the
    same application again announces the same event, which receivers get once)."""
    permit = decision.permit
    if decision.outcome in ("issued", "existing") and permit is not None:
        if permit.status in ("issued", "used"):
            _announce_permit(store, "permit.issued", permit)
    elif decision.outcome == "refused":
        _announce_permit(store, "permit.refused", permit or applied, remaining=decision.remaining)


def announce_run(store: Any, quota_id: str, granted: Sequence[dict[str, Any]]) -> None:
    """permit.issued or permit.refused for each permit application a pro-rata run decided
    (`granted`: the run's answer, [{permit_number, status, quantity}])."""
    if not granted or not isinstance(store, RedisStore):
        return
    found = store.ledger.permits([(quota_id, item["permit_number"]) for item in granted])
    for permit in found.values():
        if permit.status in ("issued", "refused"):
            _announce_permit(store, f"permit.{permit.status}", permit)


def announce_expired(store: Any, permits: Sequence[Permit]) -> None:
    for permit in permits:
        _announce_permit(store, "permit.expired", permit)


def _declaration_event(store: Declarations, member: str, at: float) -> Announcement | None:
    """The event an outbox entry of the record script names, from the declaration as
    stored (None when it is gone)."""
    kind, _, declaration_id = member.partition("|")
    record = store.get(declaration_id)
    if record is None:
        return None
    data: dict[str, Any] = {
        "declaration_id": declaration_id,
        "business_number": record.business_number,
    }
    if kind == "declaration.decided":
        verdict = orjson.loads(record.verdict) if record.verdict else {}
        body = orjson.loads(record.body) if record.body else {}
        data.update(
            outcome=verdict.get("outcome"),
            total_duty=verdict.get("total_duty"),
            currency=duty_currency(body),
            decided_at=record.decided_at,
        )
    else:
        data.update(cancelled_at=_rfc3339(at))
    return Announcement(
        event_id=webhook.event_id(member),
        kind=kind,
        owner=record.business_number,
        at=at,
        data=data,
    )


def _outbox_event(store: Store, member: str, at: float) -> Announcement | None:
    if member.startswith("{"):
        entry = orjson.loads(member)
        return Announcement(entry["id"], entry["type"], entry["owner"], entry["at"], entry["data"])
    return _declaration_event(store, member, at)


def _quota_event(list_name: str, position: int, text: str) -> Announcement | None:
    entry = orjson.loads(text)
    kind = QUOTA_EVENTS.get(entry.get("type", ""))
    if kind is None:
        return None
    data = {
        "quota_id": entry.get("quota_id"),
        "period": entry.get("period"),
        "balance": entry.get("balance_after"),
        "on": entry.get("on"),
    }
    at = _timestamp(entry.get("at")) or time.time()
    return Announcement(webhook.event_id(f"{list_name}#{position}"), kind, None, at, data)


def ledger_lists(store: RedisStore, catalog: Catalog, today: date) -> list[str]:
    """The ledger event lists that may hold news: every quota year of every quota in
    force, up to the year after today's."""
    names = []
    for pack in catalog.current:
        for measure in pack.measures:
            if measure.quota is None:
                continue
            last = max(quota_year_of(measure, today), 0) + 1
            names += [
                store.ledger.key(f"{measure.id}|events|{year}") for year in range(1, last + 1)
            ]
    return sorted(set(names))


# --- the delivery loop ----------------------------------------------------------------


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
        event = _outbox_event(store, member, at) if wanted else None
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
                event = _quota_event(name, position, text)
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


def _rfc3339(seconds: float) -> str:
    return (
        datetime.fromtimestamp(seconds, UTC)
        .isoformat(timespec="microseconds")
        .replace("+00:00", "Z")
    )


def _timestamp(text: Any) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
