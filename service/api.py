"""The HTTP API (v1), assembled: the app's services, its middleware and error handlers,
and the routers of service/routes/, one per resource. Routes validate, check the
caller's role, call the store, the queue or a workflow, and answer; the verdicts
themselves come from the workers."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi import APIRouter, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rules.catalog import Catalog, load_catalog
from service import openapi
from service.auth import TokenBook
from service.dependencies import Enqueue, Services, bearer
from service.errors import (
    ApiError,
    api_error_response,
    error_response,
    on_api_error,
    on_http_error,
    on_request_validation,
    on_store_error,
)
from service.language import ContentLanguage, scope_language
from service.routes import (
    arrangements,
    audit,
    dashboard,
    declarations,
    measures,
    operations,
    permits,
    quotas,
    rates,
)
from service.routes import webhooks as webhook_routes
from service.waiting import CallerSlots, StatusWaiters
from service.words import _
from settings import Settings
from store import Store, StoreError

log = logging.getLogger(__name__)

ROUTERS: tuple[APIRouter, ...] = (
    declarations.router,
    audit.router,
    permits.router,
    quotas.router,
    measures.router,
    arrangements.router,
    rates.router,
    operations.router,
    webhook_routes.router,
)


class RequestGate:
    """What every request passes before a route runs. On the API's routes the bearer token
    is checked first: without a valid one the answer is 401 before a byte of the body is
    read. Then the whole body is read, up to the limit: 413 past it, whether or not the
    route would read a body at all (so no action runs on an over-long request), and
    whether or not Content-Length tells the truth. The route is handed the body as it
    came. A client that goes away before its body ends is one line in the log.

    How long the body may take is the connection's (service/connections.py)."""

    def __init__(self, app: ASGIApp, limit: int, tokens: TokenBook) -> None:
        self.app = app
        self.limit = limit
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        if needs_token(scope["path"]):
            try:
                bearer(self.tokens, headers.get(b"authorization", b"").decode("latin-1"))
            except ApiError as refused:
                await _early(scope, send, api_error_response(refused, scope_language(scope)))
                return
        length = headers.get(b"content-length", b"")
        if length.isdigit() and int(length) > self.limit:
            await self._refuse(scope, send)
            return
        if not (length.isdigit() and int(length) > 0) and b"transfer-encoding" not in headers:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                client = scope.get("client") or ("?", 0)
                log.warning("client %s went away before its body ended: %s %s",
                            client[0], scope["method"], scope["path"])  # fmt: skip
                return
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.limit:
                await self._refuse(scope, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # a disconnect, for a long poll that listens for one

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        response = error_response(
            413, "request body too large", _(f"the limit is {self.limit} bytes"),
            language=scope_language(scope),
        )  # fmt: skip
        await _early(scope, send, response)


def needs_token(path: str) -> bool:
    """The API's routes, each of which asks for a caller: everything under /v1/, and
    /metrics. /healthz, the docs, the OpenAPI document, /static and the dashboard (whose
    sign-in form carries the token in its body) need none."""
    return path.startswith("/v1/") or path == "/metrics"


async def _early(scope: Scope, send: Send, response: JSONResponse) -> None:
    """An answer before the body is read: the connection closes after it, so that what
    the client still sends is never read."""
    response.headers["connection"] = "close"
    await response(scope, _empty_receive, send)


async def _empty_receive() -> Message:
    return {"type": "http.disconnect"}


def create_app(
    settings: Settings,
    store: Store,
    enqueue: Enqueue,
    catalog: Catalog | None = None,
    tokens: TokenBook | None = None,
    sweep: Callable[[], Awaitable[None]] | None = None,
    enqueue_bulk: Enqueue | None = None,
    lost_watch: Callable[[], Awaitable[None]] | None = None,
) -> FastAPI:
    """`enqueue` hands single submissions to the workers, `enqueue_bulk` (by default the
    same) batches and allocation runs, which must not hold up another importer's single.
    `sweep` runs every ACCORD_SWEEP_AFTER / 4 s, `lost_watch` every ACCORD_LOST_AFTER / 4 s
    (workers/schedule.py)."""
    if tokens is None:
        if settings.tokens_file is None:
            raise RuntimeError("ACCORD_TOKENS_FILE is not set")
        tokens = TokenBook.load(settings.tokens_file)
    services = Services(
        settings=settings,
        store=store,
        catalog=catalog or load_catalog(settings.rules_dirs),
        tokens=tokens,
        enqueue=enqueue,
        enqueue_bulk=enqueue_bulk or enqueue,
        waiters=StatusWaiters(store, settings.long_polls_per_caller),
        reads=CallerSlots(settings.reads_per_caller, _("reads of declarations")),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tasks = [
            asyncio.create_task(_every(every, job))
            for every, job in (
                (settings.sweep_after / 4, sweep),
                (settings.lost_after / 4, lost_watch),
            )
            if job is not None
        ]
        services.waiters.start()
        yield
        await asyncio.to_thread(services.waiters.stop)
        for task in tasks:
            task.cancel()

    app = FastAPI(
        lifespan=lifespan,
        # /docs is service/routes/operations.py's, with its assets served from here;
        # FastAPI's own pages load their scripts from a CDN (and ReDoc has no offline copy)
        docs_url=None,
        redoc_url=None,
        title="Accord",
        version="1",
        description=(
            "Compliance checking of import declarations under trade measures. Submit a "
            "declaration, poll its verdict, read its audit trail. Answers are in English, "
            "French or Chinese as `Accept-Language` asks (`fr-CA`, `zh-CN`; English by "
            "default), and `Content-Language` says which: the words of findings, titles and "
            "errors are translated, field names, ids, codes, numbers and the record are not."
        ),
    )
    app.state.services = services  # what service/dependencies.py hands the routes
    app.state.waiters = services.waiters  # for a test that watches the long polls
    app.add_middleware(RequestGate, limit=settings.max_body_bytes, tokens=tokens)
    app.add_middleware(ContentLanguage)  # outside the gate: its refusals say theirs too
    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_request_validation)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(StoreError, on_store_error)
    for router in ROUTERS:
        app.include_router(router)
    dashboard.install(app, services)
    openapi.install(app)
    return app


async def _every(seconds: float, job: Callable[[], Awaitable[None]]) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await job()
        except StoreError as exc:  # Redis away: expected, and the next tick tries again
            log.warning("a periodic job skipped a tick: %s", exc)
        except Exception:  # a failed sweep is tried again at the next tick
            log.exception("sweep failed")
