"""Fixtures of the dashboard tests: declarations seeded into the running stack once, a
signed-in HTTP client, and headless Chromium (Debian's package, driven by Playwright).

Without a Chromium binary, or without Playwright, only the browser tests skip, and the
terminal summary says so in one line; every other dashboard test still runs."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import IMPORTER, OTHER_IMPORTER, ROOT, Stack, unique_id
from helpers import declaration

ARTIFACTS = ROOT / "tests" / "artifacts"
JP_QUOTA = "TEST-JP-EV-TRQ"
JP_QUANTITIES = (10, 14, 8, 10)  # general units
JP_AFFORDABLE = 4  # units at a FOB price within the affordable sub-quota
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
NO_BROWSER = "browser tests skipped: no chromium found"

_browser_skipped: list[str] = []


def chromium_path() -> str | None:
    """Debian's Chromium (or ACCORD_CHROMIUM), never a browser Playwright downloads."""
    candidates = [
        os.environ.get("ACCORD_CHROMIUM"),
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ]
    return next((path for path in candidates if path and os.access(path, os.X_OK)), None)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _browser_skipped:
        terminalreporter.write_line(f"{NO_BROWSER} ({_browser_skipped[0]})", yellow=True, bold=True)


@dataclass(frozen=True)
class Seeded:
    """Declarations in the stack, decided, for the dashboard to show."""

    quota_ids: tuple[str, ...]  # in TEST-JP-EV-TRQ's current period, accepted
    quota_used: int
    surtax_id: str  # a CN EV under the 2024 surtax, accepted with WTO warnings
    rejected_id: str  # a JP EV without a permit
    held_id: str  # under a measure whose notification is missing
    other_id: str  # another importer's
    tamper_id: str  # a declaration whose trail a test changes
    verdict_tamper_id: str  # a declaration whose stored verdict a test changes


def _submit(client: httpx.Client, body: dict[str, Any]) -> str:
    response = client.post("/v1/declarations", json=body)
    assert response.status_code == 202, response.text
    return str(body["declaration_id"])


def _wait(client: httpx.Client, declaration_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/declarations/{declaration_id}", params={"wait": 20})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "decided", body
    return body


@pytest.fixture(scope="session")
def seeded(stack: Stack) -> Seeded:
    """Quota allocations dated today (so they fall in the current period), and one
    declaration of each outcome, submitted through the API and decided by the worker."""
    today = datetime.now(UTC).date()
    accepted_at = f"{today.isoformat()}T00:00:00+00:00"  # never in the future, whatever the hour
    lines: list[dict[str, Any]] = [
        {"quantity": str(quantity), "value_for_duty": f"{quantity * 52000}.00"}
        for quantity in JP_QUANTITIES
    ]
    lines.insert(2, {"quantity": str(JP_AFFORDABLE), "value_for_duty": "96000.00",
                     "fob_unit_price": "24000.00"})  # fmt: skip
    with stack.client("admin") as admin:
        for line in lines:  # a permit serves one declaration
            response = admin.post(
                "/v1/permits",
                json={"business_number": IMPORTER, "measure": JP_QUOTA,
                      "quantity": int(line["quantity"]),
                      "issued_on": (today - timedelta(days=1)).isoformat()},
            )  # fmt: skip
            assert response.status_code == 201, response.text
            line.update(origin="JP", permit_number=response.json()["permit_number"])
    bodies = [declaration(unique_id("JP"), accepted_at=accepted_at, lines=[line]) for line in lines]
    with stack.client("submitter") as mine:
        quota_ids = tuple(_submit(mine, body) for body in bodies)
        for declaration_id in quota_ids:  # one at a time: the chart gets one step each
            assert _wait(mine, declaration_id)["outcome"] == "accepted"
        surtax_id = _submit(mine, declaration(unique_id("SUR")))
        rejected_id = _submit(
            mine, declaration(unique_id("REJ"), accepted_at=accepted_at, lines=[{"origin": "JP"}])
        )
        held_id = _submit(
            mine,
            declaration(
                unique_id("HELD"), accepted_at="2026-03-10T10:00:00-05:00", lines=[{"origin": "VN"}]
            ),
        )
        tamper_id = _submit(mine, declaration(unique_id("TAMPER")))
        verdict_tamper_id = _submit(mine, declaration(unique_id("TAMPER")))
        outcomes = {
            declaration_id: _wait(mine, declaration_id)["outcome"]
            for declaration_id in (surtax_id, rejected_id, held_id, tamper_id, verdict_tamper_id)
        }
    assert outcomes == {surtax_id: "accepted", rejected_id: "rejected", held_id: "held",
                        tamper_id: "accepted", verdict_tamper_id: "accepted"}  # fmt: skip
    theirs = declaration(unique_id("OTHER"), importer={"business_number": OTHER_IMPORTER,
                                                      "name": "Prairie Auto Ltd."})  # fmt: skip
    with stack.client("other_submitter") as other:
        other_id = _submit(other, theirs)
        _wait(other, other_id)
    return Seeded(
        quota_ids=quota_ids,
        quota_used=sum(JP_QUANTITIES) + JP_AFFORDABLE,
        surtax_id=surtax_id,
        rejected_id=rejected_id,
        held_id=held_id,
        other_id=other_id,
        tamper_id=tamper_id,
        verdict_tamper_id=verdict_tamper_id,
    )


@contextlib.contextmanager
def signed_in(stack: Stack, role: str) -> Iterator[httpx.Client]:
    """An HTTP client holding a dashboard session (no bearer header)."""
    with httpx.Client(base_url=stack.url, timeout=30.0) as client:
        response = client.post("/dashboard/login", data={"token": stack.tokens[role]})
        assert response.status_code == 303, response.text
        yield client


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Chromium, shared by the browser tests; skips them when there is none."""
    path = chromium_path()
    if path is None:
        _browser_skipped.append("install Debian's chromium package to run them")
        pytest.skip(f"{NO_BROWSER}: only the browser part of the dashboard tests is skipped")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _browser_skipped.append("the playwright package is not installed")
        pytest.skip("browser tests skipped: playwright is not installed (pip install -e '.[dev]')")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies) and a page in it."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot as a test artefact."""
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
