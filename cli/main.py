"""The `accord` command: `accord run` starts the whole service, `accord archive` moves old
declarations to the archive (both on the service's own Redis and files), `accord
simulate` answers what-if questions offline; the other verbs are an HTTP client of the
service (`--api`, `--token`, or ACCORD_API_URL and ACCORD_TOKEN).

Global options (`--api`, `--token`, `--json`) go before or after the verb, as users type
them: they are defined once, in `add_global_options`, and given to the top parser and to
every verb's parser. Every verb prints a human view (aligned tables) by default and JSON
with `--json`, through the one renderer of `cli.output`.

Exit codes: 0 done; 1 the API answered with an error (for submit: refused some
declarations, which are not stored); 2 bad usage or input (for submit: nothing sent);
3 the API could not be reached; 4 (submit --wait) some declaration was not accepted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from cli import language as cli_language
from cli import simulate as simulate_verb
from cli import webhooks as cli_webhooks
from cli.output import Block, CliError, Fields, View, amount, emit, generic, table_of
from settings import ConfigError, get_settings

DEFAULT_API = "http://127.0.0.1:8000"
BATCH = 1000  # the API's batch limit
EXIT_CODES = (
    "exit codes: 0 done; 1 the API answered with an error (submit: it refused some "
    "declarations); 2 bad usage, input or configuration (submit: nothing sent; run, check: refused before starting anything); 3 the API could not be "
    "reached; 4 (submit --wait) some declaration was not accepted"
)


class Client:
    def __init__(self, api: str, token: str | None, timeout: float = 40.0) -> None:
        if not token:
            raise CliError("no token: pass --token or set ACCORD_TOKEN", 2)
        self.http = httpx.Client(
            base_url=api.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
        )

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise CliError(f"cannot reach the API at {self.http.base_url}: {exc}", 3) from exc

    def text(self, method: str, path: str, **kwargs: Any) -> str:
        response = self._send(method, path, **kwargs)
        if response.status_code >= 400:
            raise CliError(_describe_error(response.status_code, _body(response)), 1)
        return response.text

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._send(method, path, **kwargs)
        body = _body(response)
        if response.status_code >= 400:
            raise CliError(_describe_error(response.status_code, body), 1)
        return body


def _body(response: httpx.Response) -> Any:
    # amounts come as decimal strings and stay strings: printed as the API wrote them
    try:
        return response.json()
    except ValueError:
        return {"error": response.text}


def _instant(value: str, end: bool = False) -> str:
    """A bare date means its whole day (in UTC); `today` is today's date in UTC."""
    if value == "today":
        value = datetime.now(UTC).date().isoformat()
    if len(value) == 10:
        return f"{value}T23:59:59.999999+00:00" if end else f"{value}T00:00:00+00:00"
    return value


def _describe_error(status: int, body: Any) -> str:
    """The API's error in its own words: `error`, then the sentence of `detail` (its
    `message`, or each invalid field on a line of its own), then the status."""
    if not isinstance(body, dict):
        return f"{body} (HTTP {status})"
    text = str(body.get("error"))
    detail = body.get("detail")
    if isinstance(detail, list):
        listed = "".join(f"\n  {item.get('field')}: {item.get('message')}" for item in detail)
        return f"{text} (HTTP {status}){listed}"
    if isinstance(detail, dict):
        detail = detail.get("message") or ", ".join(f"{k} {v}" for k, v in detail.items())
    return f"{text}: {detail} (HTTP {status})" if detail else f"{text} (HTTP {status})"


# --- the parser ---------------------------------------------------------------------------


def add_global_options(parser: argparse.ArgumentParser, *, top: bool = False) -> None:
    """The options every verb takes, before or after it. Only the top parser has their
    defaults: a verb's parser leaves an option it was not given unset (SUPPRESS), so that
    `accord --json status X` keeps the --json given before the verb."""

    def default(value: Any) -> Any:
        return value if top else argparse.SUPPRESS

    group = parser.add_argument_group("global options (before or after the verb)")
    group.add_argument(
        "--api",
        metavar="URL",
        default=default(os.environ.get("ACCORD_API_URL", DEFAULT_API)),
        help=f"the service (ACCORD_API_URL; default {DEFAULT_API})",
    )
    group.add_argument(
        "--token", default=default(os.environ.get("ACCORD_TOKEN")), help="(ACCORD_TOKEN)"
    )
    group.add_argument(
        "--json", action="store_true", default=default(False), help="JSON instead of tables"
    )
    cli_language.add_option(group, top=top)


