"""The README's performance table is the one bench/results.json makes: a figure lives in
the results file only."""

from __future__ import annotations

import json

from bench import RESULTS_FILE, readme


def test_the_readme_table_is_written_from_the_results_file() -> None:
    """The table between the README's bench-table markers is exactly what
    `python -m bench.readme` writes from bench/results.json (run it after a bench)."""
    results = json.loads(RESULTS_FILE.read_text())
    assert readme.current(readme.README.read_text()) == readme.block(results)


def test_the_table_names_every_figure_the_bench_promises() -> None:
    """The keys the README promises are in the results and shown in the table."""
    results = json.loads(RESULTS_FILE.read_text())
    text = readme.table(results)
    assert f"{results['redis']['bytes_per_declaration']:,.0f} bytes" in text
    assert f"p99 {results['latency']['p99_ms_400_waiters']:,.0f} ms" in text
    assert set(results["e2e"]["scaling"]["declarations_per_s"]) == {"1", "2", "4"}


def test_the_rush_rows_show_only_with_the_rush_figures() -> None:
    """The permit rush's rows appear when the results carry `ledger.rush_*` (with its
    figures in them) and not at all from results measured before it existed."""
    results = json.loads(RESULTS_FILE.read_text())
    ledger = {key: value for key, value in results["ledger"].items() if not key.startswith("rush")}
    without = readme.table({**results, "ledger": ledger})
    assert "permit rush" not in without
    rush = {
        "rush_applicants": 400, "rush_period": "2026-09-01", "rush_units_each": 196,
        "rush_units_held": 49000, "rush_units_issued": 49000, "rush_permits_issued": 250,
        "rush_refusals": 150, "rush_p50_ms": 896.8, "rush_p99_ms_400": 1120.9,
        "rush_per_s": 351.3, "rush_echo_per_s": 503.7, "rush_echo_p99_ms": 790.2,
        "rush_vs_echo": 0.697,
    }  # fmt: skip
    text = readme.table({**results, "ledger": {**ledger, **rush}})
    assert "p50 897 ms, p99 1,121 ms, at 351/s" in text
    assert "`GET /v1/whoami`): 504/s, p99 790 ms | 0.70 |" in text
    assert "49,000 of 49,000 (250 permits); 150 refused with 0 left" in text
