"""Declarations: submit one or a batch, poll the status and verdict (long-polling if
asked), cancel. Validation and authorisation happen here; storing and handing on is
workers/submission.py's, the verdict comes from the workers, and a cancellation's
protocol lives in workers/cancellation.py."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from schemas.declaration import Declaration
from schemas.requests import Batch
from schemas.responses import BatchAnswer, BatchItem, ErrorAnswer, FieldProblem, Submission
from schemas.verdict import DeclarationStatus
from service import views
from service.auth import Principal
from service.dependencies import (
    App,
    Caller,
    Enqueue,
    Services,
    Writer,
    errors,
    slot_key,
    today,
    visible,
    who,
)
from service.errors import ApiError, translated, validation_detail
from service.language import Lang
from service.words import _
from workers import cancellation, submission

router = APIRouter(prefix="/v1/declarations", tags=["declarations"])

MAX_WAIT = 30.0
UNDECIDED = ("queued", "evaluating")  # what a long poll waits through
ID_TAKEN = ErrorAnswer(
    error="declaration id already used",
    detail=[FieldProblem(field="declaration_id", message=_("declaration id taken"))],
)
Answer = tuple[int, Submission | ErrorAnswer]


def _refused(field: str, message: str) -> Answer:
    return 422, ErrorAnswer(
        error="invalid declaration", detail=[FieldProblem(field=field, message=message)]
    )


def accept(app: Services, caller: Principal, items: Sequence[Any], send: Enqueue) -> list[Answer]:
    """Validate and authorise each declaration, then submit the good ones
    (workers/submission.py); one (status code, answer) per item, in order."""
    answers: list[Answer | None] = [None] * len(items)
    good: list[tuple[int, Declaration]] = []
    for index, raw in enumerate(items):
        try:
            declaration = Declaration.model_validate(raw)
        except ValidationError as exc:
            answers[index] = (
                422,
                ErrorAnswer(error="invalid declaration", detail=validation_detail(exc)),
            )
            continue
        if not caller.sees(declaration.importer.business_number):
            answers[index] = (403, ErrorAnswer(
                error="not your importer",
                detail=_("a submitter token submits for its own business number only"),
            ))  # fmt: skip
            continue
        good.append((index, declaration))
    results = submission.submit(
        app.store, [declaration for _, declaration in good], who(caller), send, datetime.now(UTC)
    )
    for (index, declaration), result in zip(good, results, strict=True):
        if isinstance(result, submission.TooEarly):
            answers[index] = _refused("accepted_at", result.message)
        elif result.outcome == "conflict":
            # The stored declaration may be another importer's, which GET answers 404
            # for: so no status and nothing else about it, only that the id is taken.
            answers[index] = (409, ID_TAKEN)
        else:
            body = Submission.model_validate(
                {"declaration_id": declaration.declaration_id, "status": result.status}
            )
            answers[index] = (202 if result.outcome == "created" else 200, body)
    return [answer for answer in answers if answer is not None]


async def read_json(request: Request) -> Any:
    """The body as JSON, read here rather than by FastAPI so that every malformed body
    gets Accord's own 422 (service/openapi.py declares the body's schema)."""
    raw = await request.body()
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(422, "invalid JSON", [{"field": "body", "message": str(exc)}]) from None
    except RecursionError:
        # json's parser recurses once per level: a body of a few thousand "[" ends it
        detail = [{"field": "body", "message": _("nested too deeply")}]
        raise ApiError(422, "invalid JSON", detail) from None


@router.post(
    "",
    status_code=202,
    summary="Submit a declaration",
    response_model=Submission,
    responses={
        200: {"model": Submission, "description": "already stored with the same body"},
        **errors(400, 401, 403, 409, 413, 422, 503),
    },
)
async def submit(request: Request, caller: Writer, app: App, language: Lang) -> JSONResponse:
    raw = await read_json(request)
    [(status, body)] = await run_in_threadpool(accept, app, caller, [raw], app.enqueue)
    if isinstance(body, ErrorAnswer):
        return JSONResponse(translated(body, language), status_code=status)
    return JSONResponse(body.model_dump(mode="json"), status_code=status)


@router.post(
    "/batch",
    status_code=202,
    summary="Submit up to 1,000 declarations",
    response_model=BatchAnswer,
    response_model_exclude_unset=True,
    responses=errors(400, 401, 403, 413, 422, 503),
)
async def submit_batch(request: Request, caller: Writer, app: App, language: Lang) -> BatchAnswer:
    raw = await read_json(request)
    try:
        batch = Batch.model_validate(raw)
    except ValidationError as exc:
        raise ApiError(422, "invalid batch", validation_detail(exc)) from None
    answers = await run_in_threadpool(accept, app, caller, batch.declarations, app.enqueue_bulk)
    return BatchAnswer(
        results=tuple(
            BatchItem(
                index=index,
                status_code=status,
                **(translated(body, language) if isinstance(body, ErrorAnswer) else dict(body)),
            )
            for index, (status, body) in enumerate(answers)
        )
    )


@router.get(
    "/{declaration_id}",
    summary="Status and verdict",
    response_model=DeclarationStatus,
    response_model_exclude_unset=True,
    responses=errors(
        401,
        404,
        409,
        422,
        429,
        503,
        e409="its stored record was changed by hand and cannot be served (its audit says "
        "where verification fails)",
        e429="too many long polls, or reads of declarations, for this token; retry after "
        "Retry-After",
    ),
)
async def status(
    declaration_id: str,
    caller: Caller,
    app: App,
    language: Lang,
    wait: Annotated[float, Query(ge=0, le=MAX_WAIT)] = 0,
) -> DeclarationStatus:
    store, waiters, texts = app.store, app.waiters, app.catalog.texts
    if wait == 0:
        with app.reads.slot(slot_key(caller)):
            record = await run_in_threadpool(visible, store, caller, declaration_id)
            return await run_in_threadpool(views.declaration_status, record, texts, language)
    deadline = time.monotonic() + wait
    with waiters.slot(slot_key(caller)):
        while True:
            # Watching before reading: a change published between the two is not lost.
            with waiters.watch(declaration_id) as changed:
                record = await run_in_threadpool(visible, store, caller, declaration_id)
                remaining = deadline - time.monotonic()
                if record.status not in UNDECIDED or remaining <= 0:
                    return await run_in_threadpool(
                        views.declaration_status, record, texts, language
                    )
                await waiters.changed(changed, remaining)


@router.post(
    "/{declaration_id}/cancel",
    summary="Cancel; returns quota, permit quantity and VINs",
    response_model=DeclarationStatus,
    response_model_exclude_unset=True,
    responses=errors(
        401,
        403,
        404,
        409,
        422,
        503,
        e409="archived, being evaluated, or changed status meanwhile: try again",
    ),
)
def cancel(declaration_id: str, caller: Writer, app: App, language: Lang) -> DeclarationStatus:
    store = app.store
    record = visible(store, caller, declaration_id)
    try:
        cancelled = cancellation.cancel(store, record, who(caller), today())
    except cancellation.NotCancellable as exc:
        raise ApiError(409, exc.error, exc.detail) from None
    return views.declaration_status(cancelled, app.catalog.texts, language)
