"""The verbs about quotas and what draws on them, each a client of the service: `accord
quotas` (the list, or one quota's periods, permits, events and accounts, in the words and
sum of the dashboard's quota card), `measures` (in force, with their checks), `permits`
(apply, show, cancel) and `rates` (import, show); with the human view of each."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from cli.client import Client, Verb, show
from cli.output import Block, Fields, table_of

# the words and dates of the dashboard's quota card: a period's figures as the read model
# gives them, in the order of the sum they make (remaining = volume + carried_over - drawn
# + returned - granted)
BALANCE = "remaining = volume + carried_over − drawn + returned"
_PERIOD_COLUMNS = ["period", "volume", "carried_over", "drawn", "returned", "remaining",
                   "carried_forward", "status"]  # fmt: skip
_PERMIT_COLUMNS = ["period", "issued", "used", "returned", "outstanding"]


def _period_row(period: dict[str, Any]) -> dict[str, Any]:
    return {**period, "period": f"{period['start']}..{period['end']}", "drawn": period["used"]}


def _period_columns(periods: list[dict[str, Any]]) -> list[str]:
    """The columns of a periods table: granted and lapsed where some period has any."""
    columns = list(_PERIOD_COLUMNS)
    if any(period.get("granted") for period in periods):
        columns.insert(columns.index("remaining"), "granted")
    if any(period.get("lapsed") for period in periods):
        columns.insert(columns.index("status"), "lapsed")
    return columns


def _quotas_view(body: dict[str, Any]) -> list[Block]:
    if "quotas" in body:  # the list: one row per quota and its current period
        rows = [
            {
                "quota_id": quota["quota_id"],
                "mode": quota["mode"],
                "drawn_at": quota["drawn_at"],
                **(_period_row(quota["period"]) if quota.get("period") else {}),
            }
            for quota in body["quotas"]
        ]
        columns = _period_columns(
            [quota["period"] for quota in body["quotas"] if quota.get("period")]
        )
        return [table_of(rows, ["quota_id", "mode", "drawn_at", *columns]), BALANCE]
    head = Fields(
        [(key, body.get(key)) for key in ("quota_id", "mode", "drawn_at", "unit",
                                          "critical_threshold", "quota_year", "as_of")]
    )  # fmt: skip
    periods = body.get("periods") or []
    rows = [_period_row(period) for period in periods]
    blocks: list[Block] = [
        head,
        table_of(rows, _period_columns(periods), title=f"periods ({BALANCE})"),
    ]
    permits = [{"period": row["period"], **row["permits"]} for row in rows if row.get("permits")]
    if permits:
        columns, formula = list(_PERMIT_COLUMNS), "issued = used + returned + outstanding"
        if any(permit.get("lapsed") for permit in permits):  # came back after the quota year
            columns.insert(columns.index("outstanding"), "lapsed")
            formula = "issued = used + returned + lapsed + outstanding"
        blocks.append(table_of(permits, columns, title=f"permits by period ({formula})"))
    events = (body.get("events") or {}).get("events", [])
    blocks.append(
        table_of(
            events,
            ["on", "type", "period", "quantity", "balance_before", "balance_after",
             "declaration_id", "permit_number"],
            title=f"events ({(body.get('events') or {}).get('total', len(events))} in all)",
        )
    )  # fmt: skip
    if body.get("accounts"):
        blocks.append(table_of(body["accounts"], title="accounts"))
    return blocks


def _measures_view(body: dict[str, Any]) -> list[Block]:
    rows = [
        {
            "id": measure["id"],
            "from": measure["effective"]["from"],
            "to": measure["effective"]["to"],
            "rates": " ".join(f"{name} {rate}" for name, rate in measure["rates"].items()),
            "quota": (measure.get("quota") or {}).get("mode"),
            "title": measure["title"],
        }
        for measure in body["measures"]
    ]
    blocks: list[Block] = [
        table_of(rows, ["id", "from", "to", "rates", "quota", "title"],
                 title=f"measures in force on {body['as_of']}")
    ]  # fmt: skip
    for measure in body["measures"]:
        if "checks" in measure:
            blocks.append(
                table_of(measure["checks"], ["severity", "rule", "message"],
                         title=f"checks of {measure['id']}")
            )  # fmt: skip
    return blocks


def _quotas(client: Client, args: argparse.Namespace) -> int:
    params = {"as_of": args.as_of} if args.as_of else {}
    path = f"/v1/quotas/{args.quota_id}" if args.quota_id else "/v1/quotas"
    return show(client.call("GET", path, params=params), args, _quotas_view)


def _measures(client: Client, args: argparse.Namespace) -> int:
    params = {"as_of": args.as_of} if args.as_of else {}
    body = client.call("GET", "/v1/measures", params=params)
    if args.checks:
        for measure in body["measures"]:
            measure["checks"] = client.call(
                "GET", f"/v1/measures/{measure['id']}/checks", params=params
            )["findings"]
    return show(body, args, _measures_view)


def _rates(client: Client, args: argparse.Namespace) -> int:
    if args.rates_verb == "import":
        content = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
        loaded = client.call(
            "POST", "/v1/exchange-rates", content=content,
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        return show(loaded, args)
    params = {"currency": args.currency, "on": args.on, "into": args.into}
    return show(client.call("GET", "/v1/exchange-rates", params=params), args)


def _permits(client: Client, args: argparse.Namespace) -> int:
    if args.permit_verb == "apply":
        application: dict[str, Any] = {
            "business_number": args.business_number,
            "measure": args.measure,
            "quantity": args.quantity,
        }
        optional = {
            "permit_number": args.number,
            "issued_on": args.issued_on,
            "expires_on": args.expires_on,
            "sub_quota": args.sub_quota,
        }
        application.update({name: value for name, value in optional.items() if value})
        return show(client.call("POST", "/v1/permits", json=application), args)
    if args.permit_verb == "cancel":
        return show(client.call("POST", f"/v1/permits/{args.number}/cancel"), args)
    return show(client.call("GET", f"/v1/permits/{args.number}"), args)


VERBS: dict[str, Verb] = {
    "quotas": _quotas,
    "measures": _measures,
    "permits": _permits,
    "rates": _rates,
}
