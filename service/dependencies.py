"""What every route depends on, in one place: the app's services (settings, store,
catalog, token book, queues, long-poll waiters), the caller and its role, the default
day of the read endpoints, and the error answers an operation declares.

`create_app` builds one `Services` and keeps it on the app's state; the routes ask for
the parts they use through FastAPI's dependencies, so a route module holds no state of
its own and the same routers serve every app a test builds."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import Depends, Query, Request

from rules.catalog import Catalog
from schemas.declaration_fields import EARLIEST_DAY, LATEST_DAY
from schemas.responses import ErrorAnswer
from service.auth import Principal, TokenBook
from service.errors import ApiError
from service.waiting import CallerSlots, StatusWaiters
from service.words import _
from settings import Settings
from store import DeclarationRecord, Declarations, Unreadable
from store import Store as StoreProtocol

Enqueue = Callable[[Sequence[str]], None]


@dataclass(frozen=True)
class Services:
    """What the routes of one app share. `enqueue` takes single submissions,
    `enqueue_bulk` batches and allocation runs, which must not hold up another
    importer's single."""

    settings: Settings
    store: StoreProtocol
    catalog: Catalog
    tokens: TokenBook
    enqueue: Enqueue
    enqueue_bulk: Enqueue
    waiters: StatusWaiters
    # a declaration's status or trail may weigh megabytes: a token reads a few at once
    reads: CallerSlots


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


# The dependencies below are coroutines although they do no I/O: FastAPI runs a plain
# function dependency in the thread pool, a hop to another thread and back for each one
# (five per submission, half the API's CPU for a route that only answers), while a
# coroutine runs on the event loop in place.


async def _services(request: Request) -> Services:
    return services(request)


async def _store(request: Request) -> StoreProtocol:
    return services(request).store


async def _catalog(request: Request) -> Catalog:
    return services(request).catalog


async def _settings(request: Request) -> Settings:
    return services(request).settings


App = Annotated[Services, Depends(_services)]
Store = Annotated[StoreProtocol, Depends(_store)]
Packs = Annotated[Catalog, Depends(_catalog)]
Config = Annotated[Settings, Depends(_settings)]


def bearer(tokens: TokenBook, header: str) -> Principal:
    """The caller an Authorization header names; 401 without a bearer token or with an
    unknown one. The API's middleware asks it before a byte of the body is read
    (service/api.py), the routes again for the caller itself."""
    scheme, _space, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented:
        raise ApiError(401, "missing bearer token", _("send Authorization: Bearer TOKEN"))
    found = tokens.principal(presented.strip())
    if found is None:
        raise ApiError(401, "invalid token", None)
    return found


async def principal(request: Request) -> Principal:
    """The caller, from its bearer token; 401 without one or with an unknown one."""
    return bearer(services(request).tokens, request.headers.get("authorization", ""))


Caller = Annotated[Principal, Depends(principal)]


async def admin(caller: Caller) -> Principal:
    if caller.role != "admin":
        raise ApiError(403, "admin role required", None)
    return caller


async def reader(caller: Caller) -> Principal:
    if caller.role not in ("admin", "auditor"):
        raise ApiError(403, "auditor or admin role required", None)
    return caller


async def writer(caller: Caller) -> Principal:
    # An auditor reads everything and writes nothing (SPEC §7); admin-only writes
    # have their own, stricter dependency.
    if caller.role == "auditor":
        raise ApiError(403, "the auditor role is read-only", None)
    return caller


Admin = Annotated[Principal, Depends(admin)]
Reader = Annotated[Principal, Depends(reader)]
Writer = Annotated[Principal, Depends(writer)]

AsOf = Annotated[
    date | None,
    Query(
        ge=EARLIEST_DAY,
        le=LATEST_DAY,
        description="the day to look at (default today, UTC)",
    ),
]


def today() -> date:
    """The default `as_of` of the read endpoints: today in UTC (a declaration's own
    evaluation never uses the clock, only its accepted_at)."""
    return datetime.now(UTC).date()


def slot_key(caller: Principal) -> str:
    """The caller as per-caller limits count it: its token."""
    return caller.token_key or who(caller)


def who(caller: Principal) -> str:
    """The caller as audit events and per-caller limits name it."""
    return (
        caller.role if caller.business_number is None else f"{caller.role}:{caller.business_number}"
    )


def visible(store: Declarations, caller: Principal, declaration_id: str) -> DeclarationRecord:
    """A declaration the caller may read; 404 alike for one that does not exist and for
    another importer's, so that an id tells a submitter nothing. A record that does not read back is Unreadable
    (a 409 naming what) only to whom may see it."""
    try:
        record = store.get(declaration_id)
    except Unreadable as exc:
        if not caller.sees(exc.business_number):
            raise ApiError(
                404, "declaration not found", {"declaration_id": declaration_id}
            ) from None
        raise
    if record is None or not caller.sees(record.business_number):
        raise ApiError(404, "declaration not found", {"declaration_id": declaration_id})
    return record


ERRORS: dict[int, str] = {
    400: "the request could not be read",
    401: "no bearer token, or an unknown one",
    403: "the caller's role, or its importer, may not do this",
    404: "not found (or another importer's)",
    409: "conflicts with what is stored",
    413: "request body too large",
    422: "invalid input; `detail` names each field and what is wrong with it",
    429: "too many waiting requests for this token; retry after Retry-After",
    503: "the store cannot be reached; retry after Retry-After",
}


def errors(*codes: int, **described: str) -> dict[int | str, dict[str, Any]]:
    """The error answers an operation declares, all of them `{error, detail}`; a keyword
    `e409="…"` says what that status means for this operation."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        words = described.get(f"e{code}", ERRORS[code])
        out[code] = {"model": ErrorAnswer, "description": words}
    return out


def json_errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`errors` for an operation whose success is not JSON (/metrics): FastAPI would
    declare a model under the success's media type, but errors are JSON everywhere."""
    schema = {"$ref": f"#/components/schemas/{ErrorAnswer.__name__}"}
    return {
        code: {"description": ERRORS[code], "content": {"application/json": {"schema": schema}}}
        for code in codes
    }
