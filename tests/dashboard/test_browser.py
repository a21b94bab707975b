"""The dashboard in headless Chromium against the running stack: sign in, read the quota
chart and the latest verdicts, follow a verdict to its verified audit trail, sign out.
Screenshots of each page are saved under tests/artifacts/."""

from __future__ import annotations

import re
from typing import Any

import pytest

from conftest import Stack

from .conftest import ARTIFACTS, JP_QUOTA, Seeded, screenshot

pytestmark = [pytest.mark.stack, pytest.mark.browser]


def sign_in(page: Any, stack: Stack, role: str, start: str = "/dashboard") -> None:
    page.goto(f"{stack.url}{start}")
    assert "/dashboard/login" in page.url
    page.fill("#token", stack.tokens[role])
    page.click("button[type=submit]")
    page.wait_for_load_state()


def test_auditor_reads_the_chart_and_drills_from_a_verdict_to_its_verified_trail(
    page: Any, stack: Stack, seeded: Seeded
) -> None:
    """Signed in as auditor: the quota chart has data, a verdict leads to a verified trail."""
    sign_in(page, stack, "auditor")
    assert page.url == f"{stack.url}/dashboard"
    cookie = next(item for item in page.context.cookies() if item["name"] == "accord_session")
    assert (cookie["httpOnly"], cookie["sameSite"], cookie["path"]) == (
        True,
        "Strict",
        "/dashboard",
    )
    assert page.evaluate("document.cookie") == ""  # HttpOnly: scripts cannot read it

    card = page.locator(f'[data-quota-id="{JP_QUOTA}"]')
    chart = card.locator('svg[data-testid="quota-chart"]')
    assert chart.is_visible()
    assert int(chart.get_attribute("data-points")) >= len(seeded.quota_ids)
    box = card.locator('[data-testid="used-area"]').bounding_box()
    assert box is not None and box["height"] > 10  # the used area rises off the baseline
    threshold = card.locator('[data-testid="threshold"]').bounding_box()
    assert threshold is not None and threshold["width"] > box["width"] / 2  # across the plot
    assert int(card.locator('[data-testid="used"]').inner_text().replace(",", "")) >= 46
    card.screenshot(path=str(ARTIFACTS / "dashboard-quota-card.png"))
    screenshot(page, "dashboard-overview")

    page.click('a[data-filter="accepted"]')
    rows = page.locator('table[data-testid="verdicts"] tbody tr')
    assert set(rows.evaluate_all("rows => rows.map(row => row.dataset.kind)")) == {"accepted"}
    page.click(f'a:text-is("{seeded.surtax_id}")')
    page.wait_for_url(f"**/dashboard/declarations/{seeded.surtax_id}")
    assert page.locator("h1").inner_text() == seeded.surtax_id
    assert page.locator('[data-testid="outcome"]').inner_text().strip().lower() == "accepted"
    assert "93,334.00" in page.locator('table[data-testid="lines"]').inner_text()
    findings = page.locator('table[data-testid="findings"]').inner_text()
    assert "WTO-" in findings and "GATT" in findings
    verification = page.locator('[data-testid="verification"]')
    assert verification.get_attribute("data-verified") == "true"
    assert "Chain verified" in verification.inner_text()
    first = page.locator('table[data-testid="trail"] tbody tr').first
    first.locator("summary").click()
    assert "body_sha256" in first.locator("pre").inner_text()
    screenshot(page, "dashboard-declaration")

    page.click("nav.nav >> text=Measures")
    page.fill("#as_of", "2026-03-10")
    page.click("form.as-of button")
    page.wait_for_url(re.compile(r".*/dashboard/measures\?as_of=2026-03-10"))
    checks = page.locator('[data-measure-id="CA-CN-EV-TRQ-2026"] table[data-testid="checks"]')
    assert "WTO-EVTRQ-ILA-1.4A" in checks.inner_text()
    screenshot(page, "dashboard-measures")

    page.click("text=Sign out")
    page.wait_for_url("**/dashboard/login")
    page.goto(f"{stack.url}/dashboard")
    assert "/dashboard/login" in page.url


def test_submitter_sees_its_own_importer_and_not_another(
    page: Any, stack: Stack, seeded: Seeded
) -> None:
    """A broker's dashboard lists its importer's declarations; another's page is not found."""
    sign_in(page, stack, "submitter", start=f"/dashboard/declarations/{seeded.held_id}")
    assert page.url == f"{stack.url}/dashboard/declarations/{seeded.held_id}"  # back where asked
    assert page.locator('[data-testid="outcome"]').inner_text().strip().lower() == "held"
    assert page.locator('[data-testid="role"]').inner_text().lower().startswith("submitter")
    page.goto(f"{stack.url}/dashboard")
    verdicts = page.locator('table[data-testid="verdicts"]').inner_text()
    assert seeded.surtax_id in verdicts
    assert seeded.other_id not in verdicts
    screenshot(page, "dashboard-submitter")
    response = page.goto(f"{stack.url}/dashboard/declarations/{seeded.other_id}")
    assert response.status == 404
    assert page.locator("h1").inner_text() == "Declaration not found"


def test_a_wrong_token_is_refused_on_the_form(page: Any, stack: Stack) -> None:
    """Signing in with an unknown token shows the form again with the error and no session."""
    page.goto(f"{stack.url}/dashboard/login")
    page.fill("#token", "certainly-not-a-token")
    page.click("button[type=submit]")
    assert page.locator('[role="alert"]').inner_text() == "That token is not valid."
    assert not [item for item in page.context.cookies() if item["name"] == "accord_session"]
    screenshot(page, "dashboard-login-refused")
