"""Archived declarations end to end: after `accord archive`, status, audit verification,
replay and export answer as they did from Redis, and a changed archive file fails
verification. On an API (in-process) with a key prefix of its own, since archiving with
no retention age takes every closed declaration; `accord archive` and `accord export`
run as the real CLI, in processes of their own."""

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

from conftest import Accord, InProcess, unique_id
from helpers import declaration


def decided(api: Accord, count: int) -> list[str]:
    ids = [unique_id("arch") for _ in range(count)]
    with api.client() as client:
        for declaration_id in ids:
            assert (
                client.post("/v1/declarations", json=declaration(declaration_id)).status_code == 202
            )
        for declaration_id in ids:
            status = client.get(f"/v1/declarations/{declaration_id}", params={"wait": 20}).json()
            assert status["status"] == "decided"
    return ids


def archive(api: Accord) -> dict[str, Any]:
    time.sleep(0.01)  # every trail closed strictly before the cutoff
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "--json", "archive", "--older-than", "0"],
        env=api.env, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def answers(api: Accord, declaration_id: str) -> dict[str, Any]:
    with api.client("auditor") as client:
        return {
            "status": client.get(f"/v1/declarations/{declaration_id}").json(),
            "audit": client.get(f"/v1/declarations/{declaration_id}/audit").json(),
            "replay": client.post("/v1/replay", json={"declaration_id": declaration_id}).json(),
        }


def test_archived_declarations_answer_as_before(api: InProcess) -> None:
    """Status, verified audit trail, replay, export and the dashboard page of archived
    declarations are what they were before archiving, while Redis holds only stubs."""
    start = datetime.now(UTC) - timedelta(seconds=1)
    ids = decided(api, 3)
    api.store().write_checkpoint(datetime.now(UTC).isoformat())
    end = datetime.now(UTC) + timedelta(seconds=1)
    before = {declaration_id: answers(api, declaration_id) for declaration_id in ids}
    with api.client("auditor") as client:
        params = {"from": start.isoformat(), "to": end.isoformat()}
        exported = client.get("/v1/export", params=params).text
    report = archive(api)
    assert report["archived"] >= 3
    store = api.store()
    for declaration_id in ids:
        assert not store.client.exists(store.key("audit", declaration_id))
        assert not store.client.hexists(store.key("decl", declaration_id), "body")
        after = answers(api, declaration_id)
        assert after == before[declaration_id]
        assert after["audit"]["verified"] and after["audit"]["authenticated"]
        assert after["audit"]["checkpoint"] is not None
        assert after["replay"]["differences"] == []
    with api.client("auditor") as client:
        assert client.get("/v1/export", params=params).text == exported
    cli = subprocess.run(
        [sys.executable, "-m", "cli.main", "--api", api.url, "--token",
         api.tokens["auditor"], "export", "--from", params["from"], "--to", params["to"]],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert cli.stdout == exported
    with httpx.Client(base_url=api.url, timeout=30.0) as browser:
        signed = browser.post("/dashboard/login", data={"token": api.tokens["auditor"]})
        assert signed.status_code == 303
        page = browser.get(f"/dashboard/declarations/{ids[0]}")
        assert page.status_code == 200 and ids[0] in page.text
    with api.client() as client:
        assert client.post(f"/v1/declarations/{ids[0]}/cancel").status_code == 409
    assert archive(api)["archived"] == 0


def test_a_changed_archive_line_fails_verification(api: InProcess) -> None:
    """Editing the verdict of an archived declaration in its file is caught by the audit
    verification, which holds the file to the head and MAC kept in Redis."""
    (declaration_id,) = decided(api, 1)
    archive(api)
    store = api.store()
    stub = store.client.hgetall(store.key("decl", declaration_id))
    path = Path(api.env["ACCORD_VAR_DIR"]) / "archive" / stub[b"archive"].decode()
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
    with api.client("auditor") as client:
        trail = client.get(f"/v1/declarations/{declaration_id}/audit").json()
    assert trail["verified"] is False
    assert "verdict" in trail["problem"]
