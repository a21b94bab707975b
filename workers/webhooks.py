"""Webhooks (SPEC §7.1), what the workflows and the routes call: subscribing, and
announcing events.

Events are recorded in Redis with the change that causes them (store/webhooks.py says
where): a declaration's by the record script, in the same atomic step as its verdict; a
permit's here, in the outbox (`announce_application`, `announce_run`,
`announce_expired`); a quota's in the ledger's own event lists. The delivery loop
(workers/webhook_delivery.py) reads them back as `Announcement`s through
`outbox_event`, `quota_event` and `ledger_lists`, and delivers each to the
subscriptions that want it; a subscription's URL is checked by
workers/webhook_targets.py."""

from __future__ import annotations

import logging
import secrets
import threading
import time
import uuid
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import orjson

from rules.catalog import Catalog
from rules.quota import quota_year_of
from schemas import webhook
from schemas.declaration import duty_currency
from schemas.permit import Permit, PermitTerms
from schemas.webhook import Subscription, SubscriptionRequest
from store import (
    Declarations,
    PermitDecision,
    RedisStore,
    RedisWebhooks,
    Store,
    StoreError,
)

log = logging.getLogger(__name__)

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


def declaration_event(store: Declarations, member: str, at: float) -> Announcement | None:
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


def outbox_event(store: Store, member: str, at: float) -> Announcement | None:
    if member.startswith("{"):
        entry = orjson.loads(member)
        return Announcement(entry["id"], entry["type"], entry["owner"], entry["at"], entry["data"])
    return declaration_event(store, member, at)


def quota_event(list_name: str, position: int, text: str) -> Announcement | None:
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
