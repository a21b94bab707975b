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
import os
import sys
from collections.abc import Sequence
from typing import Any

from cli import language as cli_language
from cli import simulate as simulate_verb
from cli import verbs_declarations, verbs_operations, verbs_quotas
from cli import webhooks as cli_webhooks
from cli.client import Client, Verb
from cli.output import CliError
from settings import ConfigError, get_settings

DEFAULT_API = "http://127.0.0.1:8000"
EXIT_CODES = (
    "exit codes: 0 done; 1 the API answered with an error (submit: it refused some "
    "declarations); 2 bad usage, input or configuration (submit: nothing sent; run, check: refused before starting anything); 3 the API could not be "
    "reached; 4 (submit --wait) some declaration was not accepted"
)


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


# the verbs that are a client of the service, each in the module of its resource
CLIENT_VERBS: dict[str, Verb] = {**verbs_declarations.VERBS, **verbs_quotas.VERBS}


def _dispatch(args: argparse.Namespace) -> int:
    if args.verb == "run":
        from cli.runner import run

        return run(get_settings(), args.host, args.port, args.workers)
    if args.verb == "check":
        return verbs_operations.check(args)
    if args.verb == "simulate":
        return simulate_verb.run(args)
    if args.verb == "archive":
        return verbs_operations.archive(args.older_than, args.json)
    client = Client(args.api, args.token)
    client.http.headers["Accept-Language"] = args.lang  # the service's words in it too
    try:
        if args.verb == "webhooks":
            return cli_webhooks.run(client.call, args)
        return CLIENT_VERBS[args.verb](client, args)
    finally:
        client.http.close()


if __name__ == "__main__":
    raise SystemExit(main())
