"""Exchange rates: load them (administrators) in the Bank of Canada's Valet JSON, or
China's monthly customs rates in Accord's format (schemas/rates.py); read the rate that
applies on a date, under the current packs' rule for which quote prevails."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from rules.currency import conversion_assumptions, conversion_rule, rate_query_on
from schemas.declaration_fields import EARLIEST_DAY, LATEST_DAY
from schemas.rates import RateApplied, RatesInvalid, RatesLoaded, parse_rates
from service.dependencies import Admin, Caller, Packs, Store, errors, who
from service.errors import ApiError
from service.routes.declarations import read_json
from service.words import _
from store import now_rfc3339

router = APIRouter(prefix="/v1/exchange-rates", tags=["exchange rates"])

VALET_EXAMPLE: dict[str, Any] = {
    "terms": {"url": "https://www.bankofcanada.ca/terms/"},
    "seriesDetail": {
        "FXUSDCAD": {
            "label": "USD/CAD, made-up example values",
            "description": "Made-up values in the shape the Bank serves; not the Bank's rates",
            "dimension": {"key": "d", "name": "date"},
        }
    },
    "observations": [{"d": "2026-03-06", "FXUSDCAD": {"v": "1.3650"}}],
}
_QUOTE = {"type": "object", "properties": {"v": {"type": "string", "example": "1.3650"}}}
BODY_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {
            "title": "Bank of Canada Valet JSON (FX<CUR>CAD series), into CAD",
            "type": "object",
            "required": ["observations"],
            "properties": {
                "terms": {"type": "object"},
                "seriesDetail": {"type": "object"},
                "groupDetail": {"type": "object"},
                "observations": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["d"],
                        "properties": {"d": {"type": "string", "format": "date"}},
                        "patternProperties": {"^FX[A-Z]{3}CAD$": _QUOTE},
                    },
                },
            },
        },
        {
            "title": "China's monthly customs rates, into CNY",
            "type": "object",
            "required": ["into", "source", "rates"],
            "properties": {
                "into": {"const": "CNY"},
                "source": {"type": "string"},
                "rates": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["month", "currency", "rate"],
                        "properties": {
                            "month": {"type": "string", "example": "2026-03"},
                            "currency": {"type": "string", "example": "CAD"},
                            "rate": {
                                "type": "string",
                                "description": "CNY per one unit of the currency",
                                "example": "5.2300",
                            },
                        },
                    },
                },
            },
        },
    ]
}


@router.post(
    "",
    summary="Load exchange rates (admin): the Bank of Canada's Valet JSON as the Bank "
    "serves it, or China's monthly customs rates",
    response_model=RatesLoaded,
    responses=errors(401, 403, 413, 422, 503),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": BODY_SCHEMA, "example": VALET_EXAMPLE}},
        }
    },
)
async def load(request: Request, caller: Admin, store: Store) -> RatesLoaded:
    raw = await read_json(request)
    try:
        quotes = parse_rates(raw)
    except RatesInvalid as exc:
        detail = [{"field": where, "message": what} for where, what in exc.problems]
        raise ApiError(422, "invalid exchange rates", detail) from None
    loaded, replaced, unchanged = await run_in_threadpool(
        store.load_rates, quotes, f"{who(caller)} {caller.token_key}".strip(), now_rfc3339()
    )
    days = sorted(quote.on for quote in quotes)
    return RatesLoaded(
        into=quotes[0].into,
        currencies=tuple(sorted({quote.currency for quote in quotes})),
        first=days[0],
        last=days[-1],
        loaded=loaded,
        replaced=replaced,
        unchanged=unchanged,
    )


Currency = Annotated[str, Query(pattern=r"^[A-Z]{3}$", description="ISO 4217, e.g. EUR")]
Into = Annotated[
    str, Query(pattern=r"^[A-Z]{3}$", description="the home currency: CAD (default) or CNY")
]
Day = Annotated[
    date,
    Query(ge=EARLIEST_DAY, le=LATEST_DAY, description="the conversion date, e.g. the date of "
          "direct shipment"),
]  # fmt: skip


@router.get(
    "",
    summary="The exchange rate that applies on a date, with its own date and source",
    response_model=RateApplied,
    responses=errors(401, 404, 422, 503),
)
def applied(
    caller: Caller, store: Store, catalog: Packs, currency: Currency, on: Day, into: Into = "CAD"
) -> RateApplied:
    if currency == into:
        raise ApiError(
            422,
            "invalid request",
            [{"field": "currency", "message": _(f"{into} is the home currency")}],
        )
    found = rate_query_on(catalog.current, into, currency, on)
    if found is None:
        raise ApiError(
            422,
            "invalid request",
            [{"field": "into", "message": _(f"no pack converts into {into}")}],
        )
    pack, query = found
    quote = query.prevailing(store.rates_between(into, currency, query.first, query.last))
    if quote is None:
        raise ApiError(
            404,
            "no rate applies",
            {"currency": currency, "into": into, "on": on.isoformat(),
             "searched_from": query.first.isoformat(), "searched_to": query.last.isoformat(),
             "message": _(
                 f"no rate of {currency} into {into} is loaded for a day from {query.first} "
                 f"to {query.last}, the days whose rate may apply on {on}"
             )},
        )  # fmt: skip
    return RateApplied(
        currency=currency,
        into=into,
        on=on,
        rate=quote.rate,
        rate_date=quote.on,
        source=quote.source,
        rule=conversion_rule(pack),
        assumptions=conversion_assumptions(pack, query.basis),
        pack=pack.id,
        pack_version=pack.version,
        loaded_at=quote.loaded_at,
        loaded_by=quote.loaded_by,
        replaced=tuple(store.rate_replacements(into, currency, quote.on)),
    )
