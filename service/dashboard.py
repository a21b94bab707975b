"""The dashboard (SPEC §1): server-rendered pages for quota administrators, auditors and
brokers, over the same data as the API and with the same roles.

Pages are Jinja2 templates (`service/templates/dashboard/`) with the project's own CSS
(`service/static/`); nothing is loaded from another host, because customs networks are
often closed. The quota chart is an SVG drawn here from the ledger's events, so it needs
no script at all. Sign-in takes a token through a form and keeps a session cookie that
holds no token: a keyed digest of it, signed with its issue time, checked against the
token book on every request. The key is derived from the token book, so every API
process that reads the same tokens file accepts the same sessions, and any change to the
file (a token revoked, say) ends every session once the service restarts with it. Each
session also has a record in Redis (expiring with the cookie) that signing out deletes,
so a copied cookie dies with the sign-out instead of living out its 12 hours.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import jinja2
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from rules.catalog import Catalog
from rules.engine import percent
from schemas.audit import canonical_json
from schemas.declaration import EARLIEST_DAY, LATEST_DAY
from service import arrangement_timeline, views
from service.auth import Principal, TokenBook
from settings import Settings
from store.redis_store import DeclarationSummary, RedisStore

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

COOKIE_NAME = "accord_session"
COOKIE_PATH = "/dashboard"
SESSION_MAX_AGE = 12 * 60 * 60
RECENT_WINDOW = 100  # submissions read (their summaries only) for the latest verdicts
RECENT_SHOWN = 50
LINES_PER_PAGE = 50  # a declaration's page: its lines, and their findings, per page
TRAIL_PER_PAGE = 50  # and its audit events per page (verification covers them all)
EVENTS_SHOWN = 50
EVENTS_READ = 1000  # the latest ledger events read for a period's chart
OUTCOME_FILTERS = ("all", "accepted", "rejected", "held", "pending", "failed", "cancelled")
PENDING = ("queued", "evaluating", "pending_allocation")

# No scripts, no inline styles, nothing from another origin.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


# --- sessions --------------------------------------------------------------------------


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Sessions:
    """Session cookies `v1.<subject>.<issued>.<mac>`: the subject is an HMAC of the token
    (the cookie never holds the token itself), the mac binds subject and issue time."""

    def __init__(self, book: TokenBook, namespace: str = "", max_age: int = SESSION_MAX_AGE):
        material = canonical_json(
            {
                "namespace": namespace,
                "tokens": [
                    [entry.token, entry.role, entry.business_number] for entry in book.entries
                ],
            }
        )
        self._key = hashlib.sha256(b"accord dashboard session v1\0" + material.encode()).digest()
        self._book = book
        self._subjects = [
            (self._subject(entry.token), Principal(entry.role, entry.business_number))
            for entry in book.entries
        ]
        self.max_age = max_age

    def _subject(self, token: str) -> bytes:
        return hmac.new(self._key, b"subject\0" + token.encode(), hashlib.sha256).digest()

    def _mac(self, subject: bytes, issued: int) -> bytes:
        message = b"session\0" + subject + b"\0" + str(issued).encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def issue(self, token: str, now: float) -> tuple[str, Principal] | None:
        """A cookie value for a known token, or None."""
        principal = self._book.principal(token)
        if principal is None:
            return None
        subject, issued = self._subject(token), int(now)
        return f"v1.{_b64(subject)}.{issued}.{_b64(self._mac(subject, issued))}", principal

    def principal(self, cookie: str | None, now: float) -> Principal | None:
        """Who a cookie signs in, if it is genuine, fresh, and its token still known."""
        if not cookie:
            return None
        parts = cookie.split(".")
        if len(parts) != 4 or parts[0] != "v1" or not parts[2].isdigit():
            return None
        try:
            subject, mac = _unb64(parts[1]), _unb64(parts[3])
        except (binascii.Error, ValueError):
            return None
        issued = int(parts[2])
        if not hmac.compare_digest(mac, self._mac(subject, issued)):
            return None
        if not 0 <= now - issued <= self.max_age:
            return None
        found: Principal | None = None
        for known, principal in self._subjects:  # all of them, so timing tells nothing
            if hmac.compare_digest(known, subject):
                found = principal
        return found

    @staticmethod
    def session_id(cookie: str) -> str:
        """The name of a cookie's server-side record: a digest of its mac, which no two
        sessions share, so that the store holds nothing a cookie could be rebuilt from."""
        return hashlib.sha256(b"session id\0" + cookie.rpartition(".")[2].encode()).hexdigest()


def safe_next(target: str | None) -> str:
    """Where to go after sign-in: a dashboard path of this site, never another host."""
    if not target:
        return COOKIE_PATH
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target or not target.startswith(COOKIE_PATH):
        return COOKIE_PATH
    if target[len(COOKIE_PATH) : len(COOKIE_PATH) + 1] not in ("", "/", "?"):
        return COOKIE_PATH
    return target


def same_origin(request: Request) -> bool:
    """A form POST comes from a page of this site (login CSRF and cross-site sign-out are
    refused; SameSite=Strict already keeps the cookie off cross-site requests)."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True  # not a browser, or an old one: SameSite still holds
    return urlsplit(origin).netloc == request.url.netloc


