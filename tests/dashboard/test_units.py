"""The dashboard's pure parts, without IO: the chart geometry, sessions, redirects and
number formatting."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from schemas.audit import AuditEvent
from schemas.ledger import EventType, PeriodFigures, QuotaEvent, SubQuotaFigures
from schemas.responses import AuditTrail
from service.auth import Principal, TokenBook, TokenEntry
from service.dashboard.chart import quota_chart, sub_quota_bars, used_over_time
from service.dashboard.formatting import money, rate, tariff, units
from service.dashboard.pages import audit_rows
from service.dashboard.sessions import Sessions, safe_next

ADMIN = "admin-token-0123456789"
BROKER = "broker-token-0123456789"

PERIOD = PeriodFigures(
    start=date(2026, 7, 1), end=date(2026, 12, 31), volume=50, carried_over=50, available=100,
    used=30, returned=0, net_used=30, reserved_left=16, granted=0, remaining=70,
    carried_forward=0, lapsed=0, status="open",
    sub_quotas=(SubQuotaFigures(name="affordable", reserved=20, used=4, remaining=16),),
)  # fmt: skip


def event(at: str, kind: EventType, quantity: int, before: int, after: int) -> QuotaEvent:
    return QuotaEvent(at=at, type=kind, quota_id="Q", period="2026-07-01", quantity=quantity,
                      balance_before=before, balance_after=after, declaration_id="d")  # fmt: skip


EVENTS = [
    event("2026-07-02T08:00:00.000000Z", "opened", 50, 0, 50),
    event("2026-07-02T08:00:00.000000Z", "carried_over", 50, 50, 100),
    event("2026-07-02T08:00:00.000000Z", "allocated", 10, 100, 90),
    event("2026-09-15T12:00:00.000000Z", "allocated", 24, 90, 66),
    event("2026-10-01T12:00:00.000000Z", "returned", 4, 66, 70),
]


def book() -> TokenBook:
    return TokenBook(
        (
            TokenEntry(token=ADMIN, role="admin"),
            TokenEntry(token=BROKER, role="submitter", business_number="123456789RM0001"),
        )
    )


def test_used_units_follow_the_balance_and_start_at_zero_at_opening() -> None:
    """Opening and carry-over use nothing; allocations and returns move used by the balance."""
    assert [used for _, used in used_over_time(EVENTS, 100)] == [0, 0, 10, 34, 30]


def test_chart_draws_the_threshold_at_its_share_of_the_total() -> None:
    """The critical line sits at 90% of volume plus carry-over, the reserve band under the top."""
    now = datetime(2026, 11, 28, 12, tzinfo=UTC)
    chart = quota_chart(PERIOD, EVENTS, Decimal("0.9"), now, "NMB")
    height = chart.bottom - chart.top
    assert chart.threshold_y == pytest.approx(chart.bottom - 0.9 * height, abs=0.01)
    assert chart.reserved_top == pytest.approx(chart.top, abs=0.01)
    assert chart.reserved_bottom == pytest.approx(chart.top + 0.16 * height, abs=0.01)
    assert chart.points == 5
    assert chart.now_x is not None and chart.left < chart.now_x < chart.right
    assert chart.used_area.endswith("Z")
    assert chart.used_line.count("V") == 3  # the three events of 2 July share one pixel
    assert [tick.label for tick in chart.x_ticks] == ["Jul 2026", "Aug", "Sep", "Oct", "Nov", "Dec"]
    assert "30 of 100 NMB used (30%)" in chart.description


def test_chart_of_an_unused_period_is_flat_and_says_so() -> None:
    """Without events the used line stays on the baseline and nothing is drawn after today."""
    fresh = PERIOD.model_copy(
        update={"carried_over": 0, "available": 50, "used": 0, "net_used": 0, "remaining": 50,
                "reserved_left": 0, "sub_quotas": ()}
    )  # fmt: skip
    chart = quota_chart(fresh, [], Decimal("0.9"), datetime(2026, 8, 1, tzinfo=UTC))
    assert chart.points == 0
    assert chart.reserved_top is None
    assert chart.used_line == f"M{chart.left},{chart.bottom}H{chart.until_x}"
    assert chart.until_x < chart.right


def test_chart_stretches_to_show_events_after_the_period_end() -> None:
    """An allocation recorded after the period's last day still appears on the chart."""
    late = [*EVENTS, event("2027-01-03T09:00:00Z", "allocated", 5, 70, 65)]
    chart = quota_chart(PERIOD, late, Decimal("0.9"), datetime(2027, 1, 4, tzinfo=UTC))
    assert chart.points == 6
    assert chart.x_ticks[-1].label == "Jan 2027"


