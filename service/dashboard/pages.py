"""What the dashboard's pages show, built from the API's typed answers (service/views.py)
and the store's declaration summaries: rows, pagers, a declaration's lines beside their
verdict, the audit trail's rows, the period to chart and the day asked for."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from rules.catalog import Catalog
from rules.translations import PackTexts
from schemas.audit import AuditEvent
from schemas.declaration_fields import EARLIEST_DAY, LATEST_DAY
from schemas.ledger import PeriodFigures, QuotaEvent, QuotaView
from schemas.responses import AuditTrail
from schemas.verdict import DeclarationStatus
from service import views
from service.dashboard.chart import Bar, QuotaChart, quota_chart, share, sub_quota_bars
from service.dashboard.formatting import amount
from service.dashboard.words import Words, words
from store import DeclarationRecord, DeclarationSummary

RECENT_WINDOW = 100  # submissions read (their summaries only) for the latest verdicts
RECENT_SHOWN = 50
LINES_PER_PAGE = 50  # a declaration's page: its lines, and their findings, per page
TRAIL_PER_PAGE = 50  # and its audit events per page (verification covers them all)
EVENTS_SHOWN = 50
EVENTS_READ = 1000  # the latest ledger events read for a period's chart
OUTCOME_FILTERS = ("all", "accepted", "rejected", "held", "pending", "failed", "cancelled")
PENDING = ("queued", "evaluating", "pending_allocation")


def verdict_kind(status: str, outcome: str | None) -> str:
    """The latest-verdicts filter a declaration falls under."""
    if status == "decided" and outcome:
        return outcome
    if status in PENDING:
        return "pending"
    return status


def stored_body(text: str) -> dict[str, Any]:
    try:
        body = json.loads(text)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def verdict_row(summary: DeclarationSummary) -> dict[str, Any]:
    """One row of the latest verdicts, from the declaration's summary alone."""
    return {
        "declaration_id": summary.declaration_id,
        "importer": summary.importer_name,
        "business_number": summary.business_number,
        "accepted_at": summary.accepted_at,
        "status": summary.status,
        "outcome": summary.outcome,
        "kind": verdict_kind(summary.status, summary.outcome),
        "lines": summary.line_count,
        "errors": summary.errors,
        "warnings": summary.warnings,
        "total_duty": summary.total_duty,
        "currency": summary.currency,
        "decided_at": summary.decided_at,
        "submitted_at": summary.submitted_at,
    }


