"""The dashboard's routes (SPEC §1): server-rendered pages for quota administrators,
auditors and brokers, over the same data as the API and with the same roles, and the
/static assets. Sign-in takes a token through a form and keeps a session cookie
(service/dashboard/sessions.py); each session also has a record in Redis, expiring with
the cookie, that signing out deletes, so a copied cookie dies with the sign-out instead
of living out its 12 hours. What the pages show is built in service/dashboard/."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from rules.catalog import Catalog
from service import arrangement_timeline, views
from service.auth import Principal, TokenBook
from service.dashboard.formatting import environment
from service.dashboard.pages import (
    EVENTS_READ,
    LINES_PER_PAGE,
    OUTCOME_FILTERS,
    RECENT_SHOWN,
    RECENT_WINDOW,
    TRAIL_PER_PAGE,
    Pager,
    audit_rows,
    declaration_lines,
    parse_day,
    quota_card,
    stored_body,
    verdict_kind,
    verdict_row,
)
from service.dashboard.sessions import (
    COOKIE_NAME,
    COOKIE_PATH,
    Sessions,
    safe_next,
    same_origin,
)
from settings import Settings
from store.redis_store import RedisStore

STATIC = Path(__file__).resolve().parent.parent / "static"

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


def mount_dashboard(
    app: FastAPI, store: RedisStore, catalog: Catalog, book: TokenBook, settings: Settings
) -> None:
    """Add the /dashboard pages and the /static assets to the API's app. The routes close
    over the app's store, catalog and sessions: the session key is derived from this
    app's token book, so it is made once here, not per request."""
    env = environment()
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

    def openable(caller: Principal, declaration_ids: Iterable[str | None]) -> set[str]:
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
            view = views.quota(
                store, pack, measure, day_shown, brief=False, viewer=caller,
                limit=EVENTS_READ, latest=True,
            )  # fmt: skip
            card = quota_card(view, day_shown, now, lambda ids: openable(caller, ids))
            if card is not None:
                quotas.append(card)
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
        body = stored_body(record.body)
        lines = declaration_lines(body, status)
        lines_pager = Pager.of(page_asked, len(lines), LINES_PER_PAGE)
        shown = lines_pager.cut(lines)
        on_page = {item["declared"].get("line") for item in shown}
        findings = status.findings or ()
        trail_pager = Pager.of(trail_asked, len(trail.events), TRAIL_PER_PAGE)
        return page(
            request,
            "declaration.html",
            {
                "record": record,
                "status": status,
                "body": body,
                "kind": verdict_kind(record.status, status.outcome),
                "lines": shown,
                "lines_pager": lines_pager,
                "findings": [
                    item for item in findings if item.line is None or item.line in on_page
                ],
                "findings_total": len(findings),
                "trail": trail,
                "rows": audit_rows(trail, trail_pager.cut(trail.events)),
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
        listed = views.measures(catalog, day_shown).measures
        for summary in listed:
            found = views.measure_on(catalog, summary.id, day_shown)
            checks = views.checks(found[0], found[1], day_shown, catalog.current) if found else None
            in_force.append({"measure": summary, "checks": checks})
        shown = {summary.id for summary in listed}
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
