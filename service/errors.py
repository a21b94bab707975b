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

from schemas.declaration_fields import RFC3339_WORDS
from schemas.identifiers import BN15, BN15_WORDS
from schemas.permit import PERMIT_NUMBER
from schemas.responses import ErrorAnswer, FieldProblem
from service.language import Language, request_language
from service.words import _, translate_detail
from store import StoreError, StoreUnavailable, Unreadable

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
    PERMIT_NUMBER: _(
        "1 to 64 letters, digits, '.', '_' or '-', such as CA-CN-EV-TRQ-2026-1-000001"
    ),
}
DATE_WORDS = _("a date as YYYY-MM-DD, such as 2026-11-30")
INSTANT_WORDS = _(f"a date as YYYY-MM-DD or {RFC3339_WORDS}")
_DATE_ERRORS = frozenset({"date_parsing", "date_from_datetime_parsing", "date_type",
                          "date_from_datetime_inexact"})  # fmt: skip
_INSTANT_ERRORS = frozenset({"datetime_parsing", "datetime_from_date_parsing", "datetime_type",
                             "datetime_object_invalid"})  # fmt: skip


def problem_message(item: Any) -> str:
    """A validation error in words: what a good value looks like, and what was given."""
    kind = item.get("type")
    given = item.get("input")
    if kind == "string_pattern_mismatch":
        words = PATTERN_WORDS.get(str((item.get("ctx") or {}).get("pattern")))
        if words is not None:
            return _must_be(words, given)
    if kind in _DATE_ERRORS:
        return _must_be(DATE_WORDS, given)
    if kind in _INSTANT_ERRORS:
        return _must_be(INSTANT_WORDS, given)
    return str(item["msg"])


def _must_be(words: str, given: Any) -> str:
    if isinstance(given, str | int | float):
        return _(f"must be {words}, got {given!r}")
    return _(f"must be {words}")


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
    if remaining == 1:
        message = _(
            f"1 unit is left in the quota, fewer than the {asked:,} asked; nothing was drawn"
        )
    else:
        message = _(
            f"{remaining:,} units are left in the quota, fewer than the {asked:,} asked; "
            "nothing was drawn"
        )
    return ApiError(409, "quota exhausted", {"remaining": remaining, "message": message})


def error_response(
    status: int,
    error: str,
    detail: Any = None,
    headers: dict[str, str] | None = None,
    language: Language = "en",
) -> JSONResponse:
    """The answer `{error, detail}`; `error` is the stable phrase a client tests for and
    stays English, the words of `detail` are in `language`."""
    answer = translated(ErrorAnswer(error=error, detail=detail), language)
    return JSONResponse(answer, status_code=status, headers=headers)


def translated(answer: ErrorAnswer, language: Language) -> dict[str, Any]:
    body = answer.model_dump(mode="json")
    body["detail"] = translate_detail(body["detail"], language)
    return body


# What is not found, in words: what every caller may see is said to be missing; anything
# else may be another importer's, and the words are the same whether it exists or not.
_NOT_FOUND = {
    "quota": _("no quota {names}"),
    "measure": _("no measure {names}"),
    "arrangement": _("no arrangement {names}"),
    "rule pack": _("no rule pack {names}"),
    "declaration": _("no declaration {names} that this token may see"),
    "permit": _("no permit {names} that this token may see"),
    "webhook": _("no webhook {names} that this token may see"),
}


def not_found_message(error: str, detail: dict[str, Any]) -> str:
    """ "declaration not found", {"declaration_id": "X"} -> "no declaration X that this
    token may see": the same words whether it does not exist or is another importer's."""
    thing = error.removesuffix(" not found")
    names = " ".join(str(value) for key, value in detail.items() if key != "message")
    template = _NOT_FOUND.get(thing)
    if template is None:
        return f"no {thing} {names} that this token may see"
    return template.format(names=names)


def api_error_response(exc: ApiError, language: Language = "en") -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else exc.headers
    detail = exc.detail
    if exc.status == 404 and isinstance(detail, dict) and "message" not in detail:
        detail = {**detail, "message": not_found_message(exc.error, detail)}
    return error_response(exc.status, exc.error, detail, headers, language)


async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return api_error_response(exc, request_language(request))


async def on_request_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    detail = []
    for item in exc.errors():
        loc = tuple(item["loc"])
        # a JSON body's fields are named as the body names them: "quantity", not "body.quantity"
        named = loc[1:] if len(loc) > 1 and loc[0] == "body" else loc
        detail.append(FieldProblem(field=field_path(named), message=problem_message(item)))
    return error_response(422, "invalid request", detail, language=request_language(request))


async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    language = request_language(request)
    if exc.status_code == 404:  # no route: say which, and where the routes are listed
        where = f"{request.method} {request.url.path}"
        message = _(f"the API has no {where}; its routes are listed at /docs")
        detail = {"path": request.url.path, "message": message}
        return error_response(404, "not found", detail, language=language)
    return error_response(exc.status_code, str(exc.detail).lower(), None, language=language)


UNREADABLE = "stored record unreadable"
"""The error of a 409 for a declaration whose stored record cannot be served (changed by
hand in Redis): never a 5xx; its audit trail says where it fails verification."""


def unreadable_response(exc: Unreadable) -> JSONResponse:
    """409: a stored value of the declaration does not read back (the store's Unreadable),
    naming its key and what is wrong; its audit fails verification at that event."""
    detail = (
        f"{exc}; GET /v1/declarations/{exc.declaration_id}/audit fails verification at "
        f"event {exc.seq}"
    )
    return error_response(409, UNREADABLE, detail)


def unservable(declaration_id: str, exc: Exception) -> ApiError:
    """409: the declaration's stored body or verdict reads back, but not as a body and a
    verdict (a packed value changed by hand can unpack to other text)."""
    detail = (
        f"the stored body or verdict of declaration {declaration_id} is not one that can be "
        f"served ({type(exc).__name__}); GET /v1/declarations/{declaration_id}/audit says "
        "where it fails verification"
    )
    return ApiError(409, UNREADABLE, detail)


async def on_store_error(request: Request, exc: Exception) -> JSONResponse:
    """503 in words a caller may read: the store's own message (which names Redis's
    address and error) goes to the log, not to the caller."""
    assert isinstance(exc, StoreError)
    if isinstance(exc, Unreadable):  # a record changed by hand: what and where, never a 5xx
        log.error("%s %s: %s", request.method, request.url.path, exc)
        return unreadable_response(exc)
    log.warning("store failure on %s %s: %s", request.method, request.url.path, exc)
    language = request_language(request)
    if isinstance(exc, StoreUnavailable):
        return error_response(
            503, "store unavailable", _("the store cannot be reached; try again shortly"),
            {"Retry-After": "2"}, language,
        )  # fmt: skip
    return error_response(
        503, "store error", _("the store refused the operation; try again"),
        {"Retry-After": "2"}, language,
    )  # fmt: skip
