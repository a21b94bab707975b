"""`make bench`: run every benchmark, print a table, write bench/results.json.

Figures are ratios against baselines measured in the same run on the same machine
(durable-rules' raw rate, hand-written Python, a no-op Celery task), so they compare
across machines; absolute rates are printed alongside."""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import (
    RESULTS_FILE,
    e2e_bench,
    engine_bench,
    ledger_bench,
    readme,
    retention_bench,
    rush_bench,
)


def _machine() -> dict[str, Any]:
    cpu = "unknown"
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        rows = []
        for key, item in value.items():
            rows.extend(_flatten(item, f"{prefix}.{key}" if prefix else key))
        return rows
    return [(prefix, value)]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="smaller runs, for a smoke test")
    parser.add_argument(
        "--only",
        choices=("e2e", "rush", "redis"),
        help="run one part and print it, leaving bench/results.json alone (a partial run "
        "must not replace the figures of a whole one)",
    )
    parser.add_argument(
        "--e2e-parts",
        default=",".join(e2e_bench.PARTS),
        help=f"with --only e2e, which of {', '.join(e2e_bench.PARTS)} to run (comma-separated)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="with --only e2e, profile the API and the workers with py-spy into this directory",
    )
    args = parser.parse_args()
    started = time.monotonic()
    sizes = (
        {"single": 500, "batch": 1000, "noop": 1000, "memory_total": 20_000, "scaling_count": 500}
        if args.quick
        else {}
    )
    if args.only == "e2e":
        parts = tuple(part for part in args.e2e_parts.split(",") if part)
        unknown = set(parts) - set(e2e_bench.PARTS)
        if unknown:
            parser.error(f"--e2e-parts: unknown {', '.join(sorted(unknown))}")
        _print(e2e_bench.run(**sizes, parts=parts, profile=args.profile))
        return
    if args.only == "rush":
        _print({"ledger": rush_bench.run()})
        return
    if args.only == "redis":
        with tempfile.TemporaryDirectory(prefix="accord-bench-") as tmp:
            _print({"redis": retention_bench.run(Path(tmp), 5_000 if args.quick else 50_000)})
        return
    results: dict[str, Any] = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "engine": engine_bench.run(),
        "ledger": {**ledger_bench.run(), **rush_bench.run()},
    }
    results.update(e2e_bench.run(**sizes))
    with tempfile.TemporaryDirectory(prefix="accord-bench-") as tmp:
        results["redis"] = retention_bench.run(Path(tmp), 5_000 if args.quick else 50_000)
    results["seconds"] = round(time.monotonic() - started, 1)
    RESULTS_FILE.write_text(json.dumps(results, indent=2) + "\n")
    readme.update()
    _print(results)
    print(f"\nwritten to {RESULTS_FILE}, and the README's table from it")


def _print(results: dict[str, Any]) -> None:
    width = max(len(key) for key, _ in _flatten(results))
    for key, value in _flatten(results):
        print(f"{key.ljust(width)}  {value}")


if __name__ == "__main__":
    main()
