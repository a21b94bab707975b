"""Property-based tests of the whole API from its OpenAPI document (schemathesis): no
input, however strange, gives a 5xx, and none changes the shipped quota's balances."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import Stack

pytestmark = pytest.mark.stack


def test_no_generated_request_gives_a_server_error_or_moves_a_balance(
    stack: Stack, tmp_path: Path
) -> None:
    """schemathesis sends generated requests to every operation as admin; none answers 5xx."""
    store = stack.store()
    quota = "CA-CN-EV-TRQ-2026"
    before = (store.quota_periods(quota), len(store.quota_events(quota)))
    executable = shutil.which("st", path=str(Path(sys.executable).parent)) or "st"
    result = subprocess.run(
        [
            executable, "run", f"{stack.url}/openapi.json",
            "--header", f"Authorization: Bearer {stack.tokens['admin']}",
            "--checks", "not_a_server_error",
            "--max-examples", "30",
            "--generation-deterministic",
            "--request-timeout", "40",
            "--suppress-health-check", "all",
            # generated data only: the documented examples chain into a valid permit and
            # declaration, which may rightly move a balance
            "--phases", "coverage,fuzzing",
        ],
        capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path,
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "5xx" not in result.stdout.lower() or "0 5xx" in result.stdout.lower()
    after = (store.quota_periods(quota), len(store.quota_events(quota)))
    assert after == before
