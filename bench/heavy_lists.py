"""One client must not hurt the others: with 28 declarations of 999 lines each stored by
one importer, how long the dashboard's overview takes (alone, and six at once) and how
long another importer's GET of its own small declaration takes meanwhile.

Not part of `make bench`, and not a test: run it by hand, before and after a change to
the list views, and compare the figures.

    .venv/bin/python -m bench.heavy_lists

It starts its own Redis and API (no worker: the verdicts are written directly, as a
worker writes them, with a realistic size: about 1 MB each)."""

from __future__ import annotations

import json
import os
import secrets
import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import yaml

from cli.runner import api_command
from store import EmbeddedRedis, RedisStore, free_port

HEAVY = "123456789RM0001"
OTHER = "987654321RM0001"
DECLARATIONS = 28
LINES = 999


def _body(declaration_id: str, business_number: str, name: str, lines: int) -> str:
    body = {
        "declaration_id": declaration_id,
        "importer": {"business_number": business_number, "name": name},
        "import_type": "commercial",
        "accepted_at": "2026-03-10T10:00:00-05:00",
        "currency": "CAD",
        "lines": [
            {"line": line, "tariff_item": "8703.80.00.10", "origin": "CN",
             "description": "Battery electric passenger automobile", "quantity": "2",
             "unit": "NMB", "value_for_duty": "80000.00"}
            for line in range(1, lines + 1)
        ],
    }  # fmt: skip
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


def _verdict(lines: int) -> str:
    def finding(line: int, rule: str, severity: str) -> dict[str, Any]:
        return {"rule": rule, "severity": severity, "line": line,
                "message": f"line {line}: the surtax applies to goods of Chinese origin",
                "reference": "China Surtax Order (2024), SOR/2024-187, s. 2",
                "measure": "CA-CN-EV-SURTAX", "pack": "CA-CN-SURTAX-2024",
                "pack_version": "2026.1"}  # fmt: skip

    verdict = {
        "outcome": "accepted",
        "as_of": "2026-03-10T15:00:00Z",
        "rule_packs": [{"id": "CA-CN-SURTAX-2024", "version": "2026.1", "sha256": "0" * 64}],
        "lines": [
            {"line": line, "measures": ["CA-CN-EV-SURTAX"], "treatment": "surtax",
             "in_quota_quantity": "0", "over_quota_quantity": "0", "quota": None,
             "duties": [
                 {"type": "surtax", "measure": "CA-CN-EV-SURTAX", "rate": "1.00",
                  "base": "80000.00", "amount": "80000.00"},
                 {"type": "mfn", "measure": "CA-MFN", "rate": "0.061", "base": "80000.00",
                  "amount": "4880.00"},
             ],
             "total_duty": "84880.00"}
            for line in range(1, lines + 1)
        ],
        "total_duty": f"{84880 * lines}.00",
        "findings": [
            item
            for line in range(1, lines + 1)
            for item in (finding(line, "DUTY-SURTAX", "info"), finding(line, "WTO-SAFEGUARD", "warning"))
        ],
    }  # fmt: skip
    return json.dumps(verdict, sort_keys=True, separators=(",", ":"))


def _store(store: RedisStore, declaration_id: str, body: str, business_number: str) -> None:
    sha = "0" * 64
    outcome = store.submit(declaration_id, body, sha, business_number, time.time(), [])
    assert outcome.outcome == "created", outcome
    written = store.record(
        declaration_id,
        [],
        {"status": "decided", "verdict": _verdict(len(json.loads(body)["lines"])),
         "decided_at": "2026-03-10T15:00:01Z"},
        done=True,
    )  # fmt: skip
    assert written == "ok", written


def _timed(client: httpx.Client, path: str) -> float:
    started = time.perf_counter()
    response = client.get(path)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, (path, response.status_code, response.text[:200])
    return elapsed


