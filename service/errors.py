"""JSON errors `{error, detail}` with the right status, for every failure path: every
one is an ErrorAnswer (schemas/responses.py), the model the OpenAPI document declares."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from schemas.responses import ErrorAnswer, FieldProblem
from store.errors import StoreError, StoreUnavailable

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(
        self, status: int, error: str, detail: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.detail = detail
        self.headers = headers


def field_path(loc: tuple[int | str, ...]) -> str:
    """("lines", 0, "vins", 1) -> "lines[0].vins[1]"."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def validation_detail(
    exc: ValidationError | RequestValidationError, skip: int = 0
) -> list[FieldProblem]:
    return [
        FieldProblem(field=field_path(tuple(item["loc"])[skip:]) or "body", message=item["msg"])
        for item in exc.errors()
    ]


def error_response(
    status: int, error: str, detail: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    answer = ErrorAnswer(error=error, detail=detail)
    return JSONResponse(answer.model_dump(mode="json"), status_code=status, headers=headers)


def api_error_response(exc: ApiError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else exc.headers
    return error_response(exc.status, exc.error, exc.detail, headers)


async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return api_error_response(exc)


async def on_request_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    detail = []
    for item in exc.errors():
        loc = tuple(item["loc"])
        # a JSON body's fields are named as the body names them: "quantity", not "body.quantity"
        named = loc[1:] if len(loc) > 1 and loc[0] == "body" else loc
        detail.append(FieldProblem(field=field_path(named), message=item["msg"]))
    return error_response(422, "invalid request", detail)


async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return error_response(exc.status_code, str(exc.detail).lower(), None)


async def on_store_error(request: Request, exc: Exception) -> JSONResponse:
    """503 in words a caller may read: the store's own message (which names Redis's
    address and error) goes to the log, not to the caller."""
    assert isinstance(exc, StoreError)
    log.warning("store failure on %s %s: %s", request.method, request.url.path, exc)
    if isinstance(exc, StoreUnavailable):
        return error_response(
            503, "store unavailable", "the store cannot be reached; try again shortly",
            {"Retry-After": "2"},
        )  # fmt: skip
    return error_response(
        503, "store error", "the store refused the operation; try again", {"Retry-After": "2"}
    )
