"""The benchmark harness (`make bench`): engine, end to end, batch, latency, memory,
each measured against a baseline in the same run, so the ratios hold on any machine."""

from pathlib import Path

RESULTS_FILE = Path(__file__).parent / "results.json"
