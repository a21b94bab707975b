"""Exchange rates as operator data (SPEC §3, §7): the quotes a store keeps, the two
loading formats, and the API's answers.

Canada's rates are loaded in the Bank of Canada's own format, the JSON its Valet API
serves (`https://www.bankofcanada.ca/valet/observations/FXUSDCAD/json`, or the group
`FX_RATES_DAILY`):

    {"terms": {...}, "seriesDetail": {"FXUSDCAD": {...}},
     "observations": [{"d": "2026-03-06", "FXUSDCAD": {"v": "1.3650"}}, ...]}

Every series of an observation must be an `FX<CUR>CAD` series (Canadian dollars per
unit of CUR); its value is a decimal string. China's customs use a monthly rate, which
no public machine-readable feed serves; it is loaded in a format of Accord's own, each
`rate` in CNY per one unit of `currency`:

    {"into": "CNY", "source": "GACC customs exchange rates, March 2026",
     "rates": [{"month": "2026-03", "currency": "CAD", "rate": "5.2300"}, ...]}

Parsing is strict and whole: a body with any bad field is refused, naming every bad
field, and nothing of it is stored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from schemas.declaration_fields import EARLIEST_DAY, LATEST_DAY

VALET_SERIES = re.compile(r"FX([A-Z]{3})CAD")
CURRENCY = r"^[A-Z]{3}$"
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_MONTH = re.compile(r"\d{4}-\d{2}")
_RATE = re.compile(r"\d{1,9}(\.\d{1,10})?")
# what the Valet API serves besides the observations; anything else is not the Bank's
VALET_KEYS = frozenset({"terms", "seriesDetail", "groupDetail", "observations"})
MONTHLY_KEYS = frozenset({"into", "source", "rates"})
MAX_QUOTES = 50_000  # quotes in one body (about 20 years of 10 daily series)


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RateQuote(_Frozen):
    """One published rate: `rate` units of `into` per unit of `currency`, quoted for the
    day `on` (a monthly rate: the first day of its month)."""

    currency: str = Field(pattern=CURRENCY)
    into: str = Field(pattern=CURRENCY)
    on: date
    rate: Decimal
    source: str = Field(description="who published the rate, and the series")
    loaded_at: str | None = Field(default=None, description="when the operator loaded it")
    loaded_by: str | None = Field(default=None, description="who loaded it (role and token)")


class RateReplaced(_Frozen):
    """A quote a later load replaced: the value it had, and who replaced it and when."""

    previous: RateQuote
    replaced_at: str
    replaced_by: str


class RatesLoaded(_Frozen):
    """`POST /v1/exchange-rates`: what the load did, by quote."""

    into: str
    currencies: tuple[str, ...]
    first: date
    last: date
    loaded: int = Field(description="quotes for days that had none")
    replaced: int = Field(description="quotes that replaced another value of the same day")
    unchanged: int = Field(description="quotes already held with the same value")


class RateApplied(_Frozen):
    """`GET /v1/exchange-rates`: the rate that applies on a date under the current packs'
    rule, with its own date, its source and the assumptions the rule rests on."""

    currency: str
    into: str
    on: date = Field(description="the date asked for (the conversion date)")
    rate: Decimal
    rate_date: date = Field(description="the day the rate was quoted for")
    source: str
    rule: str = Field(description="which quote prevails on a date (the pack's setting)")
    assumptions: tuple[str, ...]
    pack: str
    pack_version: str
    loaded_at: str | None
    loaded_by: str | None
    replaced: tuple[RateReplaced, ...] = Field(
        description="earlier values of the same day, replaced by later loads"
    )


class RatesInvalid(ValueError):
    """A loading body that is not valid; `problems` names every bad field."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{where}: {what}" for where, what in problems))
        self.problems = problems


def _rate(value: object, where: str, problems: list[tuple[str, str]]) -> Decimal | None:
    if not isinstance(value, str) or _RATE.fullmatch(value) is None:
        problems.append((where, f'a rate is a decimal string such as "1.3650", got {value!r}'))
        return None
    try:
        rate = Decimal(value)
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        problems.append((where, f"{value!r} is not a decimal"))
        return None
    if rate <= 0:
        problems.append((where, f"a rate must be positive, got {value!r}"))
        return None
    return rate


def _day(value: object, where: str, problems: list[tuple[str, str]]) -> date | None:
    if isinstance(value, str) and _DAY.fullmatch(value):
        try:
            return _in_range(date.fromisoformat(value), where, problems)
        except ValueError:
            pass
    problems.append((where, f"a date is written YYYY-MM-DD, got {value!r}"))
    return None


def _in_range(day: date, where: str, problems: list[tuple[str, str]]) -> date | None:
    """The day, if a declaration could be converted on it (the dates a declaration and
    `GET /v1/exchange-rates` accept); a quote outside them could never prevail."""
    if EARLIEST_DAY <= day <= LATEST_DAY:
        return day
    problems.append((where, f"a day from {EARLIEST_DAY} to {LATEST_DAY}, got {day}"))
    return None


def _unknown_keys(
    body: Mapping[str, Any], known: frozenset[str], problems: list[tuple[str, str]]
) -> None:
    for key in sorted(set(body) - known):
        problems.append((key, "unknown field"))


