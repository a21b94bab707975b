"""The `accord` command: `accord run` starts the whole service and `accord archive` moves
old declarations to the archive (both on the service's own Redis and files); the other
verbs are an HTTP client of it (`--api`, `--token`, or ACCORD_API_URL and ACCORD_TOKEN).

Exit codes: 0 done; 1 the API answered with an error; 2 bad usage or input;
3 the API could not be reached; 4 (submit --wait) some declaration was not accepted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

from settings import get_settings


class CliError(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class Client:
    def __init__(self, api: str, token: str | None, timeout: float = 40.0) -> None:
        if not token:
            raise CliError("no token: pass --token or set ACCORD_TOKEN", 2)
        self.http = httpx.Client(
            base_url=api.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
        )

    def text(self, method: str, path: str, **kwargs: Any) -> str:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise CliError(f"cannot reach the API at {self.http.base_url}: {exc}", 3) from exc
        if response.status_code >= 400:
            raise CliError(_describe_error(response.status_code, response.json()), 1)
        return response.text

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise CliError(f"cannot reach the API at {self.http.base_url}: {exc}", 3) from exc
        try:
            body = response.json()
        except ValueError:
            body = {"error": response.text}
        if response.status_code >= 400:
            raise CliError(_describe_error(response.status_code, body), 1)
        return body


def _instant(value: str, end: bool = False) -> str:
    """A bare date means its whole day (in UTC)."""
    if len(value) == 10:
        return f"{value}T23:59:59.999999+00:00" if end else f"{value}T00:00:00+00:00"
    return value


def _describe_error(status: int, body: Any) -> str:
    if not isinstance(body, dict):
        return f"HTTP {status}: {body}"
    text = f"HTTP {status}: {body.get('error')}"
    detail = body.get("detail")
    if isinstance(detail, list):
        text += "".join(f"\n  {item.get('field')}: {item.get('message')}" for item in detail)
    elif detail:
        text += f" ({detail})"
    return text


def _read_declarations(source: str) -> Iterator[Any]:
    """JSON (one declaration or a list) or JSONL, from a file or `-` for standard input."""
    text = sys.stdin.read() if source == "-" else Path(source).read_text()
    stripped = text.strip()
    if not stripped:
        return
    try:
        whole = json.loads(stripped)
    except json.JSONDecodeError:
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise CliError(f"{source}, line {number}: not JSON: {exc}", 2) from None
        return
    yield from whole if isinstance(whole, list) else [whole]


def _print(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def _progress(done: int, total: int) -> None:
    if not sys.stderr.isatty() and done not in (total,):
        return
    width = 30
    filled = width * done // max(total, 1)
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def submit(client: Client, source: str, wait: bool, as_json: bool) -> int:
    items = list(_read_declarations(source))
    results: list[dict[str, Any]] = []
    for start in range(0, len(items), 1000):
        chunk = items[start : start + 1000]
        body = client.call("POST", "/v1/declarations/batch", json={"declarations": chunk})
        results.extend(body["results"])
        _progress(len(results), len(items))
    rows = []
    for index, result in enumerate(results):
        row = {
            "declaration_id": result.get("declaration_id") or f"#{index + 1}",
            "status": result.get("status") or result.get("error"),
            "outcome": None,
            "total_duty": None,
        }
        if wait and result.get("declaration_id") and result.get("status_code", 500) < 300:
            verdict = client.call(
                "GET", f"/v1/declarations/{result['declaration_id']}", params={"wait": 30}
            )
            row.update(
                status=verdict["status"],
                outcome=verdict.get("outcome"),
                total_duty=verdict.get("total_duty"),
            )
            _progress(index + 1, len(results))
        rows.append(row)
    if as_json:
        _print(rows)
    else:
        _table(rows, ["declaration_id", "status", "outcome", "total_duty"])
        counts: dict[str, int] = {}
        for row in rows:
            key = row["outcome"] or row["status"] or "?"
            counts[key] = counts.get(key, 0) + 1
        print("  ".join(f"{name}: {count}" for name, count in sorted(counts.items())))
    invalid = any(result.get("status_code", 500) >= 400 for result in results)
    unaccepted = wait and any(row["outcome"] != "accepted" for row in rows)
    return 4 if unaccepted else 1 if invalid else 0


def _table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    widths = {
        column: max([len(column), *(len(str(row.get(column) or "")) for row in rows)])
        for column in columns
    }
    print("  ".join(column.ljust(widths[column]) for column in columns))
    for row in rows:
        print("  ".join(str(row.get(column) or "").ljust(widths[column]) for column in columns))


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["simulate"]:
        # its own parser, --help included (argparse would take --help for `accord` itself)
        from service.simulate import main as simulate

        return simulate(arguments[1:])
    parser = argparse.ArgumentParser(prog="accord", description=__doc__.split("\n\n")[0])
    parser.add_argument("--api", default=os.environ.get("ACCORD_API_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--token", default=os.environ.get("ACCORD_TOKEN"))
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    verbs = parser.add_subparsers(dest="verb", required=True)

    run_p = verbs.add_parser("run", help="start Redis, workers and the API")
    run_p.add_argument("--host", default="127.0.0.1")
    run_p.add_argument("--port", type=int, default=8000)
    run_p.add_argument("--workers", type=int, default=2)

    archive_p = verbs.add_parser(
        "archive", help="move declarations closed long ago from Redis to the archive files"
    )
    archive_p.add_argument(
        "--older-than", type=int, metavar="DAYS", help="default ACCORD_RETAIN_DAYS (400)"
    )

    submit_p = verbs.add_parser("submit", help="submit declarations from JSON or JSONL")
    submit_p.add_argument("file", help="a file, or - for standard input")
    submit_p.add_argument("--wait", action="store_true", help="wait for every verdict")

    for name, help_text in (
        ("status", "status and verdict of a declaration"),
        ("cancel", "cancel a declaration"),
    ):
        verbs.add_parser(name, help=help_text).add_argument("declaration_id")
    audit_p = verbs.add_parser("audit", help="audit trail of a declaration")
    audit_p.add_argument("declaration_id")
    audit_p.add_argument("--verify", action="store_true", help="exit 1 unless the chain verifies")
    quotas_p = verbs.add_parser("quotas", help="quota balances")
    quotas_p.add_argument("quota_id", nargs="?")
    quotas_p.add_argument("--as-of")
    measures_p = verbs.add_parser("measures", help="measures in force")
    measures_p.add_argument("--as-of")
    measures_p.add_argument(
        "--checks", action="store_true", help="with their WTO and notification checks"
    )
    decisions_p = verbs.add_parser("decisions", help="every decision of one rule")
    decisions_p.add_argument("--rule", required=True)
    replay_p = verbs.add_parser(
        "replay", help="decide a declaration again and show the differences"
    )
    replay_p.add_argument("declaration_id")
    replay_p.add_argument("--pack", dest="pack_version", help="another pack version, e.g. 2026.2")
    export_p = verbs.add_parser(
        "export", help="verdicts and audit trails of a time range, as JSONL"
    )
    export_p.add_argument("--from", dest="start", required=True, help="RFC 3339 or YYYY-MM-DD")
    export_p.add_argument("--to", dest="end", required=True, help="RFC 3339 or YYYY-MM-DD")
    export_p.add_argument("--output", "-o", default="-", help="a file, or - for standard output")
    simulate_p = verbs.add_parser(
        "simulate",
        help="what-if: replay a JSONL stream through the ledger on a private Redis",
        add_help=False,
    )
    simulate_p.add_argument("rest", nargs=argparse.REMAINDER)
    permits_p = verbs.add_parser("permits", help="import permits")
    permit_verbs = permits_p.add_subparsers(dest="permit_verb", required=True)
    apply_p = permit_verbs.add_parser(
        "apply", help="apply for a permit: issued (units drawn), pending, or refused"
    )
    for flag in ("--business-number", "--measure"):
        apply_p.add_argument(flag, required=True)
    apply_p.add_argument("--quantity", type=int, required=True)
    for flag in ("--number", "--issued-on", "--expires-on", "--sub-quota"):
        apply_p.add_argument(flag)
    show_p = permit_verbs.add_parser("show", help="a permit: status, units held, use")
    show_p.add_argument("number")
    cancel_p = permit_verbs.add_parser("cancel", help="cancel an unused permit")
    cancel_p.add_argument("number")

    args = parser.parse_args(arguments)
    try:
        return _dispatch(args)
    except CliError as exc:
        print(f"accord: {exc}", file=sys.stderr)
        return exc.code
    except FileNotFoundError as exc:
        print(f"accord: {exc}", file=sys.stderr)
        return 2


def archive(older_than: int | None, as_json: bool) -> int:
    """`accord archive`: on the service's Redis (REDIS_URL) and ACCORD_ARCHIVE_DIR."""
    from service.retention import run_archive
    from store.errors import StoreError
    from store.redis_store import RedisStore

    settings = get_settings()
    if not settings.redis_url:
        raise CliError("REDIS_URL is not set: archive needs the service's Redis", 2)
    if older_than is not None and older_than < 0:
        raise CliError("--older-than must be 0 or more days", 2)
    store = RedisStore.from_url(
        settings.redis_url, settings.redis_prefix, timeout=30.0, audit_key=settings.audit_key,
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
    if as_json:
        _print(report)
    else:
        print(
            f"archived {run.archived} declarations ({run.already} found archived already, "
            f"{run.kept} not closed long enough) of {run.scanned} scanned, "
            f"in {len(run.files)} files under {settings.archive_dir}"
        )
    return 0


def _dispatch(args: argparse.Namespace) -> int:
    if args.verb == "run":
        from service.runner import run

        return run(get_settings(), args.host, args.port, args.workers)
    if args.verb == "simulate":
        from service.simulate import main as simulate

        return simulate(args.rest)
    if args.verb == "archive":
        return archive(args.older_than, args.json)
    client = Client(args.api, args.token)
    if args.verb == "submit":
        return submit(client, args.file, args.wait, args.json)
    if args.verb == "status":
        _print(client.call("GET", f"/v1/declarations/{args.declaration_id}"))
    elif args.verb == "cancel":
        _print(client.call("POST", f"/v1/declarations/{args.declaration_id}/cancel"))
    elif args.verb == "audit":
        trail = client.call("GET", f"/v1/declarations/{args.declaration_id}/audit")
        _print(trail)
        if args.verify and not trail["verified"]:
            print(f"accord: audit trail does not verify: {trail['problem']}", file=sys.stderr)
            return 1
    elif args.verb == "quotas":
        params = {"as_of": args.as_of} if args.as_of else {}
        path = f"/v1/quotas/{args.quota_id}" if args.quota_id else "/v1/quotas"
        _print(client.call("GET", path, params=params))
    elif args.verb == "measures":
        params = {"as_of": args.as_of} if args.as_of else {}
        body = client.call("GET", "/v1/measures", params=params)
        if args.checks:
            for measure in body["measures"]:
                measure["checks"] = client.call(
                    "GET", f"/v1/measures/{measure['id']}/checks", params=params
                )["findings"]
        _print(body)
    elif args.verb == "replay":
        body = {"declaration_id": args.declaration_id, "pack_version": args.pack_version}
        result = client.call("POST", "/v1/replay", json=body)
        if args.json:
            _print(result)
        else:
            _print(result["differences"])
            print(f"{len(result['differences'])} differences", file=sys.stderr)
    elif args.verb == "export":
        params = {"from": _instant(args.start), "to": _instant(args.end, end=True)}
        text = client.text("GET", "/v1/export", params=params)
        if args.output == "-":
            sys.stdout.write(text)
        else:
            Path(args.output).write_text(text)
    elif args.verb == "decisions":
        found = client.call("GET", "/v1/decisions", params={"rule": args.rule})
        if args.json:
            _print(found)
        else:
            print(f"{args.rule}: {len(found['decisions'])} decisions")
            _table(
                found["decisions"],
                ["declaration_id", "line", "severity", "outcome", "pack_version", "at"],
            )
    elif args.verb == "permits" and args.permit_verb == "apply":
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
        _print(client.call("POST", "/v1/permits", json=application))
    elif args.verb == "permits" and args.permit_verb == "cancel":
        _print(client.call("POST", f"/v1/permits/{args.number}/cancel"))
    elif args.verb == "permits":
        _print(client.call("GET", f"/v1/permits/{args.number}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
