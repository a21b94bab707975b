"""`accord run`, as `make run` starts it: embedded Redis, workers and the API in one
foreground command that prints the URL and an admin token, decides a declaration, and
leaves no process behind on Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from helpers import declaration
from store import free_port

pytestmark = pytest.mark.stack


def descendants(pid: int) -> set[int]:
    """Every process below `pid`, found through /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found: set[int] = set()
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.add(child)
            stack.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


def test_accord_run_serves_then_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    """accord run prints URL and token, a CN EV of 2025-12-01 owes 93,334.00 with an
    authenticated trail under a key it keeps in var/, and SIGINT stops everything."""
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("REDIS_URL", "ACCORD_TOKENS_FILE", "ACCORD_AUDIT_KEY")
    }
    env["ACCORD_VAR_DIR"] = str(tmp_path / "var")
    env["PYTHONWARNINGS"] = "ignore:You're running the worker with superuser"
    with subprocess.Popen(
        [sys.executable, "-m", "cli.main", "run", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    ) as process:  # fmt: skip
        assert process.stdout is not None
        printed = ""
        deadline = time.monotonic() + 60
        while "Press Ctrl-C" not in printed and time.monotonic() < deadline:
            printed += process.stdout.readline()
        token = re.search(r"Admin token (\S+)", printed)
        assert token, printed
        assert f"http://127.0.0.1:{port}" in printed
        url = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {token.group(1)}"}
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).json().get("workers"):
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        body = declaration("run-1")
        assert httpx.post(f"{url}/v1/declarations", json=body, headers=headers).status_code == 202
        verdict = httpx.get(
            f"{url}/v1/declarations/run-1", params={"wait": 20}, headers=headers
        ).json()
        assert verdict["total_duty"] == "93334.00"
        trail = httpx.get(f"{url}/v1/declarations/run-1/audit", headers=headers).json()
        assert (trail["verified"], trail["authenticated"]) == (True, True)
        assert (tmp_path / "var" / "audit.key").stat().st_mode & 0o777 == 0o600
        assert httpx.post(f"{url}/v1/declarations", json=body).status_code == 401
        children = descendants(process.pid)
        assert len(children) >= 4  # Redis, the worker and its pool, the API
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
        assert "Stopped." in process.stdout.read()
        assert [pid for pid in children if alive(pid)] == []
        assert (tmp_path / "var" / "redis" / "appendonly.aof").exists()
