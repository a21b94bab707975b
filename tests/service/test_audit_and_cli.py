"""Auditors' endpoints (replay, export) and the `accord` CLI, end to end against the
running stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from conftest import Stack, unique_id
from helpers import declaration

pytestmark = pytest.mark.stack


def decided(stack: Stack, body: dict[str, Any]) -> dict[str, Any]:
    with stack.client() as client:
        assert client.post("/v1/declarations", json=body).status_code == 202
        verdict: dict[str, Any] = client.get(
            f"/v1/declarations/{body['declaration_id']}", params={"wait": 20}
        ).json()
    return verdict


def test_replay_with_the_same_packs_has_no_differences(stack: Stack) -> None:
    """POST /v1/replay of a decided declaration gives back the same verdict."""
    body = declaration(unique_id())
    decided(stack, body)
    with stack.client("auditor") as client:
        response = client.post("/v1/replay", json={"declaration_id": body["declaration_id"]})
        assert response.status_code == 200
        assert response.json()["differences"] == []
        unknown = client.post(
            "/v1/replay", json={"declaration_id": body["declaration_id"], "pack_version": "0.0"}
        )
        assert unknown.status_code == 409
    with stack.client("submitter") as client:
        assert (
            client.post("/v1/replay", json={"declaration_id": body["declaration_id"]}).status_code
            == 403
        )


def test_export_lists_decided_declarations_with_their_trails(stack: Stack) -> None:
    """GET /v1/export returns one JSON line per declaration decided in the range, trail included."""
    start = datetime.now(UTC) - timedelta(seconds=1)
    body = declaration(unique_id())
    decided(stack, body)
    end = datetime.now(UTC) + timedelta(seconds=1)
    with stack.client("auditor") as client:
        response = client.get(
            "/v1/export", params={"from": start.isoformat(), "to": end.isoformat()}
        )
    assert response.status_code == 200
    rows = [json.loads(line) for line in response.text.splitlines()]
    mine = [row for row in rows if row["declaration"]["declaration_id"] == body["declaration_id"]]
    assert len(mine) == 1
    assert mine[0]["status"]["outcome"] == "accepted"
    assert mine[0]["audit"]["verified"] is True


def accord(
    stack: Stack, *args: str, stdin: str | None = None, role: str = "admin"
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ACCORD_API_URL": stack.url, "ACCORD_TOKEN": stack.tokens[role]}
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        input=stdin, capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip


def test_cli_submits_jsonl_waits_and_tabulates_outcomes(stack: Stack, tmp_path: Path) -> None:
    """`accord submit FILE --wait` submits a JSONL file, waits and prints a table of outcomes."""
    accepted = declaration(unique_id("cli"))
    rejected = declaration(unique_id("cli"), accepted_at="2026-03-10T10:00:00-05:00")
    path = tmp_path / "declarations.jsonl"
    path.write_text("\n".join(json.dumps(item) for item in (accepted, rejected)) + "\n")
    result = accord(stack, "submit", str(path), "--wait")
    assert result.returncode == 4, result.stderr  # not every declaration was accepted
    table = result.stdout
    assert accepted["declaration_id"] in table and "accepted" in table
    assert rejected["declaration_id"] in table and "rejected" in table
    assert "accepted: 1  rejected: 1" in table
    assert result.stderr.count("2/2") == 1  # one progress bar, and it reached the end


def test_cli_submit_of_a_file_with_a_bad_declaration_sends_nothing(
    stack: Stack, tmp_path: Path
) -> None:
    """One invalid declaration in a file: exit 2 naming its line and field, and the valid ones are not stored either."""
    valid = declaration(unique_id("cli"))
    invalid = declaration(unique_id("cli"), lines=[{"origin": "ZZ"}])
    path = tmp_path / "declarations.jsonl"
    path.write_text("\n".join(json.dumps(item) for item in (valid, invalid)) + "\n")
    result = accord(stack, "submit", str(path), "--wait")
    assert result.returncode == 2
    assert "nothing submitted" in result.stderr
    assert "line 2: lines[0].origin" in result.stderr
    assert result.stdout == ""
    with stack.client() as client:
        assert client.get(f"/v1/declarations/{valid['declaration_id']}").status_code == 404


def test_cli_submit_names_what_the_service_refused(stack: Stack) -> None:
    """A declaration the service refuses (another importer's) is listed with the refusal, and the exit code is 1."""
    mine = declaration(unique_id("cli"))
    theirs = declaration(
        unique_id("cli"), importer={"business_number": "987654321RM0001", "name": "Other Ltd."}
    )
    text = json.dumps([mine, theirs])
    result = accord(stack, "--json", "submit", "-", stdin=text, role="submitter")
    assert result.returncode == 1, result.stderr
    rows = {row["declaration_id"]: row for row in json.loads(result.stdout)}
    assert rows[mine["declaration_id"]]["status"] == "queued"
    assert rows[theirs["declaration_id"]]["status"] == "not your importer (HTTP 403)"


def test_cli_auditor_lists_the_decisions_of_the_rule_that_rejected(stack: Stack) -> None:
    """As an auditor, `accord decisions --rule` lists the declaration the rule rejected."""
    body = declaration(unique_id("cli"), accepted_at="2026-03-10T10:00:00-05:00")
    result = accord(stack, "submit", "-", "--wait", stdin=json.dumps(body))
    assert result.returncode == 4
    listed = accord(
        stack, "--json", "decisions", "--rule", "ELIG-EVTRQ-PERMIT-MISSING", role="auditor"
    )
    assert listed.returncode == 0, listed.stderr
    decisions = json.loads(listed.stdout)["decisions"]
    assert body["declaration_id"] in {item["declaration_id"] for item in decisions}


def test_cli_status_audit_replay_and_errors(stack: Stack) -> None:
    """status, audit --verify and replay work; an unknown id exits 1; no API exits 3."""
    body = declaration(unique_id("cli"))
    decided(stack, body)
    status = accord(stack, "status", body["declaration_id"], "--json")
    assert status.returncode == 0
    assert json.loads(status.stdout)["total_duty"] == "93334.00"
    table = accord(stack, "status", body["declaration_id"]).stdout.splitlines()
    assert table[:4] == [
        f"declaration_id  {body['declaration_id']}",
        "status          decided",
        "outcome         accepted",
        "total_duty      93334.00 CAD",
    ]
    assert accord(stack, "audit", body["declaration_id"], "--verify").returncode == 0
    replayed = accord(stack, "--json", "replay", body["declaration_id"], role="auditor")
    assert replayed.returncode == 0
    assert json.loads(replayed.stdout)["differences"] == []
    assert (
        "(no differences)" in accord(stack, "replay", body["declaration_id"], role="auditor").stdout
    )
    missing = accord(stack, "status", "no-such-declaration")
    assert missing.returncode == 1
    assert "404" in missing.stderr
    env = {**os.environ, "ACCORD_API_URL": "http://127.0.0.1:9", "ACCORD_TOKEN": "x"}
    down = subprocess.run(
        [sys.executable, "-m", "cli.main", "quotas"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert down.returncode == 3
