"""The README's performance table, built from bench/results.json: the figures live in the
results file only, and the table between the README's `bench-table` markers is written
from it (`python -m bench.readme`, which `make bench` runs after a whole run).
tests/bench/test_readme_table.py fails when the two disagree."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bench import RESULTS_FILE

README = Path(__file__).resolve().parent.parent / "README.md"
BEGIN = "<!-- bench-table: written by `python -m bench.readme` from bench/results.json -->"
END = "<!-- /bench-table -->"


def _n(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def _settled_rows(
    single: dict[str, Any], batch: dict[str, Any], scaling: dict[str, Any], latency: dict[str, Any]
) -> list[tuple[str, str, str, str]]:
    """Per end-to-end part: declarations the sweeper had to enqueue again (their first
    task never decided them) and the slowest decision. Results of runs before these were
    recorded have none, and show no row."""
    parts = [
        ("single", single.get("settled")),
        ("batch", batch.get("settled")),
        ("half load", latency.get("settled_half_load")),
        ("400 waiters", latency.get("settled_400_waiters")),
        *((f"scaling {key}", value) for key, value in scaling.get("settled", {}).items()),
    ]
    found = [(name, value) for name, value in parts if value]
    if not found:
        return []
    return [
        (
            "decided by the sweeper (`decided_by_sweeper`), slowest decision "
            "(`max_decision_s`), per part",
            "; ".join(
                f"{name}: {value['decided_by_sweeper']}, {value['max_decision_s']} s"
                # enqueued again by the watch for lost tasks (workers/schedule.py), if any
                + (f" ({value['requeued_lost']} lost)" if value.get("requeued_lost") else "")
                for name, value in found
            ),
            "",
            "",
        )
    ]


def _rush_rows(ledger: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """The permit rush (`ledger.rush_*`). Results of runs before it was measured have
    none, and show no row."""
    if "rush_p99_ms_400" not in ledger:
        return []
    return [
        (
            f"permit rush: {ledger['rush_applicants']} importers apply at once over HTTP, "
            f"{ledger['rush_units_each']} vehicles each (`ledger.rush_*`)",
            f"p50 {_n(ledger['rush_p50_ms'])} ms, p99 {_n(ledger['rush_p99_ms_400'])} ms, "
            f"at {_n(ledger['rush_per_s'])}/s",
            "the same clients on an authenticated route that only answers (`GET /v1/whoami`): "
            f"{_n(ledger['rush_echo_per_s'])}/s, p99 {_n(ledger['rush_echo_p99_ms'])} ms",
            f"{ledger['rush_vs_echo']:.2f}",
        ),
        (
            "units issued in the rush, of what the period held; applications refused",
            f"{_n(ledger['rush_units_issued'])} of {_n(ledger['rush_units_held'])} "
            f"({_n(ledger['rush_permits_issued'])} permits); "
            f"{_n(ledger['rush_refusals'])} refused with 0 left",
            "",
            "",
        ),
    ]


def table(results: dict[str, Any]) -> str:
    engine, ledger, e2e = results["engine"], results["ledger"], results["e2e"]
    latency, memory, redis = results["latency"], results["memory"], results["redis"]
    single, batch, scaling = e2e["single"], e2e["batch"], e2e["scaling"]
    year = redis["memory_year"]
    rates, ratios = scaling["declarations_per_s"], scaling["vs_one_worker"]
    workers = sorted(rates, key=int)
    rows = [
        ("figure", "value", "baseline in the same run", "ratio"),
        ("---", "---", "---", "---"),
        (
            "engine, shipped packs, one core (`engine.*`, CPU time)",
            f"{_n(engine['declarations_per_s'])} declarations/s",
            f"durable-rules raw post, 1 fact and 1 rule: {_n(engine['durable_rules_raw_per_s'])}/s",
            f"{engine['vs_durable_rules_raw']:.2f}",
        ),
        (
            "",
            "",
            f"hand-written Python of the same rules: {_n(engine['python_per_s'])}/s",
            f"{engine['vs_python']:.3f}",
        ),
        (
            "the engine with the verdict's JSON and its audit trail",
            f"{_n(engine['with_trail_per_s'])} declarations/s",
            "",
            "",
        ),
        (
            "permit applications through the ledger (`ledger.*`)",
            f"{_n(ledger['permits_per_s'])}/s",
            f"a script that only echoes the payload: {_n(ledger['echo_per_s'])}/s",
            f"{ledger['permits_vs_echo']:.2f}",
        ),
        (
            "reads of a quota year as of a date, 100 events a page",
            f"{_n(ledger['as_of_reads_per_s'])}/s",
            "",
            "",
        ),
        *_rush_rows(ledger),
        (
            "end to end, single submissions, 2 workers (`e2e.single`)",
            f"{_n(single['declarations_per_s'])}/s, "
            f"{single['cpu_ms_per_declaration']['total']} ms CPU each",
            f"no-op Celery task, same broker: {_n(single['celery_noop_per_s'])}/s",
            f"{single['vs_celery_noop']:.2f}",
        ),
        (
            f"end to end, batches of {batch['batch_size']} (`e2e.batch`)",
            f"{_n(batch['declarations_per_s'])}/s, "
            f"{batch['cpu_ms_per_declaration']['total']} ms CPU each",
            "",
            "",
        ),
        (
            f"batches with {', '.join(workers)} worker processes "
            f"(`e2e.scaling`, {scaling['cores']} cores)",
            ", ".join(_n(rates[key]) for key in workers) + "/s",
            "1 worker process",
            ", ".join(f"{ratios[key]:.2f}" for key in workers),
        ),
        (
            f"latency at half load ({_n(latency['offered_per_s'])}/s offered)",
            f"p50 {_n(latency['p50_ms'])} ms, p99 {_n(latency['p99_ms'])} ms",
            "",
            "",
        ),
        (
            f"latency with {latency['waiters']} clients each long-polling its own "
            "declaration (`latency.p99_ms_400_waiters`)",
            f"p50 {_n(latency['p50_ms_400_waiters'])} ms, "
            f"p99 {_n(latency['p99_ms_400_waiters'])} ms, "
            f"at {_n(latency['declarations_per_s_400_waiters'])}/s",
            "",
            "",
        ),
        *_settled_rows(single, batch, scaling, latency),
        (
            "worker memory, 10,000 → 100,000 declarations",
            f"{memory['rss_mb_at_10k']} → {memory['rss_mb_at_100k']} MB",
            "",
            f"{memory['rss_growth_pct']:+.2f} %",
        ),
        (
            "Redis per decided declaration, trail included (`redis.bytes_per_declaration`)",
            f"{_n(redis['bytes_per_declaration'])} bytes",
            "",
            "",
        ),
        (
            f"a year in Redis, {_n(year['declarations'])} declarations (`redis.memory_year`)",
            f"{year['used_memory_mb_before_archiving']} MB → "
            f"{year['used_memory_mb_after_archiving']} MB after archiving",
            "the same year before archiving",
            f"{year['after_vs_before']:.2f}",
        ),
        (
            "the same year's archive on disk (gzip JSON Lines)",
            f"{year['archive_mb_on_disk']} MB ({_n(year['archive_bytes_per_declaration'])} "
            f"bytes per declaration), archived at {_n(year['archive_per_s'])}/s",
            "",
            "",
        ),
        (
            f"scaled to {_n(year['scaled_to_declarations'])} declarations a year",
            f"Redis {year['scaled_redis_gb_kept']} GB kept, "
            f"{year['scaled_redis_gb_archived']} GB after archiving; "
            f"archive {year['scaled_archive_gb']} GB",
            "",
            "",
        ),
    ]
    machine = results["machine"]
    head = (
        f"Run of {results['measured_at'][:10]} on a {machine['cores']}-core {machine['cpu']} "
        f"VM, Python {machine['python']}, {_n(results['seconds'])} s."
    )
    return "\n".join([head, "", *("| " + " | ".join(row) + " |" for row in rows)])


def block(results: dict[str, Any]) -> str:
    return f"{BEGIN}\n{table(results)}\n{END}"


def current(readme: str) -> str:
    """The README's table block as it stands."""
    start, end = readme.index(BEGIN), readme.index(END) + len(END)
    return readme[start:end]


def update(readme_path: Path = README, results_path: Path = RESULTS_FILE) -> None:
    results = json.loads(results_path.read_text())
    readme = readme_path.read_text()
    readme_path.write_text(readme.replace(current(readme), block(results)))


if __name__ == "__main__":
    update()
    sys.stdout.write(f"README's table written from {RESULTS_FILE}\n")
