"""The verbs about declarations, each a client of the service: `accord submit` (a
declaration file, checked whole before any is sent, in batches of the API's limit),
`status`, `cancel`, `audit`, `replay`, `decisions` (every page of one rule's) and
`export` (verdicts and trails of a time range, as JSON Lines); with the human view of each."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cli import language as cli_language
from cli.client import Client, Verb, show
from cli.output import Block, CliError, Fields, amount, emit, generic, table_of

BATCH = 1000  # the API's batch limit


def _progress(done: int, total: int) -> None:
    if not sys.stderr.isatty() and done not in (total,):
        return
    width = 30
    filled = width * done // max(total, 1)
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


SUBMIT_COLUMNS = ("declaration_id", "status", "outcome", "total_duty")


def _submitted_view(rows: list[dict[str, Any]]) -> list[Block]:
    counts: dict[str, int] = {}
    for row in rows:
        key = row["outcome"] or row["status"] or "?"
        counts[key] = counts.get(key, 0) + 1
    summary = "  ".join(f"{name}: {count}" for name, count in sorted(counts.items()))
    shown = [{**row, "total_duty": amount(row["total_duty"], row.get("currency"))} for row in rows]
    return [table_of(shown, SUBMIT_COLUMNS), summary]


def submit(client: Client, source: str, wait: bool, as_json: bool) -> int:
    from cli.declaration_files import DeclarationFileError, read

    try:
        found = read(source)
    except DeclarationFileError as exc:
        raise CliError(f"nothing submitted:\n{exc}", 2) from None
    if not found:
        raise CliError(f"nothing submitted: {source} holds no declaration", 2)
    items = [raw for raw, _ in found]
    # the file's own ids: the service names none for a declaration it refuses
    ids = [declaration.declaration_id for _, declaration in found]
    results: list[dict[str, Any]] = []
    for start in range(0, len(items), BATCH):
        chunk = items[start : start + BATCH]
        body = client.call("POST", "/v1/declarations/batch", json={"declarations": chunk})
        results.extend(body["results"])
        if not wait:  # with --wait, the one bar counts verdicts instead
            _progress(len(results), len(items))
    rows = []
    for index, result in enumerate(results):
        row = {
            "declaration_id": ids[index],
            "status": result.get("status") or result.get("error"),
            "outcome": None,
            "total_duty": None,
            "currency": None,
        }
        if wait and result.get("declaration_id") and result.get("status_code", 500) < 300:
            verdict = client.call(
                "GET", f"/v1/declarations/{result['declaration_id']}", params={"wait": 30}
            )
            row.update(
                status=verdict["status"],
                outcome=verdict.get("outcome"),
                total_duty=verdict.get("total_duty"),
                currency=verdict.get("currency"),
            )
        elif result.get("status_code", 500) >= 400:
            row["status"] = f"{result.get('error')} (HTTP {result.get('status_code')})"
        rows.append(row)
        if wait:
            _progress(index + 1, len(results))
    emit(rows, as_json, _submitted_view)
    refused = any(result.get("status_code", 500) >= 400 for result in results)
    unaccepted = wait and any(row["outcome"] != "accepted" for row in rows)
    # refused comes first: those declarations are not even stored
    return 1 if refused else 4 if unaccepted else 0


def _status_view(body: dict[str, Any]) -> list[Block]:
    currency = body.get("currency")
    shown = {**body, "total_duty": amount(body.get("total_duty"), currency)}
    head = Fields(
        [
            (key, shown.get(key))
            for key in ("declaration_id", "status", "outcome", "total_duty", "decided_at", "error")
            if key in body
        ]
    )
    blocks: list[Block] = [head]
    lines = body.get("lines") or []
    if lines:
        blocks.append(
            table_of(
                [
                    {
                        **line,
                        "quota": (line.get("quota") or {}).get("quota_id"),
                        "total_duty": amount(line.get("total_duty"), currency),
                    }
                    for line in lines
                ],
                ["line", "treatment", "in_quota_quantity", "quota", "measures", "total_duty"],
                title="lines",
            )
        )
        duties = [
            {
                "line": line["line"],
                **duty,
                "amount": amount(duty.get("amount"), currency),
                # a specific duty's rate is money per unit, an ad valorem one's base is money
                **(
                    {"rate": amount(duty.get("rate"), currency)}
                    if duty.get("per")
                    else {"base": amount(duty.get("base"), currency)}
                ),
            }
            for line in lines
            for duty in line["duties"]
        ]
        blocks.append(
            table_of(duties, ["line", "type", "measure", "rate", "per", "base", "amount"],
                     title="duties")
        )  # fmt: skip
    findings = body.get("findings") or []
    if findings:
        blocks.append(table_of(findings, ["severity", "rule", "line", "message"], title="findings"))
    if body.get("exchange_rate"):
        blocks += generic(body["exchange_rate"], "exchange_rate")
    if body.get("not_assessed"):
        # the total is not the whole amount owing while any charge is listed here
        blocks.append(table_of(body["not_assessed"], ["tax", "reason"], title="not assessed"))
    return blocks


def _audit_view(trail: dict[str, Any]) -> list[Block]:
    scalars = [(key, value) for key, value in trail.items() if not isinstance(value, list)]
    events = [
        {
            "seq": event["seq"],
            "at": event["at"],
            "type": event["type"],
            "hash": event["hash"][:16],
            "data": event["data"],
        }
        for event in trail.get("events", [])
    ]
    return [Fields(scalars), table_of(events, title="events")]


def _replay_view(result: dict[str, Any]) -> list[Block]:
    head = Fields(
        [
            ("declaration_id", result.get("declaration_id")),
            ("differences", len(result["differences"])),
        ]
    )
    return [head, table_of(result["differences"], ["field", "original", "replayed"],
                           empty="(no differences)")]  # fmt: skip


def _decisions_view(found: dict[str, Any]) -> list[Block]:
    return [
        f"{found['rule']}: {len(found['decisions'])} decisions",
        table_of(
            found["decisions"],
            ["declaration_id", "line", "severity", "outcome", "pack_version", "at"],
        ),
    ]


def _instant(value: str, end: bool = False) -> str:
    """A bare date means its whole day (in UTC); `today` is today's date in UTC."""
    if value == "today":
        value = datetime.now(UTC).date().isoformat()
    if len(value) == 10:
        return f"{value}T23:59:59.999999+00:00" if end else f"{value}T00:00:00+00:00"
    return value


