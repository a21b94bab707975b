"""Webhooks (SPEC §7.1): a subscription, the events it may ask for, the event a receiver
gets, each attempt at delivering it, and the signature over it. The signature is a pure
function here, so that the sender (workers/webhook_delivery.py) and anyone checking it compute
the same thing from one definition.

A delivery is a POST of the event's JSON with `Accord-Event-Id: <id>` and
`Accord-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`, keyed with
the subscription's secret. The timestamp is inside the signed text so that a receiver can
refuse an old delivery replayed by someone who recorded it (docs/webhooks.md)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from schemas.identifiers import BN15

EventType = Literal[
    "declaration.decided",
    "declaration.cancelled",
    "permit.issued",
    "permit.refused",
    "permit.expired",
    "quota.critical",
    "quota.exhausted",
]
EVENT_TYPES: tuple[str, ...] = EventType.__args__  # type: ignore[attr-defined]
# the events that belong to one importer; quota events belong to none, so a subscription
# bound to a business number (every submitter's) never asks for them
IMPORTER_EVENTS = frozenset(name for name in EVENT_TYPES if not name.startswith("quota."))

SubscriptionStatus = Literal["active", "failing"]
AttemptOutcome = Literal["delivered", "retrying", "gave_up"]

SIGNATURE_HEADER = "Accord-Signature"
EVENT_ID_HEADER = "Accord-Event-Id"
MAX_URL = 2048
# subscriptions one importer's submitters may hold: each is one more delivery of every
# event, and the delivery loop reads them all at each turn
MAX_PER_IMPORTER = 10


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SubscriptionRequest(_Frozen):
    """`POST /v1/webhooks`: where to deliver, which events, and (for an administrator)
    the one importer whose events it wants; a submitter's is always its own."""

    url: Annotated[str, Field(min_length=1, max_length=MAX_URL)]
    events: Annotated[tuple[EventType, ...], Field(min_length=1, max_length=len(EVENT_TYPES))]
    business_number: Annotated[str | None, Field(pattern=BN15)] = None

    @field_validator("events")
    @classmethod
    def _distinct(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("each event type once")
        return value


class Subscription(_Frozen):
    """A subscription as listed: never its secret."""

    id: str
    url: str
    events: tuple[EventType, ...]
    business_number: str | None
    created_at: datetime
    status: SubscriptionStatus = Field(
        description="failing once a delivery was given up after its retries, active again "
        "after the next successful one"
    )
    failing_since: datetime | None = None
    pending: int = Field(0, description="deliveries not yet made (waiting for a retry)")


class CreatedSubscription(Subscription):
    """The answer to `POST /v1/webhooks`: the only one that shows the secret."""

    secret: str = Field(description="the HMAC key of Accord-Signature; shown only here")


class SubscriptionList(_Frozen):
    webhooks: tuple[Subscription, ...]


class Attempt(_Frozen):
    """One attempt at delivering one event: when, the receiver's status code or the
    error, how long it took, and what followed."""

    at: datetime
    event_id: str
    type: EventType | Literal["webhook.test"]
    attempt: int
    status_code: int | None = None
    error: str | None = None
    duration_ms: int
    outcome: AttemptOutcome


class AttemptList(_Frozen):
    webhook_id: str
    attempts: tuple[Attempt, ...]


class TestQueued(_Frozen):
    """`POST /v1/webhooks/{id}/test`: the test event, queued for delivery."""

    webhook_id: str
    event_id: str
    type: Literal["webhook.test"] = "webhook.test"


class Event(_Frozen):
    """What a receiver gets, as JSON, in the body of the POST."""

    id: str
    type: EventType | Literal["webhook.test"]
    created_at: datetime
    data: dict[str, Any]


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The `Accord-Signature` header of `body` sent at `timestamp` (unix seconds)."""
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def event_id(source: str) -> str:
    """An event's id, derived from what caused it (a declaration's decision, a ledger
    entry), so that the same cause announced twice is one event to a receiver."""
    return "evt_" + hashlib.sha256(source.encode()).hexdigest()[:32]


def wants(
    events: tuple[str, ...], business_number: str | None, kind: str, owner: str | None
) -> bool:
    """Whether a subscription to `events` (bound to `business_number`, or to none) gets an
    event of `kind` that belongs to importer `owner` (None: to no importer)."""
    if kind not in events:
        return False
    return business_number is None or business_number == owner