def _verb(
    verbs: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help_text: str,
    **kwargs: Any,
) -> argparse.ArgumentParser:
    """A verb's parser, with the global options like every other."""
    parser = verbs.add_parser(
        name, help=help_text, description=kwargs.pop("description", help_text), **kwargs
    )
    add_global_options(parser)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The whole command line, every verb; the README's commands are checked against it."""
    from cli.declaration_files import csv_columns_help

    parser = argparse.ArgumentParser(
        prog="accord", description=__doc__.split("\n\n")[0], epilog=EXIT_CODES
    )
    add_global_options(parser, top=True)
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    run_p = _verb(verbs, "run", "start Redis, workers and the API")
    run_p.add_argument("--host", default="127.0.0.1")
    run_p.add_argument("--port", type=int, default=8000)
    run_p.add_argument("--workers", type=int, default=2)

    check_p = _verb(
        verbs,
        "check",
        "check the configuration as accord run does, start nothing, and exit",
        description=(
            "Every check accord run makes before it starts anything: the rule packs and "
            "arrangement files, the tokens file, the settings, that Redis (REDIS_URL) takes "
            "writes, and with --port that the port is free. Exit 0 when all pass; 2 with one "
            "line naming the file and key or the setting otherwise. For CI and deploy scripts."
        ),
    )
    check_p.add_argument("--host", default="127.0.0.1")
    check_p.add_argument("--port", type=int, help="also check that this port is free")

    archive_p = _verb(
        verbs, "archive", "move declarations closed long ago from Redis to the archive files"
    )
    archive_p.add_argument(
        "--older-than", type=int, metavar="DAYS", help="default ACCORD_RETAIN_DAYS (400)"
    )

    submit_p = _verb(
        verbs,
        "submit",
        "submit declarations from JSON, JSON Lines or CSV (CAD layout)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "FILE is JSON (one declaration or a list) or JSON Lines when it starts with '{'\n"
            "or '[', otherwise CSV in the CAD layout: a header row, then one row per\n"
            "declaration line (',' between cells, or ';' or tab if the header uses them);\n"
            "the declaration's own columns repeat on each of its rows.\n"
            "Columns (B3 field number in brackets; headers match in any case or spacing):\n"
            f"{csv_columns_help()}\n\n"
            "Every declaration is checked before any is sent: one bad row or field and\n"
            "nothing is submitted (exit 2), with every problem named by row and column."
        ),
    )
    submit_p.add_argument("file", metavar="FILE", help="a file, or - for standard input")
    submit_p.add_argument("--wait", action="store_true", help="wait for every verdict")

    for name, help_text in (
        ("status", "status and verdict of a declaration"),
        ("cancel", "cancel a declaration"),
    ):
        _verb(verbs, name, help_text).add_argument("declaration_id")
    audit_p = _verb(verbs, "audit", "audit trail of a declaration")
    audit_p.add_argument("declaration_id")
    audit_p.add_argument("--verify", action="store_true", help="exit 1 unless the chain verifies")
    quotas_p = _verb(verbs, "quotas", "quota balances")
    quotas_p.add_argument("quota_id", nargs="?")
    quotas_p.add_argument("--as-of", metavar="DATE")
    measures_p = _verb(verbs, "measures", "measures in force")
    measures_p.add_argument("--as-of", metavar="DATE")
    measures_p.add_argument(
        "--checks", action="store_true", help="with their WTO and notification checks"
    )
    decisions_p = _verb(verbs, "decisions", "every decision of one rule")
    decisions_p.add_argument("--rule", required=True)
    replay_p = _verb(verbs, "replay", "decide a declaration again and show the differences")
    replay_p.add_argument("declaration_id")
    replay_p.add_argument("--pack", dest="pack_version", help="another pack version, e.g. 2026.2")
    export_p = _verb(
        verbs,
        "export",
        "verdicts and audit trails of the declarations decided in a time range, as JSONL",
        description=(
            "Verdicts and audit trails of the declarations Accord decided in a time range: "
            "the range is of decision times, not of acceptance dates. The export is JSON "
            "Lines whatever the output options: to standard output as it is; with -o FILE, "
            "written there and a summary printed (a table, or JSON with --json)."
        ),
    )
    export_p.add_argument(
        "--from", dest="start", required=True,
        help="decided from: RFC 3339 with offset, YYYY-MM-DD (from its start, UTC) or today",
    )  # fmt: skip
    export_p.add_argument(
        "--to", dest="end", default=None,
        help="decided until: RFC 3339 with offset, YYYY-MM-DD (to its end, UTC) or today; "
        "default now",
    )  # fmt: skip
    export_p.add_argument("--output", "-o", default="-", help="a file, or - for standard output")

    simulate_p = _verb(
        verbs,
        "simulate",
        "what-if: replay declarations through the ledger on a private Redis (no server)",
        description=simulate_verb.DESCRIPTION,
        epilog=simulate_verb.EPILOG,
    )
    simulate_verb.add_arguments(simulate_p)

    permits_p = _verb(verbs, "permits", "import permits")
    permit_verbs = permits_p.add_subparsers(dest="permit_verb", required=True, metavar="VERB")
    apply_p = _verb(
        permit_verbs, "apply", "apply for a permit: issued (units drawn), pending, or refused"
    )
    for flag in ("--business-number", "--measure"):
        apply_p.add_argument(flag, required=True)
    apply_p.add_argument("--quantity", type=int, required=True)
    for flag in ("--number", "--issued-on", "--expires-on", "--sub-quota"):
        apply_p.add_argument(flag)
    _verb(permit_verbs, "show", "a permit: status, units held, use").add_argument("number")
    _verb(permit_verbs, "cancel", "cancel an unused permit").add_argument("number")

    rates_p = _verb(verbs, "rates", "exchange rates: load them, read the one of a date")
    rate_verbs = rates_p.add_subparsers(dest="rates_verb", required=True, metavar="VERB")
    _verb(
        rate_verbs,
        "import",
        "load a Bank of Canada Valet JSON file (or China's monthly customs rates); admin",
    ).add_argument("file", metavar="FILE", help="a file, or - for standard input")
    show_p = _verb(rate_verbs, "show", "the rate that applies on a date, its date and source")
    show_p.add_argument("--currency", required=True, help="ISO 4217, e.g. USD")
    show_p.add_argument("--on", required=True, metavar="DATE", help="the conversion date")
    show_p.add_argument("--into", default="CAD", help="CAD (default) or CNY")
    cli_webhooks.add_verbs(verbs, _verb)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(arguments)
    except SystemExit as exc:  # usage errors and --help: argparse has printed why
        return exc.code if isinstance(exc.code, int) else 2
    cli_language.use(args.lang)
    try:
        return _dispatch(args)
    except CliError as exc:
        print(f"accord: {cli_language.message(args.lang, str(exc))}", file=sys.stderr)
        return exc.code
    except FileNotFoundError as exc:
        print(f"accord: {exc}", file=sys.stderr)
        return 2
    except ConfigError as exc:  # a setting read from the environment
        print(f"accord: {exc}", file=sys.stderr)
        return 2