def _export(client: Client, start: str, end: str | None, output: str, as_json: bool) -> int:
    until = _instant(end, end=True) if end else datetime.now(UTC).isoformat()
    params = {"from": _instant(start), "to": until}
    text = client.text("GET", "/v1/export", params=params)
    if output == "-":
        sys.stdout.write(text)  # the export itself is the output: JSON Lines, for pipes
        return 0
    Path(output).write_text(text)
    emit({"file": output, "declarations": len(text.splitlines()), "bytes": len(text.encode())},
         as_json)  # fmt: skip
    return 0


def _submit(client: Client, args: argparse.Namespace) -> int:
    return submit(client, args.file, args.wait, args.json)


def _export_verb(client: Client, args: argparse.Namespace) -> int:
    return _export(client, args.start, args.end, args.output, args.json)


def _status(client: Client, args: argparse.Namespace) -> int:
    return show(client.call("GET", f"/v1/declarations/{args.declaration_id}"), args,
                _status_view)  # fmt: skip


def _cancel(client: Client, args: argparse.Namespace) -> int:
    cancelled = client.call("POST", f"/v1/declarations/{args.declaration_id}/cancel")
    return show(cancelled, args, _status_view)


def _audit(client: Client, args: argparse.Namespace) -> int:
    trail = client.call("GET", f"/v1/declarations/{args.declaration_id}/audit")
    show(trail, args, _audit_view)
    if args.verify and not trail["verified"]:
        said = cli_language.message(args.lang, f"audit trail does not verify: {trail['problem']}")
        print(f"accord: {said}", file=sys.stderr)
        return 1
    return 0


def _replay(client: Client, args: argparse.Namespace) -> int:
    body = {"declaration_id": args.declaration_id, "pack_version": args.pack_version}
    return show(client.call("POST", "/v1/replay", json=body), args, _replay_view)


def _decisions(client: Client, args: argparse.Namespace) -> int:
    found = client.call("GET", "/v1/decisions", params={"rule": args.rule})
    listed = list(found["decisions"])
    while found.get("next_cursor") is not None:  # every page: the CLI lists them all
        params = {"rule": args.rule, "cursor": found["next_cursor"]}
        found = client.call("GET", "/v1/decisions", params=params)
        listed += found["decisions"]
    found = {**found, "decisions": listed, "cursor": 0, "next_cursor": None}
    return show(found, args, _decisions_view)


VERBS: dict[str, Verb] = {
    "submit": _submit,
    "export": _export_verb,
    "status": _status,
    "cancel": _cancel,
    "audit": _audit,
    "replay": _replay,
    "decisions": _decisions,
}
