"""Operating the service: liveness and readiness (no token), Prometheus metrics (admin and auditor),
and the API's documentation page.

/docs is Swagger UI with its script and stylesheet served by this process, from the
`swagger-ui-bundle-v2` package: customs networks are often closed, and a page that
loads from a CDN shows nothing there. Only the two files the page names are served."""

from __future__ import annotations

from pathlib import Path

import swagger_ui_bundle  # type: ignore[import-untyped]  # ships no py.typed
from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, Response

from schemas.responses import Health, Readiness
from service import views
from service.dependencies import Packs, Reader, Store, json_errors
from service.errors import ApiError

DOCS_ASSETS = Path(str(swagger_ui_bundle.swagger_ui_path))
SWAGGER_JS, SWAGGER_CSS = "swagger-ui-bundle.js", "swagger-ui.css"
ASSET_TYPES = {SWAGGER_JS: "text/javascript", SWAGGER_CSS: "text/css"}

router = APIRouter(tags=["operations"])


@router.get(
    "/healthz",
    summary="Liveness, with Redis and worker state",
    description=(
        "`{status, redis: up | down, workers}` and nothing more: it needs no token, so it "
        "names no address and quotes no error."
    ),
    response_model=Health,
    responses={503: {"model": Health, "description": "Redis is down"}},
)
def healthz(store: Store) -> JSONResponse:
    return views.health(store)


@router.get(
    "/readyz",
    summary="Readiness: packs loaded, Redis taking writes, a worker consuming",
    description=(
        "200 `{status: ready}` only when the service can decide a declaration: the rule "
        "packs are loaded, Redis takes writes and at least one worker consumes; otherwise "
        "503 with the reason. No token: the reason names no address and quotes no error. "
        "`/healthz` stays liveness."
    ),
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "not ready, and why"}},
)
def readyz(store: Store) -> JSONResponse:
    return views.readiness(store)


@router.get(
    "/metrics",
    summary="Prometheus metrics (admin and auditor)",
    description=(
        "Submissions, verdicts, latency, queue depth and the balance of every quota period. "
        "These cover every importer, so submitters are refused (403)."
    ),
    response_class=PlainTextResponse,
    responses={
        200: {
            "description": "Prometheus text exposition format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        **json_errors(401, 403, 503),
    },
)
def metrics(caller: Reader, store: Store, catalog: Packs) -> Response:
    body, content_type = views.metrics(store, catalog)
    return Response(body, media_type=content_type)


@router.get("/docs", include_in_schema=False)
def docs(request: Request) -> HTMLResponse:
    # Relative to the app's root path, as FastAPI's own page is: behind a proxy that
    # mounts the API under a prefix, the assets are found under it too.
    root = request.scope.get("root_path", "").rstrip("/")
    return get_swagger_ui_html(
        openapi_url=f"{root}/openapi.json",
        title="Accord API",
        swagger_js_url=f"{root}/docs/assets/{SWAGGER_JS}",
        swagger_css_url=f"{root}/docs/assets/{SWAGGER_CSS}",
        swagger_favicon_url=f"{root}/static/accord.svg",
    )


@router.get("/docs/assets/{name}", include_in_schema=False)
def docs_asset(name: str) -> FileResponse:
    if name not in ASSET_TYPES:
        raise ApiError(404, "not found", None)
    return FileResponse(DOCS_ASSETS / name, media_type=ASSET_TYPES[name])
