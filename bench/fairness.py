"""Bulk work must not starve another importer's single declaration: one importer submits
4 batches of 7 declarations of 999 lines each, another importer then submits one
declaration of one line; how long that one waits for its verdict (submit to decided, as
its client sees it), and how many of the batches' declarations were decided first.

Not part of `make bench`, and not a test: run it by hand, before and after a change to
the queues or the tasks, and compare the figures.

    .venv/bin/python -m bench.fairness

It starts its own Redis, API and worker (two processes, as `accord run` does)."""

from __future__ import annotations

import json
import os
import secrets
import statistics
import subprocess
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

from cli.runner import api_command, worker_command
from store import EmbeddedRedis, RedisStore, free_port

HEAVY = "123456789RM0001"
OTHER = "987654321RM0001"
BATCHES = 4
PER_BATCH = 7
LINES = 999
ROUNDS = 3


def _declaration(declaration_id: str, business_number: str, lines: int) -> dict[str, Any]:
    return {
        "declaration_id": declaration_id,
        "importer": {"business_number": business_number, "name": "Importer"},
        "import_type": "commercial",
        "accepted_at": "2025-12-01T10:00:00-05:00",
        "currency": "CAD",
        "lines": [
            {"line": line, "tariff_item": "8703.80.00.10", "origin": "CN", "description": "EV",
             "quantity": "1", "unit": "NMB", "value_for_duty": "40000.00"}
            for line in range(1, lines + 1)
        ],
    }  # fmt: skip


def _round(url: str, tokens: dict[str, str], store: RedisStore, number: int) -> tuple[float, int]:
    heavy = httpx.Client(base_url=url, timeout=300,
                         headers={"Authorization": f"Bearer {tokens['heavy']}"})  # fmt: skip
    other = httpx.Client(base_url=url, timeout=300,
                         headers={"Authorization": f"Bearer {tokens['other']}"})  # fmt: skip
    batch_ids = []
    for batch in range(BATCHES):
        bodies = [_declaration(f"r{number}-b{batch}-{item}", HEAVY, LINES)
                  for item in range(PER_BATCH)]  # fmt: skip
        batch_ids += [body["declaration_id"] for body in bodies]
        answer = heavy.post("/v1/declarations/batch", json={"declarations": bodies})
        assert answer.status_code == 202, answer.text[:300]
    single = _declaration(f"r{number}-single", OTHER, 1)
    started = time.perf_counter()
    assert other.post("/v1/declarations", json=single).status_code == 202
    path = f"/v1/declarations/{single['declaration_id']}"
    while (verdict := other.get(path, params={"wait": 30}).json())["status"] != "decided":
        pass
    waited = time.perf_counter() - started
    single_at = datetime.fromisoformat(verdict["decided_at"])
    records = store.get_many(batch_ids)
    first = sum(
        1 for r in records if r.decided_at and datetime.fromisoformat(r.decided_at) < single_at
    )
    for declaration_id in batch_ids:  # the batches finish before the next round
        heavy.get(f"/v1/declarations/{declaration_id}", params={"wait": 30})
    heavy.close()
    other.close()
    return waited, first


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="accord-fairness-") as scratch:
        directory = Path(scratch)
        redis_server = EmbeddedRedis(directory / "redis").start()
        tokens = {name: secrets.token_urlsafe(24) for name in ("heavy", "other")}
        tokens_file = directory / "tokens.yaml"
        tokens_file.write_text(yaml.safe_dump({"tokens": [
            {"token": tokens["heavy"], "role": "submitter", "business_number": HEAVY},
            {"token": tokens["other"], "role": "submitter", "business_number": OTHER},
        ]}))  # fmt: skip
        port = free_port()
        env = {
            **os.environ,
            "REDIS_URL": redis_server.url,
            "ACCORD_TOKENS_FILE": str(tokens_file),
            "ACCORD_REDIS_PREFIX": "fair",
            "ACCORD_VAR_DIR": str(directory),
            "ACCORD_AUDIT_KEY": secrets.token_urlsafe(32),
            "ACCORD_MAX_BODY_BYTES": str(8 * 1024 * 1024),  # 7 x 999 lines in one batch
        }
        store = RedisStore.from_url(redis_server.url, prefix="fair")
        with (directory / "processes.log").open("ab") as log:
            worker = subprocess.Popen(worker_command(2, "fair@%h"), env=env, stdout=log,
                                      stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
            api = subprocess.Popen(api_command("127.0.0.1", port), env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).json().get("status") == "ok":
                        break
                except (httpx.HTTPError, json.JSONDecodeError):
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the stack did not start; see {directory}")
                time.sleep(0.2)
            print(f"{BATCHES} batches of {PER_BATCH} x {LINES} lines, then another importer's "
                  f"single declaration of 1 line; {ROUNDS} rounds")  # fmt: skip
            results = [_round(url, tokens, store, number) for number in range(ROUNDS)]
            for waited, first in results:
                print(f"  single decided after {waited:6.2f} s; "
                      f"{first:2d} of {BATCHES * PER_BATCH} batch declarations decided first")  # fmt: skip
            print(f"median wait {statistics.median(w for w, _ in results):.2f} s")
        finally:
            for process in (api, worker):
                process.terminate()
                process.wait(timeout=30)
            store.close()
            redis_server.stop()


if __name__ == "__main__":
    main()
