"""The quota chart and the sub-quota bars as geometry in SVG user units, computed from a
period and its ledger events; the template draws them, so the page needs no script."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from babel import dates

from schemas.ledger import PeriodFigures, QuotaEvent
from service.dashboard.formatting import instant, moment, rate, units
from service.dashboard.words import Words, words


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class Marker:
    x: float
    y: float
    kind: str
    label: str


@dataclass(frozen=True)
class QuotaChart:
    """Geometry of one period's utilisation chart, in SVG user units; the template draws it."""

    width: int
    height: int
    left: float
    top: float
    right: float
    bottom: float
    used_area: str
    used_line: str
    until_x: float
    reserved_top: float | None
    reserved_bottom: float | None
    threshold_y: float
    threshold_label: str
    y_ticks: tuple[Tick, ...]
    x_ticks: tuple[Tick, ...]
    now_x: float | None
    now_label: str
    markers: tuple[Marker, ...]
    level_y: float  # the latest used level, labelled beside the end of the line
    level_label: str
    level_label_x: float
    level_label_y: float
    level_anchor: str
    points: int
    description: str


def used_over_time(events: Iterable[QuotaEvent], total: int) -> list[tuple[datetime, int]]:
    """Units used after each ledger event: the period's total less its balance. Opening and
    carry-over set the total itself, so nothing is used at those events."""
    points: list[tuple[datetime, int]] = []
    for event in sorted(events, key=lambda item: item.at):
        try:
            at = instant(event.at)
        except ValueError:
            continue
        if event.type in ("opened", "carried_over"):
            used = points[-1][1] if points else 0
        else:
            used = total - event.balance_after
        points.append((at, max(0, min(total, used))))
    return points


