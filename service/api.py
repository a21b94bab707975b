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
from service.dependencies import Enqueue, Services
from service.errors import (
    ApiError,
    on_api_error,
    on_http_error,
    on_request_validation,
    on_store_error,
)
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
from service.waiting import StatusWaiters
from settings import Settings
from store.errors import StoreError
from store.redis_store import RedisStore

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
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(_every(settings.sweep_after / 4, sweep)) if sweep else None
        services.waiters.start()
        yield
        await asyncio.to_thread(services.waiters.stop)
        if task is not None:
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
            "declaration, poll its verdict, read its audit trail."
        ),
    )
    app.state.services = services  # what service/dependencies.py hands the routes
    app.state.waiters = services.waiters  # for a test that watches the long polls
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
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
        except Exception:  # a failed sweep is tried again at the next tick
            log.exception("sweep failed")
