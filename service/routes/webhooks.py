"""Webhooks (SPEC §7.1): subscribe, list, remove, read a subscription's delivery
attempts, send it a test event. Administrators subscribe to any event, of every importer
or of one; a submitter's subscriptions are bound to its own business number and ask for
its declarations and permits only; an auditor reads and writes nothing new. The events
are workers/webhooks.py's, their delivery workers/webhook_delivery.py's."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from schemas.webhook import (
    IMPORTER_EVENTS,
    MAX_PER_IMPORTER,
    AttemptList,
    CreatedSubscription,
    Subscription,
    SubscriptionList,
    SubscriptionRequest,
    TestQueued,
)
from service.auth import Principal
from service.dependencies import Caller, Config, Store, Writer, errors
from service.errors import ApiError
from service.words import _
from workers import webhook_targets, webhooks

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

WebhookId = Annotated[str, Path(pattern=r"^wh_[0-9a-f]{16}$", description="the subscription's id")]


@router.post(
    "",
    status_code=201,
    summary="Subscribe a URL to events (its secret is shown in this answer only)",
    response_model=CreatedSubscription,
    responses=errors(
        400, 401, 403, 409, 413, 422, 503,
        e403="an auditor, or a submitter asking for another importer's or a quota's events",
        e409=f"a submitter's importer holds {MAX_PER_IMPORTER} subscriptions already",
        e422="invalid input, or a URL no delivery may go to (`detail` says why)",
    ),
)  # fmt: skip
def subscribe(
    request: SubscriptionRequest, caller: Writer, store: Store, settings: Config
) -> JSONResponse:
    business_number = request.business_number
    if caller.role == "submitter":
        if business_number not in (None, caller.business_number):
            raise ApiError(403, "not your importer", _("a submitter subscribes to its own events"))
        others = sorted(set(request.events) - IMPORTER_EVENTS)
        if others:
            listed = ", ".join(others)
            raise ApiError(
                403,
                "not your events",
                _(
                    "a submitter subscribes to its importer's declarations and permits, not "
                    f"to {listed}"
                ),
            )
        business_number = caller.business_number
        held = sum(1 for _ in _listed(store, caller))
        if held >= MAX_PER_IMPORTER:
            raise ApiError(
                409,
                "too many subscriptions",
                _(f"an importer holds at most {MAX_PER_IMPORTER} subscriptions; remove one first"),
            )
    elif business_number is not None and set(request.events) - IMPORTER_EVENTS:
        raise ApiError(
            422,
            "invalid subscription",
            [{"field": "events", "message": _("quota events belong to no importer: "
              "subscribe to them without business_number")}],
        )  # fmt: skip
    try:
        webhook_targets.target(request.url, settings.webhook_allow_private)
    except webhook_targets.TargetRefused as exc:
        raise ApiError(
            422, "invalid subscription", [{"field": "url", "message": str(exc)}]
        ) from None
    created, secret = webhooks.subscribe(store, request, business_number)
    answer = CreatedSubscription(**created.model_dump(), secret=secret)
    return JSONResponse(answer.model_dump(mode="json"), status_code=201)


def _listed(store: Store, caller: Principal) -> list[Subscription]:
    hooks = webhooks.hooks_of(store)
    pending = hooks.pending()
    return [
        webhooks.subscription_view(fields, pending.get(fields["id"], 0))
        for fields in hooks.subscriptions()
        if _sees(caller, fields)
    ]


def _sees(caller: Principal, fields: dict[str, str]) -> bool:
    """A submitter sees the subscriptions bound to its importer; the others see all."""
    return caller.role != "submitter" or fields.get("business_number") == caller.business_number


def _visible(store: Store, caller: Principal, webhook_id: str) -> dict[str, str]:
    fields = webhooks.hooks_of(store).subscription(webhook_id)
    if fields is None or not _sees(caller, fields):
        raise ApiError(404, "webhook not found", {"webhook_id": webhook_id})
    return fields


@router.get(
    "",
    summary="The subscriptions the caller may see, with their status (active or failing)",
    response_model=SubscriptionList,
    responses=errors(401, 503),
)
def list_webhooks(caller: Caller, store: Store) -> SubscriptionList:
    return SubscriptionList(webhooks=tuple(_listed(store, caller)))


@router.delete(
    "/{webhook_id}",
    summary="Remove a subscription; nothing more is delivered to it",
    response_model=Subscription,
    responses=errors(401, 403, 404, 422, 503),
)
def remove_webhook(webhook_id: WebhookId, caller: Writer, store: Store) -> Subscription:
    fields = _visible(store, caller, webhook_id)
    hooks = webhooks.hooks_of(store)
    pending = hooks.pending().get(webhook_id, 0)
    hooks.remove(webhook_id)
    return webhooks.subscription_view(fields, pending)


@router.get(
    "/{webhook_id}/deliveries",
    summary="A subscription's delivery attempts, newest first: time, status code or "
    "error, duration, and what followed",
    response_model=AttemptList,
    responses=errors(401, 404, 422, 503),
)
def deliveries(
    webhook_id: WebhookId,
    caller: Caller,
    store: Store,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> AttemptList:
    _visible(store, caller, webhook_id)
    found = webhooks.hooks_of(store).attempts(webhook_id, limit)
    return AttemptList.model_validate({"webhook_id": webhook_id, "attempts": found})


@router.post(
    "/{webhook_id}/test",
    status_code=202,
    summary="Send a subscription a `webhook.test` event, signed like every other",
    response_model=TestQueued,
    responses=errors(
        401, 403, 404, 409, 422, 503,
        e409=f"a test event was queued less than {webhooks.TEST_EVERY} s ago",
    ),
)  # fmt: skip
def test_webhook(webhook_id: WebhookId, caller: Writer, store: Store) -> TestQueued:
    _visible(store, caller, webhook_id)
    event_id = webhooks.queue_test_event(store, webhook_id)
    if event_id is None:
        raise ApiError(
            409,
            "test already queued",
            _(f"one test event per {webhooks.TEST_EVERY} s per subscription; try again later"),
        )
    return TestQueued(webhook_id=webhook_id, event_id=event_id)