def _month_ticks(start: datetime, end: datetime) -> list[datetime]:
    span_days = (end - start).days
    if span_days < 45:
        step = 7 if span_days > 10 else 1
        return [start + timedelta(days=offset) for offset in range(0, span_days, step)]
    ticks = []
    day = date(start.year, start.month, 1)
    while True:
        moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
        if moment >= end:
            break
        if moment >= start:
            ticks.append(moment)
        day = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    stride = max(1, -(-len(ticks) // 8))
    return ticks[::stride]


def _day_label(at: datetime, first: bool, monthly: bool, locale: str) -> str:
    """A tick's label in the locale: "Jan 2027" at the first tick and each January, the
    month alone between; on a short period the day ("Jul 1", "1 juill.", "7月1日")."""
    skeleton = ("yMMM" if first or at.month == 1 else "MMM") if monthly else "MMMd"
    return dates.format_skeleton(skeleton, at.date(), locale=locale)


def quota_chart(
    period: PeriodFigures,
    events: Sequence[QuotaEvent],
    critical_threshold: Decimal,
    now: datetime,
    unit: str = "",
    width: int = 720,
    height: int = 260,
    language: Words | None = None,
) -> QuotaChart:
    """Used units over the period as a step area, the critical threshold as a line at
    threshold × total, the sub-quotas' unused reserve as a band under the top; its
    labels and description in `language` (English by default)."""
    said = language or words()
    locale = said.babel_locale
    left, top, right, bottom = 48.0, 14.0, width - 14.0, height - 30.0
    total = period.available
    scale_total = max(total, 1)
    start = datetime.combine(period.start, datetime.min.time(), UTC)
    end = datetime.combine(period.end + timedelta(days=1), datetime.min.time(), UTC)
    points = used_over_time(events, total)
    if points:  # evaluations after the period's end (or replays) still show
        start, end = min(start, points[0][0]), max(end, points[-1][0] + timedelta(hours=1))
    span = (end - start).total_seconds()

    def x(moment: datetime) -> float:
        return round(left + (moment - start).total_seconds() / span * (right - left), 2)

    def y(units: float) -> float:
        return round(bottom - units / scale_total * (bottom - top), 2)

    until = min(max(now, start), end)
    line = [f"M{x(start)},{y(0)}"]
    for at, used in _one_per_pixel(points, x):
        line.append(f"H{x(at)}V{y(used)}")
    line.append(f"H{x(until)}")
    used_line = "".join(line)
    used_area = f"{used_line}V{y(0)}Z"

    reserved_left = sum(sub.remaining for sub in period.sub_quotas)
    reserved_top = reserved_bottom = None
    if reserved_left > 0 and total > 0:
        reserved_top, reserved_bottom = y(total), y(total - reserved_left)

    threshold_units = critical_threshold * total
    threshold_label = said.gettext("critical %(rate)s", rate=rate(critical_threshold, locale))
    y_ticks = tuple(
        Tick(y(total * quarter / 4), rate(Decimal(quarter) / 4, locale)) for quarter in range(5)
    )
    monthly = (end - start).days >= 45
    x_ticks = tuple(
        Tick(x(moment), _day_label(moment, index == 0, monthly, locale))
        for index, moment in enumerate(_month_ticks(start, end))
    )
    now_x = x(now) if start <= now <= end else None
    markers = tuple(
        Marker(
            x(instant(event.at)),
            y(max(0, total - event.balance_after)),
            event.type,
            said.gettext(
                "%(event)s at %(moment)s",
                event=said.term(event.type),
                moment=moment(event.at, seconds=False, locale=locale),
            ),
        )
        for event in events
        if event.type in ("critical", "exhausted", "reopened") and event.at
    )
    used_now = points[-1][1] if points else 0
    level_y = y(used_now)
    near_right = x(until) > right - 90
    description = said.gettext(
        "%(used)s of %(total)s %(unit)s used (%(share)s) between %(start)s and %(end)s; "
        "critical threshold %(rate)s (%(threshold)s %(unit)s).",
        used=units(used_now, locale),
        total=units(total, locale),
        unit=unit,
        share=share(used_now, total, locale),
        start=period.start,
        end=period.end,
        rate=rate(critical_threshold, locale),
        threshold=units(threshold_units.to_integral_value(), locale),
    )
    return QuotaChart(
        width=width,
        height=height,
        left=left,
        top=top,
        right=right,
        bottom=bottom,
        used_area=used_area,
        used_line=used_line,
        until_x=x(until),
        reserved_top=reserved_top,
        reserved_bottom=reserved_bottom,
        threshold_y=y(float(threshold_units)),
        threshold_label=threshold_label,
        y_ticks=y_ticks,
        x_ticks=x_ticks,
        now_x=now_x,
        now_label=said.gettext("now"),
        markers=markers,
        level_y=level_y,
        level_label=said.gettext("%(used)s used", used=units(used_now, locale)),
        level_label_x=x(until) + (-8 if near_right else 8),
        level_label_y=level_y - 7 if level_y - 7 > top + 12 else level_y + 15,
        level_anchor="end" if near_right else "start",
        points=len(points),
        description=description,
    )


def _one_per_pixel(
    points: list[tuple[datetime, int]], x: Callable[[datetime], float]
) -> list[tuple[datetime, int]]:
    """The last point in each horizontal pixel: a busy period's path stays small."""
    kept: dict[int, tuple[datetime, int]] = {}
    for point in points:
        kept[int(x(point[0]))] = point
    return list(kept.values())


def share(part: int, whole: int, locale: str | None = None) -> str:
    """part of whole as a percentage to a tenth ("12.5%"; a whole number without ".0")."""
    value = Decimal(part) / Decimal(whole) if whole > 0 else Decimal(0)
    held = (value * 100).quantize(Decimal("0.1")).normalize() / 100
    return rate(held, locale or words().babel_locale)


@dataclass(frozen=True)
class Bar:
    """A horizontal bar of used against reserved units (a sub-quota)."""

    name: str
    reserved: int
    used: int
    remaining: int
    used_width: float
    width: float


def sub_quota_bars(period: PeriodFigures, width: float = 240.0) -> list[Bar]:
    bars = []
    for sub in period.sub_quotas:
        used = max(0, sub.used)
        filled = min(used / sub.reserved, 1.0) if sub.reserved > 0 else 0.0
        bars.append(
            Bar(
                name=sub.name,
                reserved=sub.reserved,
                used=used,
                remaining=sub.remaining,
                used_width=round(filled * width, 2),
                width=width,
            )
        )
    return bars
