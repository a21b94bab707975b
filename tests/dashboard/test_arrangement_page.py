"""The arrangement page: both sides' measures as bars on a server-drawn timeline, with the
linkage findings at their dates. The geometry is tested without IO, the page over HTTP
against the running stack, and in headless Chromium when there is one."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest

from conftest import Stack
from rules.catalog import load_catalog
from service import arrangements
from service.arrangement_timeline import page_context

from .conftest import ARTIFACTS, signed_in
from .test_browser import sign_in


def _context(day: date) -> dict[str, Any]:
    catalog = load_catalog()
    found = catalog.arrangement("CA-CN-2026")
    assert found is not None
    return page_context(catalog, found, day)


def test_the_timeline_draws_both_sides_over_2024_to_2027() -> None:
    """One lane per side, one bar per measure, ordered in time, within the plot."""
    timeline = _context(date(2027, 1, 1))["timeline"]
    assert [lane.jurisdiction for lane in timeline.lanes] == ["CA", "CN"]
    bars = {bar.measure: bar for bar in timeline.bars}
    assert {"CA-CN-EV-TRQ-2026", "CN-ADT-SUSP-2026", "CN-AD-RAPESEED-FINAL"} <= set(bars)
    for bar in timeline.bars:
        assert timeline.left <= bar.x and bar.x + bar.width <= timeline.right + 0.01
    suspension, quota = bars["CN-ADT-SUSP-2026"], bars["CA-CN-EV-TRQ-2026"]
    assert suspension.x == quota.x  # both begin on 2026-03-01
    assert suspension.x + suspension.width < timeline.right - 100  # ends with 2026
    assert quota.continues and quota.x + quota.width == timeline.right
    assert [tick.label for tick in timeline.ticks if tick.major] == ["2024", "2025", "2026", "2027"]


def test_the_linkage_findings_sit_at_their_dates_on_their_measures() -> None:
    """Information on 2026-03-01 on both sides; the lapse warnings on 2027-01-01."""
    context = _context(date(2027, 1, 1))
    timeline = context["timeline"]
    bars = {bar.measure: bar for bar in timeline.bars}
    warnings = {(m.measure, m.day) for m in timeline.markers if m.severity == "warning"}
    assert warnings == {
        ("CA-CN-EV-TRQ-2026", "2027-01-01"),
        ("CN-ADT-SUSP-2026", "2027-01-01"),
    }
    info = {m.measure for m in timeline.markers if m.severity == "info"}
    assert {"CA-CN-EV-TRQ-2026", "CN-ADT-SUSP-2026", "CN-AD-RAPESEED-FINAL"} <= info
    for marker in timeline.markers:
        assert marker.y == bars[marker.measure].row_y
    suspension = bars["CN-ADT-SUSP-2026"]
    lapse = next(m for m in timeline.markers if m.rule == "LINK-CN-SUSP-LAPSED")
    assert lapse.x == pytest.approx(suspension.x + suspension.width, abs=0.02)
    assert context["a"].warnings == 2


def test_the_linkage_events_are_asked_only_on_the_days_they_can_change() -> None:
    """Each finding is listed once, on the first day it holds."""
    catalog = load_catalog()
    found = catalog.arrangement("CA-CN-2026")
    assert found is not None
    events = arrangements.linkage_events(catalog, found)
    keys = [(event.finding.measure, event.finding.rule) for event in events]
    assert len(keys) == len(set(keys))
    # Canada's extended steel and aluminium remission stands alone from 2026-01-01 until
    # China's suspension matches it on 2026-03-01
    assert {event.day for event in events} == {
        date(2026, 1, 1),
        date(2026, 3, 1),
        date(2027, 1, 1),
    }


@pytest.mark.stack
def test_the_arrangement_page_renders_both_sides_and_the_warnings(stack: Stack) -> None:
    """As of 2027-01-01 the page draws every measure of both sides and two warnings."""
    with signed_in(stack, "auditor") as client:
        response = client.get("/dashboard/arrangements/CA-CN-2026", params={"as_of": "2027-01-01"})
        index = client.get("/dashboard/arrangements")
        missing = client.get("/dashboard/arrangements/NOPE")
    assert response.status_code == 200
    page = response.text
    svg = page[page.index('data-testid="arrangement-timeline"') :]
    svg = svg[: svg.index("</svg>")]
    lanes = re.findall(r'data-testid="lane" data-jurisdiction="(\w+)"', svg)
    assert lanes == ["CA", "CN"]
    bars = re.findall(r'data-testid="measure-bar" data-measure-id="([A-Z0-9-]+)"', svg)
    assert {"CA-CN-EV-TRQ-2026", "CN-ADT-SUSP-2026", "CN-AD-RAPESEED-FINAL"} <= set(bars)
    assert 'class="link-marker link-warning"' in svg
    assert "2 linkage warnings on Jan 1, 2027" in page
    assert "LINK-CN-SUSP-LAPSED" in page
    assert "<script" not in page
    assert index.status_code == 303
    assert index.headers["location"] == "/dashboard/arrangements/CA-CN-2026"
    assert missing.status_code == 404
    assert "Arrangement not found" in missing.text  # says what was not found
    assert "Declaration" not in missing.text


@pytest.mark.stack
@pytest.mark.browser
def test_the_arrangement_timeline_in_a_browser(page: Any, stack: Stack) -> None:
    """In Chromium the timeline shows both lanes, every bar and the lapse warnings."""
    sign_in(page, stack, "auditor", "/dashboard/arrangements/CA-CN-2026?as_of=2027-01-01")
    timeline = page.locator('svg[data-testid="arrangement-timeline"]')
    assert timeline.is_visible()
    assert page.locator('[data-testid="lane"]').count() == 2
    quota = page.locator('[data-measure-id="CA-CN-EV-TRQ-2026"] rect').bounding_box()
    suspension = page.locator('[data-measure-id="CN-ADT-SUSP-2026"] rect').bounding_box()
    assert quota is not None and suspension is not None
    assert quota["width"] > suspension["width"] > 20  # open-ended against ten months
    assert suspension["y"] > quota["y"]  # China's lane is below Canada's
    warnings = page.locator('[data-testid="linkage-marker"].link-warning')
    assert warnings.count() == 2
    timeline.screenshot(path=str(ARTIFACTS / "dashboard-arrangement-timeline.png"))
    page.screenshot(path=str(ARTIFACTS / "dashboard-arrangement.png"), full_page=True)
