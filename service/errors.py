"""JSON errors `{error, detail}` with the right status, for every failure path: every
one is an ErrorAnswer (schemas/responses.py), the model the OpenAPI document declares.

Each error is written for machines and for people at once: `error` is a short stable
phrase ("quota exhausted"), an object `detail` keeps its machine-readable keys
(`remaining`, `declaration_id`) and adds a `message` in words, and a field's problem says
what a good value looks like (a BN15, a date as YYYY-MM-DD), never a regular expression
or a parser's diagnosis. The CLI prints these words as they are."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from schemas.declaration import RFC3339_WORDS
from schemas.identifiers import BN15, BN15_WORDS
from schemas.permit import PERMIT_NUMBER
from schemas.responses import ErrorAnswer, FieldProblem
from store import StoreError, StoreUnavailable

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


# What a value matching each pattern of the schemas looks like, in words.
PATTERN_WORDS = {
    BN15: BN15_WORDS,
    PERMIT_NUMBER: "1 to 64 letters, digits, '.', '_' or '-', such as CA-CN-EV-TRQ-2026-1-000001",
}
DATE_WORDS = "a date as YYYY-MM-DD, such as 2026-11-30"
INSTANT_WORDS = f"a date as YYYY-MM-DD or {RFC3339_WORDS}"
_DATE_ERRORS = frozenset({"date_parsing", "date_from_datetime_parsing", "date_type",
                          "date_from_datetime_inexact"})  # fmt: skip
_INSTANT_ERRORS = frozenset({"datetime_parsing", "datetime_from_date_parsing", "datetime_type",
                             "datetime_object_invalid"})  # fmt: skip


def problem_message(item: Any) -> str:
    """A validation error in words: what a good value looks like, and what was given."""
    kind = item.get("type")
    given = item.get("input")
    shown = f", got {given!r}" if isinstance(given, str | int | float) else ""
    if kind == "string_pattern_mismatch":
        words = PATTERN_WORDS.get(str((item.get("ctx") or {}).get("pattern")))
        if words is not None:
            return f"must be {words}{shown}"
    if kind in _DATE_ERRORS:
        return f"must be {DATE_WORDS}{shown}"
    if kind in _INSTANT_ERRORS:
        return f"must be {INSTANT_WORDS}{shown}"
    return str(item["msg"])


def validation_detail(
    exc: ValidationError | RequestValidationError, skip: int = 0
) -> list[FieldProblem]:
    return [
        FieldProblem(
            field=field_path(tuple(item["loc"])[skip:]) or "body", message=problem_message(item)
        )
        for item in exc.errors()
    ]


def quota_exhausted(remaining: int, asked: int) -> ApiError:
    """409 for a permit the quota cannot cover: the units left, for machines and in words."""
    left = f"{remaining:,} units are left" if remaining != 1 else "1 unit is left"
    message = f"{left} in the quota, fewer than the {asked:,} asked; nothing was drawn"
    return ApiError(409, "quota exhausted", {"remaining": remaining, "message": message})


def error_response(
    status: int, error: str, detail: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    answer = ErrorAnswer(error=error, detail=detail)
    return JSONResponse(answer.model_dump(mode="json"), status_code=status, headers=headers)


# what every caller may see: anything else "not found" may be another importer's
_CATALOG = frozenset({"quota", "measure", "arrangement", "rule pack"})


def not_found_message(error: str, detail: dict[str, Any]) -> str:
    """ "declaration not found", {"declaration_id": "X"} -> "no declaration X that this
    token may see": the same words whether it does not exist or is another importer's."""
    thing = error.removesuffix(" not found")
    names = [str(value) for key, value in detail.items() if key != "message"]
    words = " ".join(["no", thing, *names])
    return words if thing in _CATALOG else f"{words} that this token may see"


def api_error_response(exc: ApiError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else exc.headers
    detail = exc.detail
    if exc.status == 404 and isinstance(detail, dict) and "message" not in detail:
        detail = {**detail, "message": not_found_message(exc.error, detail)}
    return error_response(exc.status, exc.error, detail, headers)


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
        detail.append(FieldProblem(field=field_path(named), message=problem_message(item)))
    return error_response(422, "invalid request", detail)


async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:  # no route: say which, and where the routes are listed
        where = f"{request.method} {request.url.path}"
        message = f"the API has no {where}; its routes are listed at /docs"
        return error_response(404, "not found", {"path": request.url.path, "message": message})
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
