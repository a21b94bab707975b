"""The dashboard's pages fit the screen, in headless Chromium against the running stack, at
a phone's width and at 1024 and 1366 pixels: no page scrolls sideways and no table is cut;
each quota card adds up on the page (read off the DOM: volume + carried over − drawn +
returned = remaining, and the permits' issued = used + returned + outstanding), with the
figures, words and dates `accord quotas` prints. Screenshots under tests/artifacts/."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import Any

import pytest

from conftest import ROOT, Stack

from .conftest import ARTIFACTS, Seeded
from .test_browser import sign_in

pytestmark = [pytest.mark.stack, pytest.mark.browser]

WIDTHS = {"phone": (390, 844), "1024": (1024, 768), "1366": (1366, 768)}
EV_QUOTA = "CA-CN-EV-TRQ-2026"
AS_OF = "2026-11-30"  # quota year 1's second half: the first is closed and carried forward


def pages(seeded: Seeded) -> dict[str, str]:
    return {
        "overview": "/dashboard",
        "overview-as-of": f"/dashboard?as_of={AS_OF}",
        "declaration": f"/dashboard/declarations/{seeded.surtax_id}",
        "measures": "/dashboard/measures?as_of=2026-03-10",
        "arrangement": "/dashboard/arrangements/CA-CN-2026",
    }


@pytest.fixture
def sized(browser: Any, request: pytest.FixtureRequest) -> Any:
    """A page of the viewport the test's `width` names (a phone's is a touch screen)."""
    width, height = WIDTHS[request.param]
    context = browser.new_context(
        viewport={"width": width, "height": height},
        device_scale_factor=1,
        is_mobile=request.param == "phone",
        has_touch=request.param == "phone",
    )
    context.set_default_timeout(15_000)
    try:
        yield request.param, context.new_page()
    finally:
        context.close()


def number(text: str) -> int:
    return int(text.strip().replace(",", "").replace("−", "-"))


def overflowing(page: Any) -> list[str]:
    """The elements wider than their box (a cut table, a card its content spills out of)."""
    found: list[str] = page.evaluate(
        """() => [...document.querySelectorAll('.table-wrap, .card, .page, table')]
             .filter(el => el.scrollWidth > el.clientWidth + 1)
             .map(el => `${el.tagName.toLowerCase()}.${[...el.classList].join('.')}`
                        + `[${el.dataset.testid || ''}] ${el.scrollWidth}>${el.clientWidth}`)"""
    )
    return found


@pytest.mark.parametrize("sized", list(WIDTHS), indirect=True)
def test_no_dashboard_page_scrolls_sideways(sized: Any, stack: Stack, seeded: Seeded) -> None:
    """At a phone's width, 1024 and 1366 pixels every page fits the window: no sideways
    scroll, no card or table wider than its box (the verdict list's last column is whole)."""
    width, page = sized
    sign_in(page, stack, "auditor")
    for name, path in pages(seeded).items():
        response = page.goto(f"{stack.url}{path}")
        assert response.status == 200, path
        page.screenshot(path=str(ARTIFACTS / f"layout-{name}-{width}.png"), full_page=True)
        scroll = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert scroll[0] <= scroll[1], f"{path} at {width}: {scroll}"
        assert overflowing(page) == [], f"{path} at {width}"
        if name == "overview":
            verdicts = page.locator('table[data-testid="verdicts"]')
            last = verdicts.locator("tbody tr").first.locator("td").last
            box, table = last.bounding_box(), verdicts.bounding_box()
            assert box is not None and table is not None
            assert box["x"] + box["width"] <= table["x"] + table["width"] + 1
            assert box["x"] + box["width"] <= page.viewport_size["width"]
    page.goto(f"{stack.url}/dashboard/login")
    scroll = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll[0] <= scroll[1]


def card_figures(card: Any) -> dict[str, Any]:
    """What a quota card shows, read off the page: the headline's terms with their signs,
    and each period's and each permit row's figures by field."""
    terms = card.locator('[data-testid="balance"] .term').evaluate_all(
        """terms => terms.map(term => [term.dataset.term,
             (term.querySelector('.op') || {}).textContent || '',
             term.querySelector('.value').textContent])"""
    )
    tables = {}
    for name in ("periods", "permit-utilisation"):
        table = card.locator(f'table[data-testid="{name}"]')
        if table.count():
            tables[name] = table.locator("tbody tr").evaluate_all(
                """rows => rows.map(row => Object.assign(
                     {start: row.dataset.start, current: row.classList.contains('row-current'),
                      period: row.cells[0].textContent.trim()},
                     ...[...row.querySelectorAll('[data-field]')].map(
                        cell => ({[cell.dataset.field]: cell.textContent})) ))"""
            )
    header = [
        item.strip().lower()
        for item in card.locator('table[data-testid="periods"] thead th').all_inner_texts()
    ]
    return {"terms": terms, "header": header, **tables}


def reconciles(row: dict[str, str]) -> bool:
    left = (
        number(row["volume"]) + number(row["carried_over"]) - number(row["used"])
        + number(row["returned"]) - number(row.get("granted", "0"))
    )  # fmt: skip
    right = (
        number(row["remaining"]) + number(row["carried_forward"]) + number(row.get("lapsed", "0"))
    )
    return left == right


@pytest.mark.parametrize("sized", ["1366"], indirect=True)
def test_each_quota_card_adds_up_on_the_page_as_the_cli_prints_it(
    sized: Any, stack: Stack, seeded: Seeded
) -> None:
    """Each card's headline is a sum that holds (its signs and figures read off the page)
    and equals its period's row; every period row and permit row adds up; and the EV
    quota's periods show the figures, words and dates `accord quotas` prints."""
    _, page = sized
    sign_in(page, stack, "auditor")
    cards_seen = 0
    for path in ("/dashboard", f"/dashboard?as_of={AS_OF}"):
        page.goto(f"{stack.url}{path}")
        for card in page.locator('article[data-testid="quota"]').all():
            shown = card_figures(card)
            total, equals = 0, None
            for name, op, value in shown["terms"]:
                sign = {"": 1, "+": 1, "−": -1, "=": 0}[op.strip()]
                if op.strip() == "=":
                    equals, total = total, number(value)
                    continue
                total += sign * number(value)
                assert name != "remaining"
            assert equals is not None and equals == total, shown["terms"]
            figures = {name: value for name, _, value in shown["terms"]}
            [current] = [row for row in shown["periods"] if row["current"]]
            for field, term in (("volume", "volume"), ("carried_over", "carried_over"),
                                ("used", "drawn"), ("returned", "returned"),
                                ("remaining", "remaining")):  # fmt: skip
                assert number(current[field]) == number(figures[term])
            assert all(reconciles(row) for row in shown["periods"]), shown["periods"]
            for row in shown.get("permit-utilisation", []):
                assert number(row["issued"]) == (
                    number(row["used"]) + number(row["returned"]) + number(row["outstanding"])
                )
            cards_seen += 1
    assert cards_seen >= 2
    card = page.locator(f'article[data-quota-id="{EV_QUOTA}"]')
    card.screenshot(path=str(ARTIFACTS / "layout-ev-quota-card.png"))
    dashboard = card_figures(card)
    env = {**os.environ, "ACCORD_API_URL": stack.url, "ACCORD_TOKEN": stack.tokens["auditor"]}
    printed = subprocess.run(
        [sys.executable, "-m", "cli.main", "quotas", EV_QUOTA, "--as-of", AS_OF],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=60, check=True,
    ).stdout  # fmt: skip
    lines = printed.split("\nperiods (", 1)[1].splitlines()
    header = lines[1].split()
    assert [word.replace("_", " ") for word in header] == dashboard["header"]
    for row in dashboard["periods"]:
        line = next(item for item in lines if item.startswith(f"{row['start']}.."))
        cli = dict(zip(header, line.split(), strict=True))
        assert cli["period"] == re.sub(r"\s*–\s*", "..", row["period"])
        for field in ("volume", "carried_over", "returned", "remaining", "carried_forward"):
            assert number(cli[field]) == number(row[field]), field
        assert number(cli["drawn"]) == number(row["used"])
