"""The HTTP API (v1). Routes validate, check the caller's role, call the store or the
queue, and answer; the verdicts themselves come from the workers."""

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from datetime import date as date_type
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rules import trail
from rules.catalog import Catalog, load_catalog
from rules.pack import Measure, Pack
from rules.quota import terms_of, terms_on, year_volume
from schemas.arrangement import ArrangementView
from schemas.declaration import EARLIEST_DAY, EARLIEST_YEAR, LATEST_DAY, LATEST_YEAR, Declaration
from schemas.ledger import QuotaView
from schemas.permit import BN15, Permit, PermitApplication
from schemas.verdict import DeclarationStatus
from service import arrangements, openapi, views
from service.auth import Principal, TokenBook
from service.dashboard import mount_dashboard
from service.errors import (
    ApiError,
    on_api_error,
    on_http_error,
    on_request_validation,
    on_store_error,
    validation_detail,
)
from service.waiting import StatusWaiters
from settings import Settings
from store.errors import StoreError
from store.ledger import MAX_EVENTS_PAGE
from store.redis_store import RedisStore, now_rfc3339
from workers import permits as permit_workflow
from workers.replay import ReplayError, replay_declaration

log = logging.getLogger(__name__)

Enqueue = Callable[[Sequence[str]], None]
CLOCK_SKEW = timedelta(minutes=5)  # how far ahead of this clock an accepted_at may be
AsOf = Annotated[
    date | None,
    Query(
        ge=EARLIEST_DAY,
        le=LATEST_DAY,
        description="the day to look at (default today, UTC)",
    ),
]
MAX_BATCH = 1000
ID_TAKEN: dict[str, Any] = {
    "error": "declaration id already used",
    "detail": [{"field": "declaration_id", "message": "declaration id taken"}],
}
MAX_WAIT = 30.0
UNDECIDED = ("queued", "evaluating")  # what a long poll waits through


class BodyLimit:
    """413 for a body over the limit, whether or not Content-Length tells the truth."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await self._refuse(send)
                return
        seen = 0
        exceeded = started = False

        async def limited() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    exceeded = True
                    raise _TooLarge
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            # FastAPI reads the body of a route with a pydantic body itself, and turns any
            # exception while reading into its own 400: once the limit is exceeded,
            # whatever the app answers is dropped and the 413 goes out instead.
            if exceeded:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited, guarded)
        except Exception:  # _TooLarge, or whatever the app made of it
            if not exceeded:
                raise
        if exceeded and not started:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        response = JSONResponse(
            {"error": "request body too large", "detail": f"the limit is {self.limit} bytes"},
            status_code=413,
        )
        await response({"type": "http"}, _empty_receive, send)


class _TooLarge(Exception):
    pass


async def _empty_receive() -> Message:
    return {"type": "http.disconnect"}


class AllocationRun(BaseModel):
    model_config = ConfigDict(extra="forbid")
    date: date_type = Field(description="the acceptance day whose requests are allocated")


class ImporterAllocation(BaseModel):
    """An importer's initial allocation for a quota year, or a transfer to another importer."""

    model_config = ConfigDict(extra="forbid")
    quota_year: int = Field(ge=1, le=100)
    business_number: str = Field(pattern=BN15)
    initial: int | None = Field(default=None, ge=0)
    transfer_to: str | None = Field(default=None, pattern=BN15)
    quantity: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_operation(self) -> "ImporterAllocation":
        if (self.initial is None) == (self.transfer_to is None or self.quantity is None):
            raise ValueError("give either `initial`, or `transfer_to` and `quantity`")
        return self


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    declaration_id: str = Field(min_length=1, max_length=64)
    pack_version: str | None = Field(
        default=None,
        description='a version ("2026.2"), or one pack\'s ("CA-CN-SURTAX-2024@2026.2")',
    )


class Batch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    declarations: list[Any] = Field(max_length=MAX_BATCH)