# --- the quota chart -------------------------------------------------------------------


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


def instant(text: str) -> datetime:
    """An RFC 3339 timestamp of the store (UTC, 'Z') as an aware datetime."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def used_over_time(events: Iterable[dict[str, Any]], total: int) -> list[tuple[datetime, int]]:
    """Units used after each ledger event: the period's total less its balance. Opening and
    carry-over set the total itself, so nothing is used at those events."""
    points: list[tuple[datetime, int]] = []
    for event in sorted(events, key=lambda item: str(item.get("at", ""))):
        try:
            at = instant(str(event["at"]))
        except (KeyError, ValueError):
            continue
        if event.get("type") in ("opened", "carried_over"):
            used = points[-1][1] if points else 0
        else:
            used = total - int(event.get("balance_after") or 0)
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


def _day_label(moment: datetime, first: bool, monthly: bool) -> str:
    if monthly:
        return moment.strftime("%b %Y") if first or moment.month == 1 else moment.strftime("%b")
    return f"{moment.day} {moment.strftime('%b')}"


def quota_chart(
    period: dict[str, Any],
    events: Sequence[dict[str, Any]],
    critical_threshold: Decimal,
    now: datetime,
    unit: str = "",
    width: int = 720,
    height: int = 260,
) -> QuotaChart:
    """Used units over the period as a step area, the critical threshold as a line at
    threshold × total, the sub-quotas' unused reserve as a band under the top."""
    left, top, right, bottom = 48.0, 14.0, width - 14.0, height - 30.0
    total = int(period["volume"]) + int(period.get("carried_over") or 0)
    scale_total = max(total, 1)
    start = datetime.combine(date.fromisoformat(period["start"]), datetime.min.time(), UTC)
    end = datetime.combine(
        date.fromisoformat(period["end"]) + timedelta(days=1), datetime.min.time(), UTC
    )
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

    reserved_left = sum(int(sub.get("remaining") or 0) for sub in period.get("sub_quotas", ()))
    reserved_top = reserved_bottom = None
    if reserved_left > 0 and total > 0:
        reserved_top, reserved_bottom = y(total), y(total - reserved_left)

    threshold_units = critical_threshold * total
    threshold_label = f"critical {percent(critical_threshold)}"
    y_ticks = tuple(Tick(y(total * share / 4), f"{share * 25}%") for share in range(5))
    monthly = (end - start).days >= 45
    x_ticks = tuple(
        Tick(x(moment), _day_label(moment, index == 0, monthly))
        for index, moment in enumerate(_month_ticks(start, end))
    )
    now_x = x(now) if start <= now <= end else None
    markers = tuple(
        Marker(
            x(instant(str(event["at"]))),
            y(max(0, total - int(event.get("balance_after") or 0))),
            str(event["type"]),
            f"{event['type']} at {instant(str(event['at'])):%d %b %Y %H:%M} UTC",
        )
        for event in events
        if event.get("type") in ("critical", "exhausted", "reopened") and event.get("at")
    )
    used_now = points[-1][1] if points else 0
    level_y = y(used_now)
    near_right = x(until) > right - 90
    description = (
        f"{used_now:,} of {total:,} {unit} used ({_share(used_now, total)}) between "
        f"{period['start']} and {period['end']}; critical threshold "
        f"{percent(critical_threshold)} ({threshold_units.to_integral_value():,} {unit})."
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
        now_label="now",
        markers=markers,
        level_y=level_y,
        level_label=f"{used_now:,} used",
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


def _share(part: int, whole: int) -> str:
    if whole <= 0:
        return "0%"
    value = Decimal(part * 100) / Decimal(whole)
    return f"{value.quantize(Decimal('0.1'))}%".replace(".0%", "%")


@dataclass(frozen=True)
class Bar:
    """A horizontal bar of used against reserved units (a sub-quota)."""

    name: str
    reserved: int
    used: int
    remaining: int
    used_width: float
    width: float


def sub_quota_bars(period: dict[str, Any], width: float = 240.0) -> list[Bar]:
    bars = []
    for sub in period.get("sub_quotas", ()):
        reserved = int(sub.get("reserved") or 0)
        used = max(0, int(sub.get("used") or 0))
        share = min(used / reserved, 1.0) if reserved > 0 else 0.0
        bars.append(
            Bar(
                name=str(sub.get("name")),
                reserved=reserved,
                used=used,
                remaining=int(sub.get("remaining") or 0),
                used_width=round(share * width, 2),
                width=width,
            )
        )
    return bars


# --- formatting ------------------------------------------------------------------------


def units(value: Any) -> str:
    """12345 -> "12,345"; decimals keep their places."""
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    if number == number.to_integral_value():
        return f"{int(number):,}"
    return f"{number:,}"


def money(value: Any) -> str:
    """ "84880.00" -> "84,880.00"."""
    try:
        return f"{Decimal(str(value)):,.2f}"
    except (InvalidOperation, ValueError):
        return str(value)


def rate(value: Any) -> str:
    try:
        return percent(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        return str(value)


def tariff(value: Any) -> str:
    """ "8703800010" -> "8703.80.00.10"."""
    text = str(value)
    if len(text) == 10 and text.isdigit():
        return f"{text[:4]}.{text[4:6]}.{text[6:8]}.{text[8:]}"
    return text


def moment(value: Any, seconds: bool = True) -> str:
    """An RFC 3339 timestamp or epoch seconds as "28 Nov 2026 10:55:12 UTC"."""
    if value is None or value == "":
        return "—"
    try:
        if isinstance(value, int | float):
            parsed = datetime.fromtimestamp(value, UTC)
        else:
            parsed = instant(str(value))
    except (ValueError, OverflowError, OSError):
        return str(value)
    if parsed.utcoffset() != timedelta(0):
        offset = parsed.strftime("%z")
        return f"{parsed:%d %b %Y %H:%M} {offset[:3]}:{offset[3:]}"
    shown = f"{parsed:%d %b %Y %H:%M:%S}" if seconds else f"{parsed:%d %b %Y %H:%M}"
    return f"{shown} UTC"


def day(value: Any) -> str:
    try:
        return f"{date.fromisoformat(str(value)):%d %b %Y}"
    except ValueError:
        return str(value)


def short_day(value: Any) -> str:
    """ "2026-07-01" -> "1 Jul"."""
    try:
        parsed = date.fromisoformat(str(value))
    except ValueError:
        return str(value)
    return f"{parsed.day} {parsed:%b}"


def short_hash(value: Any) -> str:
    return str(value)[:12]


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html", "svg"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        units=units,
        money=money,
        rate=rate,
        tariff=tariff,
        moment=moment,
        day=day,
        short_day=short_day,
        short_hash=short_hash,
        pretty_json=pretty_json,
    )
    return env


# --- what the pages show ---------------------------------------------------------------


def verdict_kind(status: str, outcome: str | None) -> str:
    """The latest-verdicts filter a declaration falls under."""
    if status == "decided" and outcome:
        return outcome
    if status in PENDING:
        return "pending"
    return status


def _body(text: str) -> dict[str, Any]:
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


def declaration_lines(body: dict[str, Any], status: dict[str, Any]) -> list[dict[str, Any]]:
    """The declared lines with their verdict lines beside them."""
    decided = {item["line"]: item for item in status.get("lines") or []}
    out = []
    for line in body.get("lines") or []:
        out.append({"declared": line, "verdict": decided.get(line.get("line"))})
    return out


def audit_summary(event: dict[str, Any]) -> str:
    """One line on what an audit event records."""
    data = event.get("data") or {}
    kind = event.get("type")
    if kind == "rule_decision":
        where = f"line {data['line']}" if data.get("line") is not None else "measure"
        return f"{data.get('rule')} · {data.get('severity')} · {where} · {data.get('reference')}"
    if kind == "measure_checks":
        checks = data.get("checks") or []
        return "; ".join(
            f"{item.get('measure')} as of {item.get('as_of')}: {len(item.get('rules') or [])} checks"
            for item in checks
        )
    if kind == "received":
        return f"submitted by {data.get('submitted_by')}, importer {data.get('business_number')}"
    if kind == "verdict":
        return f"outcome {data.get('outcome')}, total duty {money(data.get('total_duty'))}"
    if kind == "duties":
        lines = data.get("lines") or []
        return "; ".join(
            f"line {item.get('line')}: {item.get('treatment')}, {money(item.get('total_duty'))}"
            for item in lines
        )
    if kind == "evaluated":
        packs = ", ".join(f"{ref['id']} {ref['version']}" for ref in data.get("rule_packs", []))
        return f"as of {data.get('as_of')} with {packs or 'no pack'}"
    if kind == "quota_allocation":
        lines = data.get("lines") or []
        return "; ".join(
            f"line {item.get('line')}: {item.get('status')} {item.get('in_quota', '')} in quota"
            for item in lines
        ) or str(data.get("status", "no quota lines"))
    scalars = [
        f"{name} {value}"
        for name, value in data.items()
        if isinstance(value, str | int | float | bool) and value != ""
    ]
    return ", ".join(scalars[:4])


def audit_rows(trail: dict[str, Any]) -> list[dict[str, Any]]:
    bad = trail.get("first_bad_seq")
    rows = []
    for event in trail["events"]:
        if trail["verified"] or bad is None or event["seq"] < bad:
            check = "verified"
        elif event["seq"] == bad:
            check = "broken"
        else:
            check = "unverified"
        rows.append({**event, "summary": audit_summary(event), "check": check})
    return rows


def choose_period(body: dict[str, Any], as_of: date) -> tuple[dict[str, Any] | None, str]:
    """The period to chart and what it is to `as_of`: current, upcoming or past."""
    if body.get("period"):
        return body["period"], "current"
    periods = body.get("periods") or []
    later = [item for item in periods if item["start"] > as_of.isoformat()]
    if later:
        return later[0], "upcoming"
    return (periods[-1], "past") if periods else (None, "none")


def parse_day(text: str | None, default: date) -> tuple[date, str | None, int]:
    """The day a page shows, a notice when it is not the one asked for, and the status:
    422 for a date outside the range every endpoint accepts (at the ends of the calendar
    the quota and period arithmetic overflows), as the API answers for its as_of."""
    if not text:
        return default, None, 200
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return default, f"“{text}” is not a date (YYYY-MM-DD); showing {default.isoformat()}.", 200
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        notice = (
            f"as_of must be between {EARLIEST_DAY.isoformat()} and {LATEST_DAY.isoformat()}; "
            f"showing {default.isoformat()}."
        )
        return default, notice, 422
    return day, None, 200


# --- the routes ------------------------------------------------------------------------


def mount_dashboard(
    app: FastAPI, store: RedisStore, catalog: Catalog, book: TokenBook, settings: Settings
) -> None:
    """Add the /dashboard pages and the /static assets to the API's app."""
    env = _environment()
    sessions = Sessions(book, namespace=settings.redis_prefix)
    router = APIRouter(prefix=COOKIE_PATH, include_in_schema=False)

    def page(
        request: Request,
        template: str,
        context: dict[str, Any],
        caller: Principal | None,
        status_code: int = 200,
    ) -> HTMLResponse:
        html = env.get_template(f"dashboard/{template}").render(
            request_path=request.url.path, caller=caller, **context
        )
        return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)

    def signed_in(request: Request) -> Principal | None:
        cookie = request.cookies.get(COOKIE_NAME)
        caller = sessions.principal(cookie, time.time())
        if caller is None or cookie is None:
            return None
        # A genuine cookie whose session was signed out is refused like a forged one.
        return caller if store.session_open(sessions.session_id(cookie)) else None

    def to_login(request: Request) -> RedirectResponse:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        response = RedirectResponse(
            f"{COOKIE_PATH}/login?next={quote(target, safe='/')}", status_code=303
        )
        if COOKIE_NAME in request.cookies:
            response.delete_cookie(COOKIE_NAME, path=COOKIE_PATH)
        return response

    def openable(caller: Principal, declaration_ids: Iterable[Any]) -> set[str]:
        """The declarations named by ledger events that the caller may open: a broker sees
        another importer's allocations as units, not as declarations."""
        wanted = {str(item) for item in declaration_ids if item}
        if caller.role != "submitter":
            return wanted
        records = (store.get(declaration_id) for declaration_id in wanted)
        return {
            record.declaration_id
            for record in records
            if record is not None and caller.sees(record.business_number)
        }

    def set_session(response: Response, request: Request, value: str) -> None:
        response.set_cookie(
            COOKIE_NAME,
            value,
            max_age=sessions.max_age,
            path=COOKIE_PATH,
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )

    @router.get("/login")
    def login_form(request: Request, next: str | None = None) -> Response:
        if signed_in(request) is not None:
            return RedirectResponse(safe_next(next), status_code=303)
        return page(request, "login.html", {"next": safe_next(next), "error": None}, None)

    @router.post("/login")
    async def login(request: Request) -> Response:
        if not same_origin(request):
            return page(
                request,
                "login.html",
                {"next": COOKIE_PATH, "error": "Sign-in must come from this site's own form."},
                None,
                status_code=403,
            )
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        presented = (form.get("token") or [""])[0].strip()
        target = safe_next((form.get("next") or [""])[0])
        issued = sessions.issue(presented, time.time()) if presented else None
        if issued is None:
            error = "That token is not valid." if presented else "Enter your token."
            return page(
                request, "login.html", {"next": target, "error": error}, None, status_code=401
            )
        await run_in_threadpool(
            store.open_session, sessions.session_id(issued[0]), ttl=sessions.max_age
        )
        response = RedirectResponse(target, status_code=303)
        set_session(response, request, issued[0])
        return response

    @router.post("/logout")
    def logout(request: Request) -> Response:
        if not same_origin(request):
            return Response("cross-site sign-out refused", status_code=403)
        cookie = request.cookies.get(COOKIE_NAME)
        if cookie:
            store.close_session(sessions.session_id(cookie))
        response = RedirectResponse(f"{COOKIE_PATH}/login", status_code=303)
        response.delete_cookie(COOKIE_NAME, path=COOKIE_PATH, httponly=True, samesite="strict")
        return response

    @router.get("")
    def overview(request: Request, as_of: str | None = None, outcome: str = "all") -> Response:
        caller = signed_in(request)
        if caller is None:
            return to_login(request)
        now = datetime.now(UTC)
        day_shown, notice, status_code = parse_day(as_of, now.date())
        quotas = []
        for pack, measure in views.quota_measures(catalog):
            body = views.quota(
                store, pack, measure, day_shown, brief=False, viewer=caller,
                limit=EVENTS_READ, latest=True,
            ).model_dump(mode="json")  # fmt: skip
            period, relation = choose_period(body, day_shown)
            if period is None:
                continue
            events = [
                item for item in body["events"]["events"] if item.get("period") == period["start"]
            ]
            threshold = Decimal(body["critical_threshold"])
            total, used = int(period["available"]), int(period["net_used"])
            reserved_left = int(period["reserved_left"])
            latest = events[-EVENTS_SHOWN:][::-1]
            quotas.append(
                {
                    "quota": body,
                    "period": period,
                    "relation": relation,
                    "status": "upcoming" if relation == "upcoming" else period["status"],
                    "total": total,
                    "used": used,
                    "used_share": _share(used, total),
                    "remaining": int(period["remaining"]),
                    "reserved_left": reserved_left,
                    "threshold_units": int((threshold * total).to_integral_value()),
                    "chart": quota_chart(period, events, threshold, now, body["unit"]),
                    "bars": sub_quota_bars(period),
                    "events": latest,
                    "event_count": len(events),
                    "linkable": openable(caller, [item.get("declaration_id") for item in latest]),
                }
            )
        chosen = outcome if outcome in OUTCOME_FILTERS else "all"
        importer = caller.business_number if caller.role == "submitter" else None
        rows = [
            verdict_row(record)
            for record in store.recent(RECENT_WINDOW, importer)
            if caller.sees(record.business_number)
        ]
        counts = Counter(row["kind"] for row in rows)
        counts["all"] = len(rows)
        shown = [row for row in rows if chosen == "all" or row["kind"] == chosen]
        return page(
            request,
            "overview.html",
            {
                "as_of": day_shown.isoformat(),
                "as_of_given": as_of is not None and notice is None,
                "notice": notice,
                "quotas": quotas,
                "outcome": chosen,
                "filters": OUTCOME_FILTERS,
                "counts": counts,
                "rows": shown[:RECENT_SHOWN],
                "more": max(0, len(shown) - RECENT_SHOWN),
                "window": RECENT_WINDOW,
            },
            caller,
            status_code,
        )

    @router.get("/declarations/{declaration_id}")
    def declaration(
        request: Request,
        declaration_id: str,
        page_asked: str | None = Query(None, alias="page"),
        trail_asked: str | None = Query(None, alias="trail_page"),
    ) -> Response:
        """A declaration, its verdict and its trail: at most LINES_PER_PAGE lines (with
        their findings) and TRAIL_PER_PAGE audit events per page, however large it is."""
        caller = signed_in(request)
        if caller is None:
            return to_login(request)
        record = store.get(declaration_id)
        if record is None or not caller.sees(record.business_number):
            return page(request, "not_found.html", {"declaration_id": declaration_id}, caller, 404)
        status = views.declaration_status(record)
        trail = views.audit_trail(store, declaration_id, record)
        body = _body(record.body)
        lines = declaration_lines(body, status)
        lines_pager = Pager.of(page_asked, len(lines), LINES_PER_PAGE)
        shown = lines_pager.cut(lines)
        on_page = {item["declared"].get("line") for item in shown}
        findings = status.get("findings") or []
        trail_pager = Pager.of(trail_asked, len(trail["events"]), TRAIL_PER_PAGE)
        return page(
            request,
            "declaration.html",
            {
                "record": record,
                "status": status,
                "body": body,
                "kind": verdict_kind(record.status, status.get("outcome")),
                "lines": shown,
                "lines_pager": lines_pager,
                "findings": [
                    item for item in findings if item.get("line") is None or item["line"] in on_page
                ],
                "findings_total": len(findings),
                "trail": trail,
                "rows": audit_rows({**trail, "events": trail_pager.cut(trail["events"])}),
                "trail_pager": trail_pager,
            },
            caller,
        )

    @router.get("/measures")
    def measures(request: Request, as_of: str | None = None) -> Response:
        caller = signed_in(request)
        if caller is None:
            return to_login(request)
        day_shown, notice, status_code = parse_day(as_of, datetime.now(UTC).date())
        in_force = []
        for summary in views.measures(catalog, day_shown)["measures"]:
            found = views.measure_on(catalog, summary["id"], day_shown)
            checks = views.checks(found[0], found[1], day_shown, catalog.current) if found else None
            in_force.append({"measure": summary, "checks": checks})
        shown = {item["measure"]["id"] for item in in_force}
        others = [
            {
                "id": measure.id,
                "title": measure.title,
                "pack": pack.id,
                "version": pack.version,
                "from": measure.effective.start.isoformat(),
                "to": measure.effective.end.isoformat() if measure.effective.end else None,
            }
            for pack in catalog.current
            for measure in pack.measures
            if measure.id not in shown
        ]
        return page(
            request,
            "measures.html",
            {
                "as_of": day_shown.isoformat(),
                "notice": notice,
                "in_force": in_force,
                "others": others,
            },
            caller,
            status_code,
        )

    @router.get("/arrangements")
    def arrangements_index(request: Request) -> Response:
        if signed_in(request) is None:
            return to_login(request)
        first = catalog.arrangements[0].id if catalog.arrangements else ""
        return RedirectResponse(f"{COOKIE_PATH}/arrangements/{quote(first)}", status_code=303)

    @router.get("/arrangements/{arrangement_id}")
    def arrangement(request: Request, arrangement_id: str, as_of: str | None = None) -> Response:
        caller = signed_in(request)
        if caller is None:
            return to_login(request)
        found = catalog.arrangement(arrangement_id)
        if found is None:
            return page(request, "not_found.html", {"declaration_id": arrangement_id}, caller, 404)
        day_shown, notice, status_code = parse_day(as_of, datetime.now(UTC).date())
        context = arrangement_timeline.page_context(catalog, found, day_shown)
        context.update(as_of=day_shown.isoformat(), notice=notice)
        return page(request, "arrangement.html", context, caller, status_code)

    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