# --- the verbs --------------------------------------------------------------------------------


def check(args: argparse.Namespace) -> int:
    from cli import preflight

    try:
        found = preflight.run_checks(get_settings(), args.host, args.port)
    except preflight.Refused as exc:
        print(f"accord: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"ok": True, "checks": found}))
    else:
        print("\n".join(found))
        print("configuration ok")
    return 0


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


def archive(older_than: int | None, as_json: bool) -> int:
    """`accord archive`: on the service's Redis (REDIS_URL, or the embedded one `accord run`
    started from this directory) and ACCORD_ARCHIVE_DIR."""
    from store import RedisStore, StoreError, running_url
    from workers.retention import run_archive

    settings = get_settings()
    redis_url = settings.redis_url or running_url(settings.embedded_redis_dir)
    if not redis_url:
        raise CliError(
            "REDIS_URL is not set and no embedded Redis is running here: archive needs the "
            "service's Redis",
            2,
        )
    audit_key = settings.audit_key
    if audit_key is None and settings.audit_key_file.exists():
        audit_key = settings.audit_key_file.read_text().strip().encode()
    if older_than is not None and older_than < 0:
        raise CliError("--older-than must be 0 or more days", 2)
    store = RedisStore.from_url(
        redis_url, settings.redis_prefix, timeout=30.0, audit_key=audit_key,
        archive_dir=settings.archive_dir,
    )  # fmt: skip
    try:
        run = run_archive(store, settings, older_than, wait=60.0)
    except StoreError as exc:
        raise CliError(str(exc), 1) from exc
    finally:
        store.close()
    report = {
        "scanned": run.scanned, "archived": run.archived, "already_archived": run.already,
        "kept": run.kept, "files": list(run.files), "archive_dir": str(settings.archive_dir),
    }  # fmt: skip
    emit(report, as_json)
    return 0


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


def _show(body: Any, args: argparse.Namespace, view: View = generic) -> int:
    emit(body, args.json, view)
    return 0


def _dispatch(args: argparse.Namespace) -> int:
    if args.verb == "run":
        from cli.runner import run

        return run(get_settings(), args.host, args.port, args.workers)
    if args.verb == "check":
        return check(args)
    if args.verb == "simulate":
        return simulate_verb.run(args)
    if args.verb == "archive":
        return archive(args.older_than, args.json)
    client = Client(args.api, args.token)
    client.http.headers["Accept-Language"] = args.lang  # the service's words in it too
    try:
        return _call(client, args)
    finally:
        client.http.close()


def _call(client: Client, args: argparse.Namespace) -> int:
    """A verb that is a client of the service."""
    if args.verb == "submit":
        return submit(client, args.file, args.wait, args.json)
    if args.verb == "export":
        return _export(client, args.start, args.end, args.output, args.json)
    if args.verb == "status":
        return _show(client.call("GET", f"/v1/declarations/{args.declaration_id}"), args,
                     _status_view)  # fmt: skip
    if args.verb == "cancel":
        cancelled = client.call("POST", f"/v1/declarations/{args.declaration_id}/cancel")
        return _show(cancelled, args, _status_view)
    if args.verb == "audit":
        trail = client.call("GET", f"/v1/declarations/{args.declaration_id}/audit")
        _show(trail, args, _audit_view)
        if args.verify and not trail["verified"]:
            said = cli_language.message(
                args.lang, f"audit trail does not verify: {trail['problem']}"
            )
            print(f"accord: {said}", file=sys.stderr)
            return 1
        return 0
    if args.verb == "quotas":
        params = {"as_of": args.as_of} if args.as_of else {}
        path = f"/v1/quotas/{args.quota_id}" if args.quota_id else "/v1/quotas"
        return _show(client.call("GET", path, params=params), args, _quotas_view)
    if args.verb == "measures":
        params = {"as_of": args.as_of} if args.as_of else {}
        body = client.call("GET", "/v1/measures", params=params)
        if args.checks:
            for measure in body["measures"]:
                measure["checks"] = client.call(
                    "GET", f"/v1/measures/{measure['id']}/checks", params=params
                )["findings"]
        return _show(body, args, _measures_view)
    if args.verb == "replay":
        body = {"declaration_id": args.declaration_id, "pack_version": args.pack_version}
        return _show(client.call("POST", "/v1/replay", json=body), args, _replay_view)
    if args.verb == "decisions":
        found = client.call("GET", "/v1/decisions", params={"rule": args.rule})
        listed = list(found["decisions"])
        while found.get("next_cursor") is not None:  # every page: the CLI lists them all
            params = {"rule": args.rule, "cursor": found["next_cursor"]}
            found = client.call("GET", "/v1/decisions", params=params)
            listed += found["decisions"]
        found = {**found, "decisions": listed, "cursor": 0, "next_cursor": None}
        return _show(found, args, _decisions_view)
    if args.verb == "webhooks":
        return cli_webhooks.run(client.call, args)
    if args.verb == "rates":
        return _rates(client, args)
    return _permits(client, args)


def _rates(client: Client, args: argparse.Namespace) -> int:
    if args.rates_verb == "import":
        content = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
        loaded = client.call(
            "POST", "/v1/exchange-rates", content=content,
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        return _show(loaded, args)
    params = {"currency": args.currency, "on": args.on, "into": args.into}
    return _show(client.call("GET", "/v1/exchange-rates", params=params), args)


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
        return _show(client.call("POST", "/v1/permits", json=application), args)
    if args.permit_verb == "cancel":
        return _show(client.call("POST", f"/v1/permits/{args.number}/cancel"), args)
    return _show(client.call("GET", f"/v1/permits/{args.number}"), args)


if __name__ == "__main__":
    raise SystemExit(main())
