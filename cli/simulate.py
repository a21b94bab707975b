"""`accord simulate [FILE] [--pack PATH …] [--set KEY=VALUE …] [--chart PNG] [--json]`:
the what-if simulator's command line, one verb of `accord` (its arguments are added to
the `accord` parser here, so global options such as --json go before or after it). It
reads declarations (JSON, JSON Lines or CAD CSV, as `accord submit` does; by default the
shipped example quota year, examples/ev-quota-year.jsonl), loads the rule packs (the
shipped current packs unless `--pack` names files), applies the quota overrides, runs
`workers.simulation.simulate` (the worker's pipeline and the ledger's own scripts on a
private embedded Redis) and prints one row per quota period (or the report as JSON),
and, when `--chart PATH` asks for it, draws the units in use in each period against its
volume into a PNG with matplotlib's Agg backend (without it, no file is written). No business logic here: reading, printing and drawing only.
The rules and the worker's pipeline are imported when the verb runs, not when `accord`
starts: every other verb would otherwise pay for loading them.
Exit codes: 0 done; 1 the private Redis could not start; 2 bad usage or input (file,
declaration, pack, --set).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rules.simulation import SimulationReport

# the repository's examples/ folder: a clone runs `accord simulate` with no file at all
EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
DEFAULT_STREAM = EXAMPLES_DIR / "ev-quota-year.jsonl"
DESCRIPTION = (
    "Replay declarations through the rules and the quota ledger's own scripts, on a "
    "private embedded Redis, under every draw point and allocation mode "
    "(--set quota.mode=daily_pro_rata, quota.drawn_at=declaration, ...). Commercial "
    "lines that need a permit apply for one on their acceptance date. A simulation "
    "has no allocation accounts: for an importer_allocation quota, each importer in "
    "the stream gets an equal share of the year's volume."
)
EPILOG = (
    "Assumptions: permits are applied for on the acceptance date, for the line's "
    "quantity, on the first sub-quota whose price limit the line meets; daily "
    "pro-rata runs happen before the first declaration of a later day; importer "
    "allocations are equal shares of each quota year's volume among the importers "
    "seen in the stream for it (the remainder one unit each to those seen first)."
)
_COLUMNS = ("quota", "period", "volume", "carried", "allocated", "utilisation", "fill date",
            "rejected units", "over quota")  # fmt: skip
_VERDICTS = ("accepted", "rejected", "held")


class SimulateError(Exception):
    """Bad input: the message says which file, line, pack or key."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The verb's own arguments, on the parser `accord` gives it."""
    parser.add_argument(
        "file",
        metavar="FILE",
        nargs="?",
        default=str(DEFAULT_STREAM),
        help=(
            "declarations: JSON, JSON Lines or CAD CSV (as for accord submit); - for stdin; "
            "default: the example quota year, examples/ev-quota-year.jsonl"
        ),
    )
    parser.add_argument(
        "--pack",
        action="append",
        default=[],
        metavar="PATH",
        help="a rule pack file (repeatable); default: the shipped current packs",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        dest="overrides",
        metavar="KEY=VALUE",
        help=(
            "a quota parameter, e.g. quota.growth=10%%, quota.mode=daily_pro_rata or "
            "MEASURE:quota.base_volume=60000"
        ),
    )
    parser.add_argument(
        "--chart",
        metavar="PNG",
        help="draw each period's units in use against its volume into this PNG file",
    )


def run(args: argparse.Namespace) -> int:
    """The verb, on the arguments `accord`'s parser read."""
    from cli.output import emit
    from rules.errors import PackError
    from rules.simulation import OverrideError, apply_overrides_to_packs
    from workers.simulation import simulate

    try:
        overrides = _overrides(args.overrides)
        packs = apply_overrides_to_packs(_pack_texts(args.pack), overrides)
        declarations = _read_declarations(args.file)
    except (SimulateError, OverrideError, PackError) as exc:
        print(f"accord simulate: {exc}", file=sys.stderr)
        return 2
    try:
        report = simulate(declarations, packs)
    except (RuntimeError, OSError) as exc:  # the embedded redis-server did not start
        print(f"accord simulate: cannot run the private Redis: {exc}", file=sys.stderr)
        return 1
    body = report.as_json()
    shown = blocks(report)
    if args.chart:
        try:
            write_chart(report, Path(args.chart))
        except OSError as exc:
            print(f"accord simulate: cannot write the chart {args.chart}: {exc}", file=sys.stderr)
            return 2
        body["chart"] = args.chart
        shown.append(f"chart: {args.chart}")
    emit(body, args.json, lambda _: shown)
    return 0


