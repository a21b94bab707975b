"""The arrangement timeline of the dashboard: both sides' measures as bars over the
arrangement's years, and the linkage findings at the dates they first hold. Geometry
only, in SVG user units; the template draws it, server-side, with no script (like the
quota chart)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from rules.arrangement import Arrangement
from rules.catalog import Catalog
from schemas.arrangement import ArrangementView, LinkageEvent
from service import arrangements, views
from service.dashboard.formatting import day as day_label
from service.dashboard.words import Words, words

LABEL_WIDTH = 190.0  # the measure ids, left of the plot
ROW = 26.0
BAR = 14.0
LANE_HEAD = 24.0


@dataclass(frozen=True)
class Tick:
    x: float
    label: str
    major: bool


@dataclass(frozen=True)
class Lane:
    party: str
    jurisdiction: str
    y: float
    height: float


@dataclass(frozen=True)
class TimelineBar:
    measure: str
    title: str
    jurisdiction: str
    status: str
    row_y: float  # the row's centre line
    x: float
    y: float
    width: float
    height: float
    continues: bool  # runs on past the timeline's end (or has no end)
    period: str


@dataclass(frozen=True)
class TimelineMarker:
    day: str
    measure: str
    rule: str
    severity: str
    x: float
    y: float
    points: str  # a diamond for a warning, a circle is drawn for information
    label: str


@dataclass(frozen=True)
class Timeline:
    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    lanes: tuple[Lane, ...]
    bars: tuple[TimelineBar, ...]
    markers: tuple[TimelineMarker, ...]
    ticks: tuple[Tick, ...]
    as_of_x: float | None
    as_of_label: str
    description: str


def _quarters(start: date, end: date) -> list[date]:
    found = []
    day = date(start.year, ((start.month - 1) // 3) * 3 + 1, 1)
    while day <= end:
        if day >= start:
            found.append(day)
        month = day.month + 3
        day = date(day.year + (month - 1) // 12, (month - 1) % 12 + 1, 1)
    return found


def arrangement_timeline(
    arrangement: ArrangementView,
    events: tuple[LinkageEvent, ...],
    start: date,
    end: date,
    width: int = 960,
    language: Words | None = None,
) -> Timeline:
    """Bars from each measure's first day to the day after its last (open-ended ones run to
    the edge), one lane per side; linkage findings on their measure's row at their date;
    its words in `language` (English by default)."""
    said = language or words()
    locale = said.babel_locale
    left, right, top = LABEL_WIDTH, width - 16.0, 8.0
    first, after = start, end + timedelta(days=1)
    span = (after - first).days

    def x(day: date) -> float:
        clamped = min(max(day, first), after)
        return round(left + (clamped - first).days / span * (right - left), 2)

    lanes: list[Lane] = []
    bars: list[TimelineBar] = []
    rows: dict[str, float] = {}
    y = top
    for side in arrangement.sides:
        lane_top = y
        y += LANE_HEAD
        for measure in side.measures:
            centre = y + ROW / 2
            rows[measure.id] = centre
            last = measure.effective.end
            bar_start = x(measure.effective.start)
            bar_end = x(last + timedelta(days=1)) if last is not None else right
            until = last.isoformat() if last is not None else said.gettext("open-ended")
            bars.append(
                TimelineBar(
                    measure=measure.id,
                    title=measure.title,
                    jurisdiction=side.jurisdiction,
                    status=measure.status,
                    row_y=centre,
                    x=bar_start,
                    y=round(centre - BAR / 2, 2),
                    width=round(max(bar_end - bar_start, 2.0), 2),
                    height=BAR,
                    continues=last is None or last > end,
                    period=said.gettext(
                        "%(start)s to %(end)s", start=measure.effective.start.isoformat(), end=until
                    ),
                )
            )
            y += ROW
        lanes.append(Lane(side.party, side.jurisdiction, lane_top, y - lane_top))
    bottom = y + 4
    markers = []
    for event in events:
        finding = event.finding
        if finding.measure not in rows or not first <= event.day <= end:
            continue
        mx, my = x(event.day), rows[finding.measure]
        markers.append(
            TimelineMarker(
                day=event.day.isoformat(),
                measure=finding.measure,
                rule=finding.rule,
                severity=finding.severity,
                x=mx,
                y=my,
                points=f"{mx},{my - 7} {mx + 7},{my} {mx},{my + 7} {mx - 7},{my}",
                label=f"{day_label(event.day, locale)} · {finding.rule}: {finding.message}",
            )
        )
    ticks = tuple(
        Tick(
            x(day),
            str(day.year)
            if day.month == 1
            else said.gettext("Q%(quarter)s", quarter=(day.month + 2) // 3),
            day.month == 1,
        )
        for day in _quarters(first, end)
    )
    as_of = arrangement.as_of
    warnings = sum(1 for marker in markers if marker.severity != "info")
    description = said.gettext(
        "%(bars)s measures of %(lanes)s sides from %(first)s to %(last)s; "
        "%(markers)s linkage findings, %(warnings)s of them warnings.",
        bars=len(bars),
        lanes=len(lanes),
        first=day_label(first, locale),
        last=day_label(end, locale),
        markers=len(markers),
        warnings=warnings,
    )
    return Timeline(
        width=width,
        height=int(bottom + 28),
        left=left,
        right=right,
        top=top,
        bottom=bottom,
        lanes=tuple(lanes),
        bars=tuple(bars),
        markers=tuple(markers),
        ticks=ticks,
        as_of_x=x(as_of) if first <= as_of <= end else None,
        as_of_label=said.gettext("as of %(day)s", day=day_label(as_of, locale)),
        description=description,
    )


def page_context(
    catalog: Catalog, arrangement: Arrangement, day: date, language: Words | None = None
) -> dict[str, Any]:
    """What the arrangement page shows as of `day`: both sides, the linkage findings on
    the day and over the timeline, and the timeline's geometry (in `language`)."""
    said = language or words()
    shown = views.in_language(
        arrangements.view(catalog, arrangement, day), catalog.texts, said.language
    )
    events = tuple(
        views.in_language(event, catalog.texts, said.language)
        for event in arrangements.linkage_events(catalog, arrangement)
    )
    span = arrangement.timeline
    return {
        "a": shown,
        "events": events,
        "start": span.start.isoformat(),
        "end": span.end.isoformat(),
        "timeline": arrangement_timeline(shown, events, span.start, span.end, language=said),
    }