def parse_valet(body: object) -> tuple[RateQuote, ...]:
    """The quotes of a Bank of Canada Valet body, into CAD; RatesInvalid naming every
    bad field otherwise."""
    problems: list[tuple[str, str]] = []
    if not isinstance(body, dict):
        raise RatesInvalid([("body", "a Valet body is a JSON object with `observations`")])
    _unknown_keys(body, VALET_KEYS, problems)
    details = body.get("seriesDetail", {})
    if not isinstance(details, dict):
        problems.append(("seriesDetail", "an object keyed by series name"))
        details = {}
    observations = body.get("observations")
    if not isinstance(observations, list) or not observations:
        problems.append(("observations", "a non-empty list of {d, FX<CUR>CAD: {v}}"))
        raise RatesInvalid(problems)
    quotes: dict[tuple[str, date], RateQuote] = {}
    for index, item in enumerate(observations):
        where = f"observations[{index}]"
        if not isinstance(item, dict):
            problems.append((where, "an object {d, FX<CUR>CAD: {v}}"))
            continue
        day = _day(item.get("d"), f"{where}.d", problems)
        series_names = [key for key in item if key != "d"]
        if not series_names:
            problems.append((where, "names no FX<CUR>CAD series"))
        for series in series_names:
            at = f"{where}.{series}"
            matched = VALET_SERIES.fullmatch(series)
            if matched is None:
                problems.append(
                    (at, "not an FX<CUR>CAD series (Canadian dollars per unit of a currency)")
                )
                continue
            value = item[series]
            if not isinstance(value, dict) or set(value) != {"v"}:
                problems.append((at, 'an object {"v": "<rate>"}'))
                continue
            rate = _rate(value["v"], f"{at}.v", problems)
            currency = matched.group(1)
            if currency == "CAD":
                problems.append((at, "a rate of CAD into CAD is not a rate"))
                continue
            if day is None or rate is None:
                continue
            if (currency, day) in quotes:
                problems.append((at, f"{series} is given twice for {day}"))
                continue
            detail = details.get(series)
            label = detail.get("label") if isinstance(detail, dict) else None
            named = f" ({label})" if isinstance(label, str) and label else ""
            quotes[(currency, day)] = RateQuote(
                currency=currency,
                into="CAD",
                on=day,
                rate=rate,
                source=f"Bank of Canada, Valet series {series}{named}",
            )
    if len(quotes) > MAX_QUOTES:
        problems.append(("observations", f"at most {MAX_QUOTES} quotes in one load"))
    if problems:
        raise RatesInvalid(problems)
    return tuple(quotes.values())


def parse_monthly(body: object) -> tuple[RateQuote, ...]:
    """The quotes of a monthly customs rates body (China's customs, into CNY)."""
    problems: list[tuple[str, str]] = []
    if not isinstance(body, dict):
        raise RatesInvalid([("body", "a JSON object with `into`, `source` and `rates`")])
    _unknown_keys(body, MONTHLY_KEYS, problems)
    into = body.get("into")
    if into != "CNY":
        problems.append(("into", f"monthly customs rates are into CNY, got {into!r}"))
    source = body.get("source")
    if not isinstance(source, str) or not source.strip() or len(source) > 300:
        problems.append(("source", "who published the rates, in words (1-300 characters)"))
        source = ""
    rates = body.get("rates")
    if not isinstance(rates, list) or not rates:
        problems.append(("rates", "a non-empty list of {month, currency, rate}"))
        raise RatesInvalid(problems)
    quotes: dict[tuple[str, date], RateQuote] = {}
    for index, item in enumerate(rates):
        where = f"rates[{index}]"
        if not isinstance(item, dict):
            problems.append((where, "an object {month, currency, rate}"))
            continue
        for key in sorted(set(item) - {"month", "currency", "rate"}):
            problems.append((f"{where}.{key}", "unknown field"))
        month = item.get("month")
        first: date | None = None
        if isinstance(month, str) and _MONTH.fullmatch(month):
            try:
                first = _in_range(date.fromisoformat(f"{month}-01"), f"{where}.month", problems)
            except ValueError:
                problems.append((f"{where}.month", f"a month is written YYYY-MM, got {month!r}"))
        else:
            problems.append((f"{where}.month", f"a month is written YYYY-MM, got {month!r}"))
        currency = item.get("currency")
        if not isinstance(currency, str) or not re.fullmatch(CURRENCY, currency):
            problems.append((f"{where}.currency", f"an ISO 4217 code, got {currency!r}"))
            currency = None
        elif currency == "CNY":
            problems.append((f"{where}.currency", "a rate of CNY into CNY is not a rate"))
            currency = None
        rate = _rate(item.get("rate"), f"{where}.rate", problems)
        if first is None or currency is None or rate is None:
            continue
        if (currency, first) in quotes:
            problems.append((where, f"{currency} is given twice for {month}"))
            continue
        quotes[(currency, first)] = RateQuote(
            currency=currency, into="CNY", on=first, rate=rate, source=source.strip()
        )
    if len(quotes) > MAX_QUOTES:
        problems.append(("rates", f"at most {MAX_QUOTES} quotes in one load"))
    if problems:
        raise RatesInvalid(problems)
    return tuple(quotes.values())


def parse_rates(body: object) -> tuple[RateQuote, ...]:
    """Either loading format, told apart by its list: `observations` (the Bank of
    Canada's Valet JSON) or `rates` (monthly customs rates into CNY)."""
    if isinstance(body, dict) and "rates" in body and "observations" not in body:
        return parse_monthly(body)
    return parse_valet(body)