def _figures(samples: list[float]) -> str:
    ordered = sorted(samples)
    return (
        f"median {statistics.median(ordered) * 1000:7.1f} ms, "
        f"max {ordered[-1] * 1000:7.1f} ms (n={len(ordered)})"
    )


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="accord-heavy-") as scratch:
        directory = Path(scratch)
        redis_server = EmbeddedRedis(directory / "redis").start()
        tokens = {name: secrets.token_urlsafe(24) for name in ("auditor", "heavy", "other")}
        tokens_file = directory / "tokens.yaml"
        tokens_file.write_text(yaml.safe_dump({"tokens": [
            {"token": tokens["auditor"], "role": "auditor"},
            {"token": tokens["heavy"], "role": "submitter", "business_number": HEAVY},
            {"token": tokens["other"], "role": "submitter", "business_number": OTHER},
        ]}))  # fmt: skip
        prefix = "heavy"
        store = RedisStore.from_url(redis_server.url, prefix=prefix)
        heavy_body = _body("x", HEAVY, "Maple Motors Inc.", LINES)
        for number in range(DECLARATIONS):
            declaration_id = f"heavy-{number:02d}"
            _store(store, declaration_id, heavy_body.replace('"x"', f'"{declaration_id}"'), HEAVY)
        _store(store, "other-1", _body("other-1", OTHER, "Prairie Auto Ltd.", 1), OTHER)
        stored = sum(
            int(store.client.hstrlen(store.key("decl", f"heavy-{n:02d}"), name))
            for n in range(DECLARATIONS)
            for name in ("body", "verdict")
        )
        port = free_port()
        env = {
            **os.environ,
            "REDIS_URL": redis_server.url,
            "ACCORD_TOKENS_FILE": str(tokens_file),
            "ACCORD_REDIS_PREFIX": prefix,
            "ACCORD_VAR_DIR": str(directory),
            "ACCORD_AUDIT_KEY": secrets.token_urlsafe(32),
        }
        with (directory / "api.log").open("ab") as log:
            api = subprocess.Popen(
                api_command("127.0.0.1", port), env=env, stdout=log, stderr=subprocess.STDOUT
            )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(f"{url}/healthz", timeout=1)
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            report(url, tokens, stored)
        finally:
            api.terminate()
            api.wait(timeout=15)
            store.close()
            redis_server.stop()


def report(url: str, tokens: dict[str, str], stored: int) -> None:
    def dashboard() -> httpx.Client:
        client = httpx.Client(base_url=url, timeout=120)
        assert client.post("/dashboard/login", data={"token": tokens["auditor"]}).status_code == 303
        return client

    other = httpx.Client(
        base_url=url, timeout=120, headers={"Authorization": f"Bearer {tokens['other']}"}
    )
    print(
        f"{DECLARATIONS} declarations of {LINES} lines stored ({stored / 1e6:.1f} MB of bodies and verdicts)"
    )
    alone = [_timed(other, "/v1/declarations/other-1") for _ in range(20)]
    print(f"other importer's GET, idle:              {_figures(alone)}")
    viewers = [dashboard() for _ in range(6)]
    _timed(viewers[0], "/dashboard")  # templates compiled, connections open
    overview = [_timed(viewers[0], "/dashboard") for _ in range(10)]
    print(f"dashboard overview, one at a time:       {_figures(overview)}")
    with ThreadPoolExecutor(max_workers=7) as pool:
        started = time.perf_counter()
        loads = [pool.submit(_timed, viewer, "/dashboard") for viewer in viewers]
        during = []
        while not all(load.done() for load in loads):
            during.append(_timed(other, "/v1/declarations/other-1"))
        six = [load.result() for load in loads]
        wall = time.perf_counter() - started
    print(f"dashboard overview, six at once:         {_figures(six)} (all done in {wall:.2f} s)")
    print(f"other importer's GET, during those six:  {_figures(during)}")
    for client in [*viewers, other]:
        client.close()


if __name__ == "__main__":
    main()
