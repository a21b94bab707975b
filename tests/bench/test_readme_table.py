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
