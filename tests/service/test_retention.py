"""Archived declarations end to end: after `accord archive`, status, audit verification,
replay and export answer as they did from Redis, and a changed archive file fails
verification. On a stack of its own, since archiving with no retention age takes every
closed declaration."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from conftest import Stack, unique_id
from helpers import declaration

pytestmark = pytest.mark.stack


def decided(stack: Stack, count: int) -> list[str]:
    ids = [unique_id("arch") for _ in range(count)]
    with stack.client() as client:
        for declaration_id in ids:
            assert (
                client.post("/v1/declarations", json=declaration(declaration_id)).status_code == 202
            )
        for declaration_id in ids:
            status = client.get(f"/v1/declarations/{declaration_id}", params={"wait": 20}).json()
            assert status["status"] == "decided"
    return ids


def archive(stack: Stack) -> dict[str, Any]:
    time.sleep(0.01)  # every trail closed strictly before the cutoff
    done = subprocess.run(
        [sys.executable, "-m", "service.cli", "--json", "archive", "--older-than", "0"],
        env=stack.env, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def answers(stack: Stack, declaration_id: str) -> dict[str, Any]:
    with stack.client("auditor") as client:
        return {
            "status": client.get(f"/v1/declarations/{declaration_id}").json(),
            "audit": client.get(f"/v1/declarations/{declaration_id}/audit").json(),
            "replay": client.post("/v1/replay", json={"declaration_id": declaration_id}).json(),
        }


def test_archived_declarations_answer_as_before(lone_stack: Stack) -> None:
    """Status, verified audit trail, replay, export and the dashboard page of archived
    declarations are what they were before archiving, while Redis holds only stubs."""
    start = datetime.now(UTC) - timedelta(seconds=1)
    ids = decided(lone_stack, 3)
    lone_stack.store().write_checkpoint(datetime.now(UTC).isoformat())
    end = datetime.now(UTC) + timedelta(seconds=1)
    before = {declaration_id: answers(lone_stack, declaration_id) for declaration_id in ids}
    with lone_stack.client("auditor") as client:
        params = {"from": start.isoformat(), "to": end.isoformat()}
        exported = client.get("/v1/export", params=params).text
    report = archive(lone_stack)
    assert report["archived"] >= 3
    store = lone_stack.store()
    for declaration_id in ids:
        assert not store.client.exists(store.key("audit", declaration_id))
        assert not store.client.hexists(store.key("decl", declaration_id), "body")
        after = answers(lone_stack, declaration_id)
        assert after == before[declaration_id]
        assert after["audit"]["verified"] and after["audit"]["authenticated"]
        assert after["audit"]["checkpoint"] is not None
        assert after["replay"]["differences"] == []
    with lone_stack.client("auditor") as client:
        assert client.get("/v1/export", params=params).text == exported
    cli = subprocess.run(
        [sys.executable, "-m", "service.cli", "--api", lone_stack.url, "--token",
         lone_stack.tokens["auditor"], "export", "--from", params["from"], "--to", params["to"]],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert cli.stdout == exported
    with httpx.Client(base_url=lone_stack.url, timeout=30.0) as browser:
        signed = browser.post("/dashboard/login", data={"token": lone_stack.tokens["auditor"]})
        assert signed.status_code == 303
        page = browser.get(f"/dashboard/declarations/{ids[0]}")
        assert page.status_code == 200 and ids[0] in page.text
    with lone_stack.client() as client:
        assert client.post(f"/v1/declarations/{ids[0]}/cancel").status_code == 409
    assert archive(lone_stack)["archived"] == 0


def test_a_changed_archive_line_fails_verification(lone_stack: Stack) -> None:
    """Editing the verdict of an archived declaration in its file is caught by the audit
    verification, which holds the file to the head and MAC kept in Redis."""
    (declaration_id,) = decided(lone_stack, 1)
    archive(lone_stack)
    store = lone_stack.store()
    stub = store.client.hgetall(store.key("decl", declaration_id))
    path = Path(lone_stack.env["ACCORD_VAR_DIR"]) / "archive" / stub[b"archive"].decode()
    offset = int(stub[b"archive_offset"])
    raw = path.read_bytes()
    assert len(raw) > offset
    reader = zlib.decompressobj(31)
    line = orjson.loads(reader.decompress(raw[offset:]))
    assert reader.eof and not reader.unused_data  # the last line of the file
    verdict = json.loads(line["fields"]["verdict"])
    verdict["total_duty"] = "0.00"
    line["fields"]["verdict"] = json.dumps(verdict)
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    path.write_bytes(
        raw[:offset] + compressor.compress(orjson.dumps(line) + b"\n") + compressor.flush()
    )
    with lone_stack.client("auditor") as client:
        trail = client.get(f"/v1/declarations/{declaration_id}/audit").json()
    assert trail["verified"] is False
    assert "verdict" in trail["problem"]
