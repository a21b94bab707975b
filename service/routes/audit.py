"""The auditor's routes: a declaration's verified audit trail (paged), every decision of
one rule, a replay of a decision with its packs or another version, and the export of
verdicts and trails as JSON lines."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from schemas.declaration_fields import EARLIEST_YEAR, LATEST_YEAR
from schemas.requests import ReplayRequest
from schemas.responses import AuditPage, Decisions, Replay
from service import views
from service.dependencies import App, Caller, Packs, Reader, Store, errors, slot_key, visible
from service.errors import ApiError
from service.replay import ReplayError, replay_declaration
from service.words import _
from store import Unreadable

router = APIRouter(prefix="/v1", tags=["audit"])

EXPORT_MEDIA_TYPE = "application/x-ndjson"


@router.get(
    "/declarations/{declaration_id}/audit",
    summary="Audit trail and its verification (events paged)",
    description=(
        f"`verified` covers the whole chain, every event of it, whatever page is asked "
        f"for (`verified_events` says how many); `events` holds at most `limit` of them "
        f"(default {views.AUDIT_PAGE}, at most {views.MAX_AUDIT_PAGE}) from position "
        f"`cursor` (0 for the first event). `next_cursor` is where the next page starts, "
        f"null after the last."
    ),
    response_model=AuditPage,
    responses=errors(401, 404, 422, 429, 503),
)
def audit(
    declaration_id: str,
    caller: Caller,
    app: App,
    limit: Annotated[int, Query(ge=1, le=views.MAX_AUDIT_PAGE)] = views.AUDIT_PAGE,
    cursor: Annotated[int, Query(ge=0, le=2**40)] = 0,
) -> AuditPage:
    # every page verifies the whole trail: a token reads a few at once (429 beyond)
    with app.reads.slot(slot_key(caller)):
        try:
            record = visible(app.store, caller, declaration_id)
            trail = views.audit_trail(app.store, declaration_id, record)
        except Unreadable as exc:  # changed by hand: the verification says what and where
            trail = views.unreadable_trail(exc)
        return views.audit_page(trail, cursor, limit)


@router.get(
    "/decisions",
    summary="Every decision one rule took (paged)",
    description=(
        f"The decisions of `rule` between `from` and `to` (epoch seconds), oldest first: at "
        f"most `limit` (default {views.DECISIONS_PAGE}, at most {views.MAX_DECISIONS_PAGE}) "
        f"from position `cursor` (0 for the first). `next_cursor` is where the next page "
        f"starts, null after the last."
    ),
    response_model=Decisions,
    responses=errors(401, 403, 422, 503),
)
def decisions(
    caller: Reader,
    store: Store,
    rule: str,
    start: Annotated[float | None, Query(alias="from", allow_inf_nan=False)] = None,
    end: Annotated[float | None, Query(alias="to", allow_inf_nan=False)] = None,
    limit: Annotated[int, Query(ge=1, le=views.MAX_DECISIONS_PAGE)] = views.DECISIONS_PAGE,
    cursor: Annotated[int, Query(ge=0, le=2**40)] = 0,
) -> Decisions:
    return views.decisions(store, rule, start, end, cursor, limit)


@router.post(
    "/replay",
    summary="Decide a declaration again, with its packs or another version",
    response_model=Replay,
    responses=errors(
        400,
        401,
        403,
        404,
        409,
        413,
        422,
        503,
        e409="cannot replay: not decided, or a pack version unknown",
    ),
)
def replay(request: ReplayRequest, caller: Reader, store: Store, catalog: Packs) -> Replay:
    visible(store, caller, request.declaration_id)
    try:
        found = replay_declaration(store, catalog, request.declaration_id, request.pack_version)
    except ReplayError as exc:
        raise ApiError(409, "cannot replay", str(exc)) from None
    return Replay.model_validate(found)


def _export_responses() -> dict[int | str, dict[str, Any]]:
    # JSON lines have no response_model: the line's schema is declared for the media
    # type, and service/openapi.py adds ExportLine to the document's components.
    line = {"$ref": "#/components/schemas/ExportLine"}
    return {
        200: {
            "description": "one ExportLine per line, in decision order",
            "content": {EXPORT_MEDIA_TYPE: {"schema": line}},
        },
        **errors(401, 403, 422, 503),
    }


@router.get(
    "/export",
    summary="Verdicts and audit trails decided in a time range, as JSONL",
    response_class=StreamingResponse,
    responses=_export_responses(),
)
def export(
    caller: Reader,
    store: Store,
    start: Annotated[datetime, Query(alias="from")],
    end: Annotated[datetime, Query(alias="to")],
) -> StreamingResponse:
    for name, moment in (("from", start), ("to", end)):
        # timestamp() overflows near the ends of the calendar; no verdict lies there
        if not EARLIEST_YEAR <= moment.year <= LATEST_YEAR:
            problem = _(f"{name} must be between {EARLIEST_YEAR} and {LATEST_YEAR}")
            raise ApiError(422, "invalid request", [{"field": f"query.{name}", "message": problem}])
    ids = store.decided_between(start.timestamp(), end.timestamp())

    def lines() -> Iterator[bytes]:
        for declaration_id in ids:
            yield views.export_text(views.export_line(store, declaration_id))

    return StreamingResponse(lines(), media_type=EXPORT_MEDIA_TYPE)