def _overrides(items: Sequence[str]) -> dict[str, str]:
    overrides: dict[str, str] = {}
    for item in items:
        key, equals, value = item.partition("=")
        if not equals or not key.strip() or not value.strip():
            raise SimulateError(f"--set {item!r}: expected KEY=VALUE, e.g. quota.growth=10%")
        overrides[key.strip()] = value.strip()
    return overrides


def _pack_texts(paths: Sequence[str]) -> list[tuple[bytes, str]]:
    from rules.catalog import load_catalog

    if not paths:
        return [(Path(pack.path).read_bytes(), pack.path) for pack in load_catalog().current]
    texts = []
    for path in paths:
        try:
            texts.append((Path(path).read_bytes(), path))
        except OSError as exc:
            raise SimulateError(f"--pack {path}: {exc.strerror or exc}") from None
    return texts


def _read_declarations(source: str) -> list[Any]:
    """Every declaration of the file, validated before the simulation starts, so that a
    bad one stops it with its place and field named rather than half-way."""
    from cli.declaration_files import DeclarationFileError, read

    try:
        return [declaration for _, declaration in read(source)]
    except DeclarationFileError as exc:
        raise SimulateError(str(exc)) from None


def blocks(report: SimulationReport) -> list[Any]:
    """One row per quota period, then the verdicts' outcomes (for the one renderer)."""
    from cli.output import Table
    from rules.simulation import percent_text

    rows = [
        [
            period.quota_id,
            f"{period.start}..{period.end}",
            period.volume,
            period.carried_over,
            period.allocated,
            percent_text(period.utilisation),
            period.fill_date,
            period.rejected_units,
            period.over_quota_units,
        ]
        for period in report.periods
    ]
    outcomes = report.outcomes
    summary = (
        f"declarations: {report.declarations} (accepted {outcomes['accepted']}, "
        f"rejected {outcomes['rejected']}, held {outcomes['held']}"
    )
    others = [f"{name} {count}" for name, count in outcomes.items() if name not in _VERDICTS]
    summary += "".join(f", {item}" for item in others) + ")"
    if report.duplicates:
        summary += f"; {report.duplicates} repeated ids ignored"
    return [Table(_COLUMNS, rows, empty="(no declaration reached a quota)"), summary]


def write_chart(report: SimulationReport, path: Path) -> None:
    """Units in use so far in each period (drawn less returned), as steps over the ledger
    dates, with the period's volume (carried units included) as a dashed line over the
    period's dates."""
    # imported here: matplotlib is slow to import and only this verb draws
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 5.5), layout="constrained")
    FigureCanvasAgg(figure)  # Agg, whatever backend the environment would pick
    axes = figure.add_subplot()
    last_day = max(
        (day for period in report.periods for day, _ in period.timeline),
        default=None,
    )
    for number, period in enumerate(report.periods):
        color = f"C{number % 10}"
        label = f"{period.quota_id} {period.start}..{period.end}"
        horizon = min(period.end, max(last_day or period.start, period.start))
        # datetime64 days: matplotlib plots them as dates, and numpy's types satisfy mypy
        days = np.array(
            [period.start, *(day for day, _ in period.timeline), horizon], dtype="datetime64[D]"
        )
        units = [0, *(allocated for _, allocated in period.timeline)]
        units.append(units[-1])
        axes.step(days, units, where="post", color=color, label=label)
        axes.hlines(
            period.available,
            np.datetime64(period.start, "D"),
            np.datetime64(period.end, "D"),
            colors=color,
            linestyles="dashed",
        )
        if period.fill_date is not None:
            axes.plot(
                np.array([period.fill_date], dtype="datetime64[D]"),
                [period.net_used],
                marker="o",
                color=color,
            )
    axes.set_title("Quota periods: units in use (steps) against volume (dashed)")
    axes.set_xlabel("ledger date (acceptance or permit issue)")
    axes.set_ylabel("units in use in the period")
    if report.periods:
        # below the axes, never over the steps it explains
        figure.legend(loc="outside lower center", ncols=min(len(report.periods), 3),
                      fontsize="small", frameon=False)  # fmt: skip
        figure.autofmt_xdate()
    else:
        axes.text(0.5, 0.5, "no declaration reached a quota", ha="center", transform=axes.transAxes)
    figure.savefig(path, format="png")