def test_sub_quota_bars_scale_used_to_reserved() -> None:
    """A sub-quota bar's filled width is its used share of the reserved units."""
    [bar] = sub_quota_bars(PERIOD, width=200)
    assert (bar.name, bar.reserved, bar.used, bar.remaining) == ("affordable", 20, 4, 16)
    assert bar.used_width == pytest.approx(40.0)


def test_a_session_cookie_names_its_principal_and_never_holds_the_token() -> None:
    """A cookie issued for a token signs in that token's principal, and does not contain it."""
    sessions = Sessions(book(), "accord")
    issued = sessions.issue(BROKER, now=1_000_000)
    assert issued is not None
    cookie, principal = issued
    assert principal == Principal("submitter", "123456789RM0001")
    assert BROKER not in cookie
    assert sessions.principal(cookie, now=1_000_100) == principal
    assert sessions.issue("not-a-token-at-all", now=1_000_000) is None


def test_a_changed_expired_or_foreign_cookie_signs_in_nobody() -> None:
    """Changing any part, waiting past 12 hours, or another token book all refuse the cookie."""
    sessions = Sessions(book(), "accord")
    issued = sessions.issue(ADMIN, now=1_000_000)
    assert issued is not None
    cookie = issued[0]
    version, subject, when, mac = cookie.split(".")
    assert sessions.principal(f"{version}.{subject}.{int(when) + 1}.{mac}", 1_000_100) is None
    assert sessions.principal(f"{version}.{subject[::-1]}.{when}.{mac}", 1_000_100) is None
    # a digit that is no decimal digit (a latin-1 cookie byte read as "²") is refused too
    assert sessions.principal(f"{version}.{subject}.{when}\u00b2.{mac}", 1_000_100) is None
    assert sessions.principal(cookie, now=1_000_000 + 12 * 3600 + 1) is None
    assert sessions.principal(cookie, now=999_000) is None
    other_book = TokenBook((TokenEntry(token=ADMIN, role="admin"),))
    assert Sessions(other_book, "accord").principal(cookie, 1_000_100) is None
    assert Sessions(book(), "another-prefix").principal(cookie, 1_000_100) is None
    for junk in ("", "v1", "v1.a.b.c", "v2.x.1.y", "v1.!!.1.??"):
        assert sessions.principal(junk, 1_000_100) is None


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (None, "/dashboard"),
        ("/dashboard/declarations/X?y=1", "/dashboard/declarations/X?y=1"),
        ("/dashboard?outcome=held", "/dashboard?outcome=held"),
        ("https://evil.example/dashboard", "/dashboard"),
        ("//evil.example/dashboard", "/dashboard"),
        ("/dashboardevil", "/dashboard"),
        ("/v1/quotas", "/dashboard"),
        ("/dashboard\\..\\x", "/dashboard"),
    ],
)
def test_after_sign_in_the_browser_stays_on_the_dashboard(
    target: str | None, expected: str
) -> None:
    """The `next` target of sign-in is a dashboard path of this site, else the overview."""
    assert safe_next(target) == expected


def test_numbers_and_codes_are_formatted_for_reading() -> None:
    """Units get thousands separators, money two places, rates percent, tariff items dots."""
    assert units(49000) == "49,000"
    assert units("2") == "2"
    assert money("84880.00") == "84,880.00"
    assert rate("0.061") == "6.1%"
    assert rate("1") == "100%"
    assert tariff("8703800010") == "8703.80.00.10"


def test_audit_rows_mark_the_first_broken_event_and_what_follows() -> None:
    """Events before the first bad one are verified, it is broken, later ones unchecked."""
    events = tuple(AuditEvent(seq=seq, type="x", data={}, at="", hash="", prev="")
                   for seq in (1, 2, 3))  # fmt: skip
    trail = AuditTrail(
        declaration_id="D", verified=False, authenticated=False, authentication=None,
        head="", first_bad_seq=2, problem="hash mismatch", checkpoint=None, events=events,
    )  # fmt: skip
    rows = audit_rows(trail)
    assert [row["check"] for row in rows] == ["verified", "broken", "unverified"]
