"""`accord webhooks add|list|remove|deliveries|test`: the webhook subscriptions of the
caller (SPEC §7.1), as tables or, with `--json`, the API's JSON."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from cli.output import Block, CliError, Fields, View, emit, table_of
from schemas.webhook import EVENT_TYPES

Verb = Callable[..., argparse.ArgumentParser]
Call = Callable[..., Any]

LIST_COLUMNS = ("id", "status", "pending", "business_number", "events", "url")
ATTEMPT_COLUMNS = (
    "at", "event_id", "type", "attempt", "status_code", "error", "duration_ms", "outcome",
)  # fmt: skip


def add_verbs(verbs: argparse._SubParsersAction[argparse.ArgumentParser], verb: Verb) -> None:
    """The `webhooks` verb and its own verbs, each made by `verb` (the global options)."""
    webhooks_p = verb(verbs, "webhooks", "webhook subscriptions: signed POSTs of events")
    own = webhooks_p.add_subparsers(dest="webhook_verb", required=True, metavar="VERB")
    add_p = verb(own, "add", "subscribe a URL to events (prints its secret, this once)")
    add_p.add_argument("url", help="https URL the events are POSTed to")
    add_p.add_argument(
        "--events",
        required=True,
        metavar="EVENT,...",
        help=f"comma-separated, of: {', '.join(EVENT_TYPES)}",
    )
    add_p.add_argument(
        "--business-number", help="only this importer's events (a submitter's: always its own)"
    )
    verb(own, "list", "the subscriptions you may see, active or failing")
    which = "the subscription's id, or its URL when one of yours has it"
    verb(own, "remove", "remove a subscription").add_argument("webhook_id", help=which)
    deliveries_p = verb(own, "deliveries", "a subscription's delivery attempts, newest first")
    deliveries_p.add_argument("webhook_id", help=which)
    deliveries_p.add_argument("--limit", type=int, default=50, help="at most (1-200; 50)")
    verb(own, "test", "send a subscription a signed webhook.test event").add_argument(
        "webhook_id", help=which
    )


def subscription_id(call: Call, named: str) -> str:
    """The id of the subscription `named` names: an id as it is; a URL, the one
    subscription the caller may see that has it (ids are random: a URL is what a reader
    knows)."""
    if not named.startswith(("https://", "http://")):
        return named
    found = [item["id"] for item in call("GET", "/v1/webhooks")["webhooks"] if item["url"] == named]
    if len(found) != 1:
        how_many = "no subscription" if not found else f"{len(found)} subscriptions"
        raise CliError(f"{how_many} of yours to {named}: name it by its id (webhooks list)", 2)
    return str(found[0])


def run(call: Call, args: argparse.Namespace) -> int:
    """One `webhooks` verb: `call(method, path, **kwargs)` asks the API."""
    verb = args.webhook_verb
    view: View
    if verb == "add":
        body: dict[str, Any] = {
            "url": args.url,
            "events": [name.strip() for name in args.events.split(",") if name.strip()],
        }
        if args.business_number:
            body["business_number"] = args.business_number
        answer, view = call("POST", "/v1/webhooks", json=body), _created_view
    elif verb == "list":
        answer, view = call("GET", "/v1/webhooks"), _list_view
    elif verb == "remove":
        webhook_id = subscription_id(call, args.webhook_id)
        answer, view = call("DELETE", f"/v1/webhooks/{webhook_id}"), _removed_view
    elif verb == "deliveries":
        path = f"/v1/webhooks/{subscription_id(call, args.webhook_id)}/deliveries"
        answer, view = call("GET", path, params={"limit": args.limit}), _attempts_view
    else:
        webhook_id = subscription_id(call, args.webhook_id)
        answer, view = call("POST", f"/v1/webhooks/{webhook_id}/test"), _test_view
    emit(answer, args.json, view)
    return 0


def _created_view(body: dict[str, Any]) -> list[Block]:
    return [
        Fields([(name, body.get(name)) for name in (*LIST_COLUMNS, "secret")]),
        "Keep the secret: it is shown only now. Receivers check Accord-Signature with it "
        "(docs/webhooks.md).",
    ]


def _list_view(body: dict[str, Any]) -> list[Block]:
    rows = body["webhooks"]
    failing = [row["id"] for row in rows if row["status"] == "failing"]
    blocks: list[Block] = [table_of(rows, LIST_COLUMNS, empty="(no subscriptions)")]
    if failing:
        blocks.append(f"failing (a delivery was given up after 24 hours): {', '.join(failing)}")
    return blocks


def _removed_view(body: dict[str, Any]) -> list[Block]:
    return [Fields([(name, body.get(name)) for name in LIST_COLUMNS], "removed")]


def _attempts_view(body: dict[str, Any]) -> list[Block]:
    title = f"{body['webhook_id']}: {len(body['attempts'])} attempts, newest first"
    return [
        table_of(body["attempts"], ATTEMPT_COLUMNS, title, text_columns=frozenset({"event_id"}))
    ]


def _test_view(body: dict[str, Any]) -> list[Block]:
    return [Fields(list(body.items()), "test event queued")]
