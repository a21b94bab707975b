"""Operating the service: liveness (no token), Prometheus metrics (admin and auditor),
and the API's documentation page."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from schemas.responses import Health
from service import views
from service.dependencies import Packs, Reader, Store, json_errors

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
