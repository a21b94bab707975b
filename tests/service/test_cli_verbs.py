"""Every client verb of `accord` against the running stack: a human view by default (the
figures the service answered, as written) and, with --json before or after the verb, the
service's JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import Stack, unique_id
from helpers import declaration

pytestmark = pytest.mark.stack


def accord(stack: Stack, *args: str, role: str = "admin") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ACCORD_API_URL": stack.url, "ACCORD_TOKEN": stack.tokens[role]}
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip


def both(stack: Stack, *args: str, role: str = "admin") -> tuple[str, Any]:
    """The verb's table, and its JSON (asked for after the verb, the other test asks before)."""
    table = accord(stack, *args, role=role)
    assert table.returncode == 0, table.stderr
    as_json = accord(stack, *args, "--json", role=role)
    assert as_json.returncode == 0, as_json.stderr
    return table.stdout, json.loads(as_json.stdout)


def fields(text: str) -> dict[str, str]:
    """The first block of a view: its labelled values."""
    block = text.split("\n\n", 1)[0]
    return dict(line.split(None, 1) for line in block.splitlines() if len(line.split()) > 1)


def test_permit_verbs_show_the_permit_as_fields(stack: Stack) -> None:
    """permits apply, show and cancel print the permit's fields; --json gives the service's body."""
    number = unique_id("P")
    applied = accord(
        stack, "--json", "permits", "apply", "--business-number", "123456789RM0001",
        "--measure", "CA-CN-EV-TRQ-2026", "--quantity", "2", "--issued-on", "2026-11-02",
        "--number", number,
    )  # fmt: skip
    assert applied.returncode == 0, applied.stderr
    assert json.loads(applied.stdout)["status"] == "issued"
    table, body = both(stack, "permits", "show", number)
    assert body["permit_number"] == number and body["held"] == 2
    assert fields(table)["permit_number"] == number
    assert (fields(table)["status"], fields(table)["held"]) == ("issued", "2")
    cancelled = accord(stack, "permits", "cancel", number)
    assert cancelled.returncode == 0, cancelled.stderr
    assert fields(cancelled.stdout)["status"] == "cancelled"


def test_quota_verbs_tabulate_periods_and_events(stack: Stack) -> None:
    """quotas lists each quota's current period; one quota shows its periods and events as tables."""
    table, body = both(stack, "quotas", "--as-of", "2026-11-30")
    assert any(quota["quota_id"] == "CA-CN-EV-TRQ-2026" for quota in body["quotas"])
    header = table.splitlines()[0].split()
    assert header[:3] == ["quota_id", "mode", "drawn_at"] and "remaining" in header
    one, view = both(stack, "quotas", "CA-CN-EV-TRQ-2026", "--as-of", "2026-11-30")
    assert view["quota_id"] == "CA-CN-EV-TRQ-2026"
    assert "\nperiods (remaining = volume + carried_over − drawn + returned)\nperiod " in one
    header = one.split("\nperiods (", 1)[1].splitlines()[1].split()
    assert header[:6] == ["period", "volume", "carried_over", "drawn", "returned", "remaining"]
    for period in view["periods"]:  # each row shows the read model's figures, which add up
        row = next(line for line in one.splitlines() if line.startswith(f"{period['start']}.."))
        shown = dict(zip(header, row.split(), strict=True))
        assert shown["period"] == f"{period['start']}..{period['end']}"
        volume, carried, drawn, returned, remaining = (
            int(shown[name])
            for name in ("volume", "carried_over", "drawn", "returned", "remaining")
        )
        forward = int(shown["carried_forward"]) + int(shown.get("lapsed", 0))
        assert (
            volume + carried - drawn + returned - int(shown.get("granted", 0))
            == remaining + forward
        )
    assert "\npermits by period (issued = used + returned + outstanding)\n" in one
    assert "\nevents (" in one


def test_measures_with_checks_and_a_declarations_trail(stack: Stack, tmp_path: Path) -> None:
    """measures --checks tabulates each measure's checks; audit, replay, cancel and export print views."""
    table, body = both(stack, "measures", "--as-of", "2026-03-10", "--checks")
    assert "measures in force on 2026-03-10" in table
    assert "checks of CA-CN-EV-TRQ-2026" in table
    assert all("checks" in measure for measure in body["measures"])
    item = declaration(unique_id("cli"))
    path = tmp_path / "one.json"
    path.write_text(json.dumps(item))
    assert accord(stack, "submit", str(path), "--wait").returncode == 0
    trail, trail_body = both(stack, "audit", item["declaration_id"], "--verify")
    assert trail_body["verified"] is True
    assert fields(trail)["verified"] == "yes" and "\nevents\nseq" in trail
    replayed, _ = both(stack, "replay", item["declaration_id"], role="auditor")
    assert fields(replayed)["differences"] == "0"
    output = tmp_path / "export.jsonl"
    exported = accord(
        stack, "export", "--from", "2020-01-01", "--to", "2099-12-31", "-o", str(output),
        role="auditor",
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    assert item["declaration_id"] in output.read_text()
    assert fields(exported.stdout)["file"] == str(output)
    cancelled = accord(stack, "cancel", item["declaration_id"])
    assert cancelled.returncode == 0, cancelled.stderr
    assert item["declaration_id"] in cancelled.stdout
