"""The dashboard's routes (SPEC §1): server-rendered pages for quota administrators,
auditors and brokers, over the same data as the API and with the same roles, and the
/static assets. Sign-in takes a token through a form and keeps a session cookie
(service/dashboard/sessions.py); each session also has a record in Redis, expiring with
the cookie, that signing out deletes, so a copied cookie dies with the sign-out instead
of living out its 12 hours. What the pages show is built in service/dashboard/pages.py.

A page that needs a signed-in caller and has none redirects to the sign-in form (303),
never 401: a browser shows the form, not an error."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from service import arrangement_timeline, views
from service.auth import Principal
from service.dashboard.formatting import environment
from service.dashboard.pages import (
    EVENTS_READ,
    OUTCOME_FILTERS,
    RECENT_SHOWN,
    RECENT_WINDOW,
    declaration_page,
    measures_page,
    parse_day,
    quota_card,
    verdict_row,
)
from service.dashboard.sessions import (
    COOKIE_NAME,
    COOKIE_PATH,
    LANGUAGE_COOKIE,
    Sessions,
    chosen_language,
    safe_next,
    same_origin,
)
from service.dashboard.words import SWITCH, Words, words
from service.dependencies import App, Packs, Services, Store, slot_key
from service.language import LANGUAGES, Language
from store import Declarations

STATIC = Path(__file__).resolve().parent.parent / "static"
# one template environment per language: its catalogue and its locale's formats
TEMPLATES = {language: environment(words(language)) for language in LANGUAGES}

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

router = APIRouter(prefix=COOKIE_PATH, include_in_schema=False)


def install(app: FastAPI, services: Services) -> None:
    """Add the /dashboard pages and the /static assets to the API's app. The session key
    is derived from the app's token book, so it is made once here, not per request."""
    app.state.dashboard_sessions = Sessions(
        services.tokens, namespace=services.settings.redis_prefix
    )
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")


def _sessions(request: Request) -> Sessions:
    found: Sessions = request.app.state.dashboard_sessions
    return found


SessionBook = Annotated[Sessions, Depends(_sessions)]


def _visitor(request: Request, store: Store, sessions: SessionBook) -> Principal | None:
    """Who the session cookie signs in, if anyone."""
    cookie = request.cookies.get(COOKIE_NAME)
    caller = sessions.principal(cookie, time.time())
    if caller is None or cookie is None:
        return None
    # A genuine cookie whose session was signed out is refused like a forged one.
    return caller if store.session_open(sessions.session_id(cookie)) else None


Visitor = Annotated[Principal | None, Depends(_visitor)]


def _reader_words(request: Request) -> Words:
    return words(chosen_language(request))


PageWords = Annotated[Words, Depends(_reader_words)]


def page(
    request: Request,
    template: str,
    context: dict[str, Any],
    caller: Principal | None,
    status_code: int = 200,
) -> HTMLResponse:
    language = chosen_language(request)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    html = (
        TEMPLATES[language]
        .get_template(f"dashboard/{template}")
        .render(
            request_path=request.url.path,
            here=here,
            switch=SWITCH,
            caller=caller,
            **context,
        )
    )
    headers = {**SECURITY_HEADERS, "Content-Language": language}
    return HTMLResponse(html, status_code=status_code, headers=headers)


def to_login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    response = RedirectResponse(f"{COOKIE_PATH}/login?next={quote(target, safe='/')}", 303)
    if COOKIE_NAME in request.cookies:
        response.delete_cookie(COOKIE_NAME, path=COOKIE_PATH)
    return response


def openable(
    store: Declarations, caller: Principal, declaration_ids: Iterable[str | None]
) -> set[str]:
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


@router.get("/login")
def login_form(request: Request, caller: Visitor, next: str | None = None) -> Response:
    if caller is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return page(request, "login.html", {"next": safe_next(next), "error": None}, None)


@router.post("/login")
async def login(request: Request, store: Store, sessions: SessionBook, said: PageWords) -> Response:
    if not same_origin(request):
        return page(
            request,
            "login.html",
            {
                "next": COOKIE_PATH,
                "error": said.gettext("Sign-in must come from this site's own form."),
            },
            None,
            status_code=403,
        )
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    presented = (form.get("token") or [""])[0].strip()
    target = safe_next((form.get("next") or [""])[0])
    issued = sessions.issue(presented, time.time()) if presented else None
    if issued is None:
        error = (
            said.gettext("That token is not valid.")
            if presented
            else said.gettext("Enter your token.")
        )
        return page(request, "login.html", {"next": target, "error": error}, None, status_code=401)
    await run_in_threadpool(
        store.open_session, sessions.session_id(issued[0]), ttl=sessions.max_age
    )
    return _with_cookie(request, target, COOKIE_NAME, issued[0], sessions.max_age)


