"""Property-based tests of the whole API from its OpenAPI document (schemathesis): no
input, however strange, gives a 5xx, and what a submitter sends moves no balance. The
`st` CLI runs as a process of its own against the in-process API, one ledger per test."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

from conftest import Accord, InProcess
from rules.catalog import load_catalog
from rules.quota import terms_of


def schemathesis(api: Accord, role: str, directory: Path) -> subprocess.CompletedProcess[str]:
    executable = shutil.which("st", path=str(Path(sys.executable).parent)) or "st"
    return subprocess.run(
        [
            executable, "run", f"{api.url}/openapi.json",
            "--header", f"Authorization: Bearer {api.tokens[role]}",
            "--checks", "not_a_server_error",
            # readiness answers 503 by design until a worker consumes, and the in-process
            # API has none (tests/service/test_run_refuses.py tests it on a real stack)
            "--exclude-path", "/readyz",
            "--max-examples", "25",
            "--generation-deterministic",
            "--request-timeout", "40",
            "--suppress-health-check", "all",
        ],
        capture_output=True, text=True, timeout=600, check=False, cwd=directory, env=dict(os.environ),
    )  # fmt: skip


def test_no_generated_request_gives_a_server_error(api: InProcess, tmp_path: Path) -> None:
    """As admin, every operation with examples, boundary values and fuzzed input: no 5xx."""
    result = schemathesis(api, "admin", tmp_path)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_what_a_submitter_sends_moves_no_balance(api: InProcess, tmp_path: Path) -> None:
    """As another importer's submitter (who may apply for permits only for its own
    importer, and the examples name the base importer), nothing generated moves a balance.

    (As admin, the documented examples chain into an issued permit and a valid
    declaration using it, which rightly draws quota.)"""
    store = api.store()
    found = load_catalog().measure("CA-CN-EV-TRQ-2026")
    assert found is not None
    terms = terms_of(found[1], 1)

    def ledger() -> tuple[Any, ...]:
        year = store.ledger.view(terms, date(2026, 3, 10), limit=1)
        return (year.periods, year.events.total)

    before = ledger()
    result = schemathesis(api, "other_submitter", tmp_path)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert ledger() == before