def create_app(
    settings: Settings,
    store: RedisStore,
    enqueue: Enqueue,
    catalog: Catalog | None = None,
    tokens: TokenBook | None = None,
    sweep: Callable[[], Awaitable[None]] | None = None,
    enqueue_bulk: Enqueue | None = None,
) -> FastAPI:
    """`enqueue` hands single submissions to the workers, `enqueue_bulk` (by default the
    same) batches and allocation runs, which must not hold up another importer's single."""
    bulk = enqueue_bulk or enqueue
    catalog = catalog or load_catalog(settings.rules_dirs)
    if tokens is None:
        if settings.tokens_file is None:
            raise RuntimeError("ACCORD_TOKENS_FILE is not set")
        tokens = TokenBook.load(settings.tokens_file)
    book = tokens

    waiters = StatusWaiters(store, settings.long_polls_per_caller)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(_every(settings.sweep_after / 4, sweep)) if sweep else None
        waiters.start()
        yield
        await asyncio.to_thread(waiters.stop)
        if task is not None:
            task.cancel()

    app = FastAPI(
        lifespan=lifespan,
        title="Accord",
        version="1",
        description=(
            "Compliance checking of import declarations under trade measures. Submit a "
            "declaration, poll its verdict, read its audit trail."
        ),
    )
    app.state.waiters = waiters
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_request_validation)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(StoreError, on_store_error)

    def principal(request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        scheme, _, presented = header.partition(" ")
        if scheme.lower() != "bearer" or not presented:
            raise ApiError(401, "missing bearer token", "send Authorization: Bearer TOKEN")
        found = book.principal(presented.strip())
        if found is None:
            raise ApiError(401, "invalid token", None)
        return found

    Caller = Annotated[Principal, Depends(principal)]

    def admin(caller: Caller) -> Principal:
        if caller.role != "admin":
            raise ApiError(403, "admin role required", None)
        return caller

    def reader(caller: Caller) -> Principal:
        if caller.role not in ("admin", "auditor"):
            raise ApiError(403, "auditor or admin role required", None)
        return caller

    def writer(caller: Caller) -> Principal:
        # An auditor reads everything and writes nothing (SPEC §7); admin-only writes
        # have their own, stricter dependency.
        if caller.role == "auditor":
            raise ApiError(403, "the auditor role is read-only", None)
        return caller

    Admin = Annotated[Principal, Depends(admin)]
    Reader = Annotated[Principal, Depends(reader)]
    Writer = Annotated[Principal, Depends(writer)]

    def visible(caller: Principal, declaration_id: str) -> Any:
        record = store.get(declaration_id)
        if record is None or not caller.sees(record.business_number):
            raise ApiError(404, "declaration not found", {"declaration_id": declaration_id})
        return record

    def accept(
        caller: Principal, items: Sequence[Any], send: Enqueue
    ) -> list[tuple[int, dict[str, Any]]]:
        """Validate and authorise each declaration, store the good ones in one round trip,
        enqueue the new ones; one (status code, body) per item, in order."""
        answers: list[tuple[int, dict[str, Any]] | None] = [None] * len(items)
        good: list[tuple[int, Declaration]] = []
        for index, raw in enumerate(items):
            try:
                declaration = Declaration.model_validate(raw)
            except ValidationError as exc:
                answers[index] = (
                    422,
                    {"error": "invalid declaration", "detail": validation_detail(exc)},
                )
                continue
            if not caller.sees(declaration.importer.business_number):
                answers[index] = (403, {
                    "error": "not your importer",
                    "detail": "a submitter token submits for its own business number only",
                })  # fmt: skip
                continue
            if declaration.accepted_at > datetime.now(UTC) + CLOCK_SKEW:
                # quota periods open and close by acceptance date: none may come early
                answers[index] = (422, {"error": "invalid declaration", "detail": [{
                    "field": "accepted_at",
                    "message": "accepted_at is in the future: customs has not accepted it yet",
                }]})  # fmt: skip
                continue
            good.append((index, declaration))
        now, who = time.time(), _who(caller)
        results = store.submit_many([
            (declaration.declaration_id, declaration.canonical_json(), declaration.body_sha256(),
             declaration.importer.business_number, now, trail.received(declaration, who))
            for _, declaration in good
        ]) if good else []  # fmt: skip
        created = []
        for (index, declaration), result in zip(good, results, strict=True):
            body = {"declaration_id": declaration.declaration_id, "status": result.status}
            if result.outcome == "conflict":
                # The stored declaration may be another importer's, which GET answers 404
                # for: so no status and nothing else about it, only that the id is taken.
                answers[index] = (409, ID_TAKEN)
            elif result.outcome == "created":
                answers[index] = (202, body)
                created.append(declaration.declaration_id)
            else:
                answers[index] = (200, body)
        if created:
            try:
                send(created)
            except Exception:  # stored is what 202 promises; the sweeper enqueues them again
                log.exception("could not enqueue %d declarations; the sweeper will", len(created))
            store.count({"submissions": len(created)})
        return [answer for answer in answers if answer is not None]

    async def read_json(request: Request) -> Any:
        raw = await request.body()
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(422, "invalid JSON", [{"field": "body", "message": str(exc)}]) from None
        except RecursionError:
            # json's parser recurses once per level: a body of a few thousand "[" ends it
            detail = [{"field": "body", "message": "nested too deeply"}]
            raise ApiError(422, "invalid JSON", detail) from None

    @app.post(
        "/v1/declarations",
        status_code=202,
        summary="Submit a declaration",
        responses={
            200: {"description": "already stored with the same body"},
            409: {},
            413: {},
            422: {},
        },
    )
    async def submit(request: Request, caller: Writer) -> JSONResponse:
        raw = await read_json(request)
        [(status, body)] = await run_in_threadpool(accept, caller, [raw], enqueue)
        return JSONResponse(body, status_code=status)

    @app.post("/v1/declarations/batch", status_code=202, summary="Submit up to 1,000 declarations")
    async def submit_batch(request: Request, caller: Writer) -> JSONResponse:
        raw = await read_json(request)
        try:
            batch = Batch.model_validate(raw)
        except ValidationError as exc:
            raise ApiError(422, "invalid batch", validation_detail(exc)) from None

        answers = await run_in_threadpool(accept, caller, batch.declarations, bulk)
        results = [
            {"index": index, "status_code": status, **body}
            for index, (status, body) in enumerate(answers)
        ]
        return JSONResponse({"results": results}, status_code=202)

    @app.get(
        "/v1/declarations/{declaration_id}",
        summary="Status and verdict",
        responses={200: {"model": DeclarationStatus}},
    )
    async def status(
        declaration_id: str,
        caller: Caller,
        wait: Annotated[float, Query(ge=0, le=MAX_WAIT)] = 0,
    ) -> JSONResponse:
        if wait == 0:
            record = await run_in_threadpool(visible, caller, declaration_id)
            return JSONResponse(views.declaration_status(record))
        deadline = time.monotonic() + wait
        with waiters.slot(caller.token_key or _who(caller)):
            while True:
                # Watching before reading: a change published between the two is not lost.
                with waiters.watch(declaration_id) as changed:
                    record = await run_in_threadpool(visible, caller, declaration_id)
                    remaining = deadline - time.monotonic()
                    if record.status not in UNDECIDED or remaining <= 0:
                        return JSONResponse(views.declaration_status(record))
                    await waiters.changed(changed, remaining)

    @app.get(
        "/v1/declarations/{declaration_id}/audit",
        summary="Audit trail and its verification (events paged)",
        description=(
            f"`verified` covers the whole chain, every event of it, whatever page is asked "
            f"for (`verified_events` says how many); `events` holds at most `limit` of them "
            f"(default {views.AUDIT_PAGE}, at most {views.MAX_AUDIT_PAGE}) from position "
            f"`cursor` (0 for the first event). `next_cursor` is where the next page starts, "
            f"null after the last."
        ),
    )
    def audit(
        declaration_id: str,
        caller: Caller,
        limit: Annotated[int, Query(ge=1, le=views.MAX_AUDIT_PAGE)] = views.AUDIT_PAGE,
        cursor: Annotated[int, Query(ge=0, le=2**40)] = 0,
    ) -> dict[str, Any]:
        record = visible(caller, declaration_id)
        trail = views.audit_trail(store, declaration_id, record)
        return views.audit_page(trail, cursor, limit)

    @app.post(
        "/v1/declarations/{declaration_id}/cancel",
        summary="Cancel; returns quota, permit quantity and VINs",
    )
    def cancel(declaration_id: str, caller: Writer) -> JSONResponse:
        record = visible(caller, declaration_id)
        if record.archive is not None:
            raise ApiError(409, "declaration is archived", "its trail is closed; nothing to cancel")
        if record.status == "evaluating":
            raise ApiError(409, "declaration is being evaluated", "try again in a moment")
        if record.status != "cancelled":
            # Cancelled first, as a compare-and-set on the status read: no worker can take
            # it afterwards, and one that took it meanwhile makes this a 409.
            outcome = store.record(
                declaration_id,
                [("cancelled", {"by": _who(caller), "previous_status": record.status})],
                {"status": "cancelled"},
                allowed=(record.status,),
                done=True,
            )
            if outcome != "ok":
                raise ApiError(409, "declaration changed status meanwhile", "try again")
        # Then whatever it holds goes back (idempotent: a retried cancel completes it).
        returned = store.ledger.give_back(declaration_id, _today(), now_rfc3339())
        if returned:
            store.record(
                declaration_id, [("returned", item) for item in returned], allowed=("cancelled",)
            )
        return JSONResponse(views.declaration_status(store.get(declaration_id)))

    @app.post(
        "/v1/permits",
        status_code=201,
        summary="Apply for an import permit (admins for any importer, submitters for their own)",
        responses={
            200: {"description": "the same application again: the permit as it stands"},
            202: {"description": "pending_allocation: waits for its day's pro-rata run"},
            403: {},
            409: {"description": "quota exhausted (with the units left), or number taken"},
            422: {},
        },
    )
    def apply_permit(application: PermitApplication, caller: Writer) -> JSONResponse:
        if not caller.sees(application.business_number):
            raise ApiError(403, "not your importer", "a submitter applies for its own permits only")
        try:
            applied = permit_workflow.apply(store, catalog, application, _today())
        except permit_workflow.PermitRefused as exc:
            raise ApiError(
                422, "invalid permit", [{"field": exc.field, "message": exc.message}]
            ) from None
        decision = applied.decision
        if decision.outcome == "conflict":
            raise ApiError(409, "permit number taken", None)
        if decision.outcome == "refused" and decision.remaining is not None:
            raise ApiError(409, "quota exhausted", {"remaining": decision.remaining})
        if decision.permit is None:  # refused at its pro-rata run, applied for again
            raise ApiError(409, "quota exhausted", {"remaining": 0})
        status = {"issued": 201, "pending_allocation": 202}.get(decision.outcome, 200)
        return JSONResponse(views.permit(decision.permit), status_code=status)

    def visible_permit(caller: Principal, number: str) -> Permit:
        permit = permit_workflow.find(store, catalog, number)
        if permit is None or not caller.sees(permit.business_number):
            raise ApiError(404, "permit not found", {"permit_number": number})
        return permit

    @app.get("/v1/permits/{number}", summary="An import permit: status, units held, use")
    def get_permit(number: str, caller: Caller) -> dict[str, Any]:
        return views.permit(visible_permit(caller, number))

    @app.post(
        "/v1/permits/{number}/cancel",
        summary="Cancel an unused permit; its units return to the quota",
        responses={403: {}, 404: {}, 409: {"description": "the permit was used"}},
    )
    def cancel_permit(number: str, caller: Writer) -> dict[str, Any]:
        permit = visible_permit(caller, number)
        if permit.status == "used":
            raise ApiError(
                409, "permit used", "cancel the declaration that used it first, then the permit"
            )
        if permit.status in ("issued", "pending_allocation"):
            permit = permit_workflow.end(store, catalog, permit, _today(), "cancelled") or permit
        return views.permit(permit)

    @app.get("/v1/quotas", summary="Every quota with its current period")
    def quotas(caller: Caller, as_of: AsOf = None) -> dict[str, Any]:
        day = as_of or _today()
        return {
            "quotas": [
                views.quota(store, pack, measure, day, brief=True).model_dump(mode="json")
                for pack, measure in views.quota_measures(catalog)
            ]
        }

    @app.get(
        "/v1/quotas/{quota_id}",
        summary="One quota: periods, volumes, used, remaining, permits, events (paged)",
        response_model=QuotaView,
    )
    def quota(
        quota_id: str,
        caller: Caller,
        as_of: AsOf = None,
        limit: Annotated[int, Query(ge=1, le=MAX_EVENTS_PAGE)] = 100,
        cursor: Annotated[int, Query(ge=0, le=2**40)] = 0,
    ) -> QuotaView:
        pack, measure = quota_measure(quota_id)
        return views.quota(
            store, pack, measure, as_of or _today(), brief=False, viewer=caller,
            cursor=cursor, limit=limit,
        )  # fmt: skip

    def quota_measure(quota_id: str) -> tuple[Pack, Measure]:
        found = catalog.measure(quota_id)
        if found is None or found[1].quota is None:
            raise ApiError(404, "quota not found", {"quota_id": quota_id})
        return found

    @app.post("/v1/quotas/{quota_id}/runs", summary="Run the pro-rata allocation of a day (admin)")
    def run_allocation(quota_id: str, run: AllocationRun, caller: Admin) -> dict[str, Any]:
        _, measure = quota_measure(quota_id)
        assert measure.quota is not None
        if measure.quota.mode != "daily_pro_rata":
            raise ApiError(409, "not a daily pro-rata quota", {"mode": measure.quota.mode})
        result = store.ledger.run(terms_on(measure, run.date), run.date, now_rfc3339())
        if result.declarations:
            bulk(result.declarations)
        return {
            "quota_id": quota_id,
            "date": run.date.isoformat(),
            "declarations": result.declarations,
            "permits": result.permits,
        }

    @app.post(
        "/v1/quotas/{quota_id}/allocations", summary="Importer allocations and transfers (admin)"
    )
    def importer_allocation(
        quota_id: str, change: ImporterAllocation, caller: Admin
    ) -> dict[str, Any]:
        _, measure = quota_measure(quota_id)
        assert measure.quota is not None
        if measure.quota.mode != "importer_allocation":
            raise ApiError(409, "not an importer-allocation quota", {"mode": measure.quota.mode})
        terms = terms_of(measure, change.quota_year)
        if change.initial is not None:
            refused = store.ledger.account(
                terms, "initial", change.business_number, change.initial,
                year_volume=year_volume(measure.quota, change.quota_year), now=now_rfc3339(),
            )  # fmt: skip
        else:
            refused = store.ledger.account(
                terms, "transfer", change.business_number, change.quantity or 0,
                to_business_number=change.transfer_to or "", now=now_rfc3339(),
            )  # fmt: skip
        if refused:
            raise ApiError(409, "allocation refused", refused)
        holders = store.ledger.account_holders(quota_id, change.quota_year)
        accounts = store.ledger.view(terms, _today(), limit=1, accounts=holders).accounts
        return {"quota_id": quota_id, "quota_year": change.quota_year,
                "accounts": [account.model_dump() for account in accounts]}  # fmt: skip

    @app.get("/v1/measures", summary="Measures in force on a date")
    def measures(caller: Caller, as_of: AsOf = None) -> dict[str, Any]:
        return views.measures(catalog, as_of or _today())

    @app.get("/v1/measures/{measure_id}/checks", summary="WTO and notification checks on a date")
    def checks(measure_id: str, caller: Caller, as_of: AsOf = None) -> dict[str, Any]:
        day = as_of or _today()
        found = views.measure_on(catalog, measure_id, day)
        if found is None:
            raise ApiError(404, "measure not found", {"measure": measure_id})
        return views.checks(found[0], found[1], day, catalog.current)

    @app.get(
        "/v1/arrangements/{arrangement_id}",
        summary="Both sides of an arrangement, their measures in force and the linkage checks",
        response_model=ArrangementView,
        responses={404: {}},
    )
    def arrangement(arrangement_id: str, caller: Caller, as_of: AsOf = None) -> ArrangementView:
        found = catalog.arrangement(arrangement_id)
        if found is None:
            raise ApiError(404, "arrangement not found", {"arrangement": arrangement_id})
        return arrangements.view(catalog, found, as_of or _today())

    @app.get("/v1/decisions", summary="Every decision one rule took")
    def decisions(
        caller: Reader,
        rule: str,
        start: Annotated[float | None, Query(alias="from", allow_inf_nan=False)] = None,
        end: Annotated[float | None, Query(alias="to", allow_inf_nan=False)] = None,
    ) -> dict[str, Any]:
        return views.decisions(store, rule, start, end)

    @app.post("/v1/replay", summary="Decide a declaration again, with its packs or another version")
    def replay(request: ReplayRequest, caller: Reader) -> dict[str, Any]:
        visible(caller, request.declaration_id)
        try:
            return replay_declaration(store, catalog, request.declaration_id, request.pack_version)
        except ReplayError as exc:
            raise ApiError(409, "cannot replay", str(exc)) from None

    @app.get("/v1/export", summary="Verdicts and audit trails decided in a time range, as JSONL")
    def export(
        caller: Reader,
        start: Annotated[datetime, Query(alias="from")],
        end: Annotated[datetime, Query(alias="to")],
    ) -> StreamingResponse:
        for name, moment in (("from", start), ("to", end)):
            # timestamp() overflows near the ends of the calendar; no verdict lies there
            if not EARLIEST_YEAR <= moment.year <= LATEST_YEAR:
                problem = f"{name} must be between {EARLIEST_YEAR} and {LATEST_YEAR}"
                raise ApiError(
                    422, "invalid request", [{"field": f"query.{name}", "message": problem}]
                )
        ids = store.decided_between(start.timestamp(), end.timestamp())

        def lines() -> Iterator[bytes]:
            for declaration_id in ids:
                yield (json.dumps(views.export_line(store, declaration_id)) + "\n").encode()

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    @app.get(
        "/healthz",
        summary="Liveness, with Redis and worker state",
        description=(
            "`{status, redis: up | down, workers}` and nothing more: it needs no token, so it "
            "names no address and quotes no error."
        ),
    )
    def healthz() -> JSONResponse:
        return views.health(store)

    @app.get(
        "/metrics",
        summary="Prometheus metrics (admin and auditor)",
        description=(
            "Submissions, verdicts, latency, queue depth and the balance of every quota period. "
            "These cover every importer, so submitters are refused (403)."
        ),
    )
    def metrics(caller: Reader) -> Response:
        body, content_type = views.metrics(store, catalog)
        return Response(body, media_type=content_type)

    mount_dashboard(app, store, catalog, book, settings)
    openapi.install(app)
    return app


def _today() -> date:
    """The default `as_of` of the read endpoints: today in UTC (a declaration's own
    evaluation never uses the clock, only its accepted_at)."""
    return datetime.now(UTC).date()


def _who(caller: Principal) -> str:
    return (
        caller.role if caller.business_number is None else f"{caller.role}:{caller.business_number}"
    )


async def _every(seconds: float, job: Callable[[], Awaitable[None]]) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await job()
        except Exception:  # a failed sweep is tried again at the next tick
            log.exception("sweep failed")