def _with_cookie(request: Request, target: str, name: str, value: str, max_age: int) -> Response:
    """A redirect to `target` that sets one of the dashboard's cookies: on its path, secure
    over HTTPS, never readable by scripts, never sent cross-site."""
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return response


@router.post("/logout")
def logout(request: Request, store: Store, sessions: SessionBook) -> Response:
    if not same_origin(request):
        return Response("cross-site sign-out refused", status_code=403)
    cookie = request.cookies.get(COOKIE_NAME)
    if cookie:
        store.close_session(sessions.session_id(cookie))
    response = RedirectResponse(f"{COOKIE_PATH}/login", status_code=303)
    response.delete_cookie(COOKIE_NAME, path=COOKIE_PATH, httponly=True, samesite="strict")
    return response


@router.post("/language")
async def choose_language(request: Request, sessions: SessionBook) -> Response:
    """The header's switch: keeps the language chosen beside the session, for as long as
    a session lasts, and goes back to the page it was chosen on."""
    if not same_origin(request):
        return Response("cross-site language change refused", status_code=403)
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    asked = (form.get("lang") or [""])[0]
    target = safe_next((form.get("next") or [""])[0])
    chosen: Language | None = next((item for item in LANGUAGES if item == asked), None)
    if chosen is None:
        return Response(
            f"lang must be one of {', '.join(LANGUAGES)}", status_code=422, media_type="text/plain"
        )
    return _with_cookie(request, target, LANGUAGE_COOKIE, chosen, sessions.max_age)


@router.get("")
def overview(
    request: Request,
    caller: Visitor,
    store: Store,
    catalog: Packs,
    said: PageWords,
    as_of: str | None = None,
    outcome: str = "all",
) -> Response:
    if caller is None:
        return to_login(request)
    now = datetime.now(UTC)
    day_shown, notice, status_code = parse_day(as_of, now.date(), said)
    quotas = []
    for pack, measure in views.quota_measures(catalog):
        view = views.quota(
            store, pack, measure, day_shown, brief=False, viewer=caller,
            limit=EVENTS_READ, latest=True,
        )  # fmt: skip
        view = views.in_language(view, catalog.texts, said.language)
        card = quota_card(view, day_shown, now, lambda ids: openable(store, caller, ids), said)
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
    caller: Visitor,
    app: App,
    said: PageWords,
    page_asked: str | None = Query(None, alias="page"),
    trail_asked: str | None = Query(None, alias="trail_page"),
) -> Response:
    if caller is None:
        return to_login(request)
    store = app.store
    record = store.get(declaration_id)
    if record is None or not caller.sees(record.business_number):
        wanted = {"kind": "declaration", "wanted": declaration_id}
        return page(request, "not_found.html", wanted, caller, 404)
    # the page verifies the whole trail, as the API's status and audit reads do, and
    # shares their bound: a few at once per token (429 beyond), so that one caller's
    # large declarations cannot occupy the process
    with app.reads.slot(slot_key(caller)):
        trail = views.audit_trail(store, declaration_id, record)
        context = declaration_page(record, trail, page_asked, trail_asked, said, app.catalog.texts)
    return page(request, "declaration.html", context, caller)


@router.get("/measures")
def measures(
    request: Request, caller: Visitor, catalog: Packs, said: PageWords, as_of: str | None = None
) -> Response:
    if caller is None:
        return to_login(request)
    day_shown, notice, status_code = parse_day(as_of, datetime.now(UTC).date(), said)
    context = measures_page(catalog, day_shown, said)
    context.update(as_of=day_shown.isoformat(), notice=notice)
    return page(request, "measures.html", context, caller, status_code)


@router.get("/arrangements")
def arrangements_index(request: Request, caller: Visitor, catalog: Packs) -> Response:
    if caller is None:
        return to_login(request)
    first = catalog.arrangements[0].id if catalog.arrangements else ""
    return RedirectResponse(f"{COOKIE_PATH}/arrangements/{quote(first)}", status_code=303)


@router.get("/arrangements/{arrangement_id}")
def arrangement(
    request: Request,
    arrangement_id: str,
    caller: Visitor,
    catalog: Packs,
    said: PageWords,
    as_of: str | None = None,
) -> Response:
    if caller is None:
        return to_login(request)
    found = catalog.arrangement(arrangement_id)
    if found is None:
        wanted = {"kind": "arrangement", "wanted": arrangement_id}
        return page(request, "not_found.html", wanted, caller, 404)
    day_shown, notice, status_code = parse_day(as_of, datetime.now(UTC).date(), said)
    context = arrangement_timeline.page_context(catalog, found, day_shown, said)
    context.update(as_of=day_shown.isoformat(), notice=notice)
    return page(request, "arrangement.html", context, caller, status_code)