@dataclass(frozen=True)
class Pager:
    """One page of a long list on a declaration's page: which items it shows and the
    pages either side (None at the ends)."""

    page: int
    pages: int
    first: int  # 1-based position of the first item shown (0 when there are none)
    last: int
    total: int
    previous: int | None
    next: int | None

    @classmethod
    def of(cls, asked: str | None, total: int, size: int) -> Pager:
        """The page asked for (`?page=`), held within the pages there are: a bad or
        out-of-range number shows the nearest page rather than an error."""
        pages = max(1, -(-total // size))
        try:
            page = int(asked or 1)
        except ValueError:
            page = 1
        page = min(max(page, 1), pages)
        first = (page - 1) * size
        return cls(
            page=page,
            pages=pages,
            first=first + 1 if total else 0,
            last=min(first + size, total),
            total=total,
            previous=page - 1 if page > 1 else None,
            next=page + 1 if page < pages else None,
        )

    def cut(self, items: Sequence[Any]) -> list[Any]:
        return list(items[max(self.first - 1, 0) : self.last])


def declaration_lines(body: dict[str, Any], status: DeclarationStatus) -> list[dict[str, Any]]:
    """The declared lines (as the stored body has them) with their verdict lines beside."""
    decided = {item.line: item for item in status.lines or ()}
    out = []
    for line in body.get("lines") or []:
        out.append({"declared": line, "verdict": decided.get(line.get("line"))})
    return out


def audit_summary(event: dict[str, Any], currency: str = "", language: Words | None = None) -> str:
    """One line on what an audit event records (amounts in `currency`, the verdict's), in
    `language`; rule ids, references, measures and statuses as the record holds them."""
    said = language or words()
    locale = said.babel_locale
    data = event.get("data") or {}
    kind = event.get("type")
    if kind == "rule_decision":
        where = (
            said.gettext("line %(line)s", line=data["line"])
            if data.get("line") is not None
            else said.gettext("measure")
        )
        severity = said.term(data.get("severity"))
        return f"{data.get('rule')} · {severity} · {where} · {data.get('reference')}"
    if kind == "measure_checks":
        checks = data.get("checks") or []
        return "; ".join(
            said.gettext(
                "%(measure)s as of %(day)s: %(count)s checks",
                measure=item.get("measure"),
                day=item.get("as_of"),
                count=len(item.get("rules") or []),
            )
            for item in checks
        )
    if kind == "received":
        return said.gettext(
            "submitted by %(who)s, importer %(importer)s",
            who=data.get("submitted_by"),
            importer=data.get("business_number"),
        )
    if kind == "verdict":
        return said.gettext(
            "outcome %(outcome)s, total duty %(amount)s",
            outcome=said.term(data.get("outcome")),
            amount=amount(data.get("total_duty"), currency, locale),
        )
    if kind == "duties":
        lines = data.get("lines") or []
        return "; ".join(
            said.gettext(
                "line %(line)s: %(treatment)s, %(amount)s",
                line=item.get("line"),
                treatment=said.term(item.get("treatment")),
                amount=amount(item.get("total_duty"), currency, locale),
            )
            for item in lines
        )
    if kind == "evaluated":
        packs = ", ".join(f"{ref['id']} {ref['version']}" for ref in data.get("rule_packs", []))
        return said.gettext(
            "as of %(day)s with %(packs)s",
            day=data.get("as_of"),
            packs=packs or said.gettext("no pack"),
        )
    if kind == "quota_allocation":
        lines = data.get("lines") or []
        return "; ".join(
            said.gettext(
                "line %(line)s: %(status)s %(units)s in quota",
                line=item.get("line"),
                status=said.term(item.get("status")),
                units=item.get("in_quota", ""),
            )
            for item in lines
        ) or said.term(data.get("status", "no quota lines"))
    scalars = [
        f"{name} {value}"
        for name, value in data.items()
        if isinstance(value, str | int | float | bool) and value != ""
    ]
    return ", ".join(scalars[:4])


def audit_rows(
    trail: AuditTrail,
    events: Sequence[AuditEvent] | None = None,
    currency: str = "",
    language: Words | None = None,
) -> list[dict[str, Any]]:
    """The rows of `events` (by default the whole trail), each with a one-line summary
    and whether verification reached it: verified, the first broken one, or unchecked."""
    bad = trail.first_bad_seq
    rows = []
    for event in trail.events if events is None else events:
        if trail.verified or bad is None or event.seq < bad:
            check = "verified"
        elif event.seq == bad:
            check = "broken"
        else:
            check = "unverified"
        shown = event.model_dump()
        summary = audit_summary(shown, currency, language)
        rows.append({**shown, "summary": summary, "check": check})
    return rows


def choose_period(view: QuotaView, as_of: date) -> tuple[PeriodFigures | None, str]:
    """The period to chart and what it is to `as_of`: current, upcoming or past."""
    if view.period is not None:
        return view.period, "current"
    periods = view.periods or ()
    later = [item for item in periods if item.start > as_of]
    if later:
        return later[0], "upcoming"
    return (periods[-1], "past") if periods else (None, "none")


@dataclass(frozen=True)
class QuotaCard:
    """One quota on the overview: the period charted and what it is to the day shown,
    its figures as the ledger's read model gives them, the chart, the sub-quota bars
    and the latest events (newest first), with the declarations the viewer may open."""

    quota: QuotaView
    period: PeriodFigures
    relation: str
    status: str
    total: int
    used: int
    used_share: str
    remaining: int
    reserved_left: int
    threshold_units: int
    chart: QuotaChart
    bars: list[Bar]
    events: list[QuotaEvent]
    event_count: int
    linkable: set[str]
    granted_column: bool  # a column for granted / lapsed units, where any period has some
    lapsed_column: bool
    permits_lapsed_column: bool  # permits' units that came back after their quota year


def quota_card(
    view: QuotaView,
    day: date,
    now: datetime,
    openable: Callable[[Iterable[str | None]], set[str]],
    language: Words | None = None,
) -> QuotaCard | None:
    """The overview's card of a quota on `day` (None for a quota with no period), from
    its view with the latest EVENTS_READ events of the year."""
    period, relation = choose_period(view, day)
    if period is None:
        return None
    events = [
        item
        for item in (view.events.events if view.events is not None else ())
        if item.period == period.start.isoformat()
    ]
    threshold = Decimal(view.critical_threshold)
    total, used = period.available, period.net_used
    latest = events[-EVENTS_SHOWN:][::-1]
    return QuotaCard(
        quota=view,
        period=period,
        relation=relation,
        status=period.status,
        total=total,
        used=used,
        used_share=share(used, total, (language or words()).babel_locale),
        remaining=period.remaining,
        reserved_left=period.reserved_left,
        threshold_units=int((threshold * total).to_integral_value()),
        chart=quota_chart(period, events, threshold, now, view.unit, language=language),
        bars=sub_quota_bars(period),
        events=latest,
        event_count=len(events),
        linkable=openable(item.declaration_id for item in latest),
        granted_column=any(item.granted for item in view.periods or ()),
        lapsed_column=any(item.lapsed for item in view.periods or ()),
        permits_lapsed_column=any(
            item.permits is not None and item.permits.lapsed for item in view.periods or ()
        ),
    )


def parse_day(
    text: str | None, default: date, language: Words | None = None
) -> tuple[date, str | None, int]:
    """The day a page shows, a notice when it is not the one asked for, and the status:
    422 for a date outside the range every endpoint accepts (at the ends of the calendar
    the quota and period arithmetic overflows), as the API answers for its as_of."""
    said = language or words()
    if not text:
        return default, None, 200
    try:
        day = date.fromisoformat(text)
    except ValueError:
        notice = said.gettext(
            "“%(text)s” is not a date (YYYY-MM-DD); showing %(day)s.",
            text=text,
            day=default.isoformat(),
        )
        return default, notice, 200
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        notice = said.gettext(
            "as_of must be between %(first)s and %(last)s; showing %(day)s.",
            first=EARLIEST_DAY.isoformat(),
            last=LATEST_DAY.isoformat(),
            day=default.isoformat(),
        )
        return default, notice, 422
    return day, None, 200


def declaration_page(
    record: DeclarationRecord,
    trail: AuditTrail,
    page_asked: str | None,
    trail_asked: str | None,
    language: Words | None = None,
    texts: PackTexts | None = None,
) -> dict[str, Any]:
    """A declaration, its verdict and its trail: at most LINES_PER_PAGE lines (with their
    findings) and TRAIL_PER_PAGE audit events per page, however large it is; the packs'
    texts in `language` as the API reads them (`texts`, the catalog's)."""
    said = language or words()
    status = views.declaration_status(record, texts, said.language)
    body = stored_body(record.body)
    lines = declaration_lines(body, status)
    lines_pager = Pager.of(page_asked, len(lines), LINES_PER_PAGE)
    shown = lines_pager.cut(lines)
    on_page = {item["declared"].get("line") for item in shown}
    findings = status.findings or ()
    trail_pager = Pager.of(trail_asked, len(trail.events), TRAIL_PER_PAGE)
    return {
        "record": record,
        "status": status,
        "body": body,
        "kind": verdict_kind(record.status, status.outcome),
        "lines": shown,
        "lines_pager": lines_pager,
        "findings": [item for item in findings if item.line is None or item.line in on_page],
        "findings_total": len(findings),
        "trail": trail,
        "rows": audit_rows(trail, trail_pager.cut(trail.events), status.currency or "", language),
        "trail_pager": trail_pager,
    }


def measures_page(catalog: Catalog, day: date, language: Words | None = None) -> dict[str, Any]:
    """The measures in force on `day` with their checks, and every other measure of the
    current packs with its dates; the packs' texts in `language`, as the API reads them."""
    lang = (language or words()).language
    in_force = []
    listed = views.in_language(views.measures(catalog, day), catalog.texts, lang).measures
    for summary in listed:
        found = catalog.measure_on(summary.id, day)
        checks = (
            views.in_language(
                views.checks(found[0], found[1], day, catalog.current), catalog.texts, lang
            )
            if found
            else None
        )
        in_force.append({"measure": summary, "checks": checks})
    shown = {summary.id for summary in listed}
    others = [
        {
            "id": measure.id,
            "title": catalog.texts.text(measure.title, lang),
            "pack": pack.id,
            "version": pack.version,
            "from": measure.effective.start.isoformat(),
            "to": measure.effective.end.isoformat() if measure.effective.end else None,
        }
        for pack in catalog.current
        for measure in pack.measures
        if measure.id not in shown
    ]
    return {"in_force": in_force, "others": others}
