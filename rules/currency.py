"""Currency: the declaration's values in its jurisdiction's currency, at the loaded quote
that prevails under the pack's `currency_conversion` rule (or, for an older pack version,
at its own table's rate). A missing rate is never guessed: the conversion says so.

    rate_query(declaration, packs)     -> RateQuery | None   which loaded quotes it needs
    convert(declaration, packs, rates) -> Conversion
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from rules.pack import Pack
from schemas.declaration import (
    CONVERTS_CURRENCIES,
    JURISDICTION_CURRENCY,
    Declaration,
)
from schemas.rates import RateQuote
from schemas.verdict import ExchangeRate

# money is rounded half-up to the cent (converted values here, duties in rules.verdict)
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Conversion:
    """The declaration's values in the jurisdiction's currency, or why they are not."""

    status: str  # not_needed | found | missing
    valued: Declaration  # the declaration with its values converted (as given if not found)
    rate: ExchangeRate | None = None
    day: date | None = None  # the conversion date
    query: RateQuery | None = None  # the quotes that could prevail (packs with loaded rates)

    @property
    def declaration_currency(self) -> str:
        return self.rate.currency if self.rate is not None else self.valued.currency


@dataclass(frozen=True)
class RateQuery:
    """The loaded quotes a declaration's conversion may use: those of `currency` into
    `into` quoted from `first` to `last`; the latest of them prevails on `day`."""

    into: str
    currency: str
    day: date
    basis: Literal["shipment_date", "accepted_at"]
    first: date
    last: date

    def prevailing(self, quotes: Iterable[RateQuote]) -> RateQuote | None:
        """The quote that prevails: the latest one of the window, or None."""
        inside = [
            quote
            for quote in quotes
            if quote.into == self.into
            and quote.currency == self.currency
            and self.first <= quote.on <= self.last
        ]
        return max(inside, key=lambda quote: quote.on) if inside else None


def _conversion_pack(packs: Iterable[Pack], jurisdiction: str) -> Pack | None:
    """The pack of the jurisdiction that says how its values are converted from loaded
    rates (the current one, when handed the current packs)."""
    home = JURISDICTION_CURRENCY[jurisdiction]
    for pack in packs:
        conversion = pack.body.currency_conversion
        if pack.body.jurisdiction == jurisdiction and conversion and conversion.into == home:
            return pack
    return None


def _days_before(day: date, days: int) -> date:
    return day - timedelta(days=days) if day.toordinal() > days else date.min


def rate_query(declaration: Declaration, packs: Sequence[Pack]) -> RateQuery | None:
    """Which loaded quotes a declaration's conversion needs, under the packs' rule
    (`currency_conversion`); None when its values are in the jurisdiction's currency or
    no pack converts from loaded rates. The worker reads these from the store and hands
    them to `evaluate`; `GET /v1/exchange-rates` answers with the same rule."""
    home = JURISDICTION_CURRENCY[declaration.jurisdiction]
    if declaration.currency == home:
        return None
    pack = _conversion_pack(packs, declaration.jurisdiction)
    if pack is None or pack.body.currency_conversion is None:
        return None
    by_shipment = pack.body.currency_conversion.conversion_date == "shipment_date"
    shipped = declaration.shipment_date if by_shipment else None
    basis: Literal["shipment_date", "accepted_at"] = (
        "shipment_date" if shipped is not None else "accepted_at"
    )
    day = shipped or declaration.accepted_on
    return conversion_window(pack, declaration.currency, day, basis)


def conversion_window(
    pack: Pack, currency: str, day: date, basis: Literal["shipment_date", "accepted_at"]
) -> RateQuery:
    """The window of quotes that may prevail on `day` under the pack's conversion rule."""
    conversion = pack.body.currency_conversion
    assert conversion is not None
    if conversion.rates == "monthly":
        first, last = day.replace(day=1), day
    else:
        last = day if conversion.prevailing == "quoted_on_or_before" else _days_before(day, 1)
        first = _days_before(last, conversion.max_days_back)
    return RateQuery(conversion.into, currency, day, basis, first, last)


def conversion_rule(pack: Pack) -> str:
    """Which quote prevails on a date under the pack's rule, in words, as
    `conversion_window` applies it."""
    conversion = pack.body.currency_conversion
    assert conversion is not None
    if conversion.rates == "monthly":
        return "the rate of the month"
    return f"{conversion.prevailing}, at most {conversion.max_days_back} days back"


def rate_query_on(
    packs: Sequence[Pack], into: str, currency: str, day: date
) -> tuple[Pack, RateQuery] | None:
    """The window of quotes that may prevail on `day` for values in `currency` converted
    into `into`, under the rule of the pack that converts into it (None without one)."""
    for jurisdiction, home in JURISDICTION_CURRENCY.items():
        pack = _conversion_pack(packs, jurisdiction) if home == into else None
        if pack is not None and pack.body.currency_conversion is not None:
            dated_by = pack.body.currency_conversion.conversion_date
            return pack, conversion_window(pack, currency, day, dated_by)
    return None


def conversion_problems(packs: Sequence[Pack]) -> list[str]:
    """What is wrong with the currency conversion the current packs configure, in words,
    for the startup checks of `accord check` and `accord run` (empty when sound): every
    jurisdiction whose declarations may be in another currency has exactly one pack that
    converts into its currency, and a pack version with its own rate table is not current."""
    problems = []
    for jurisdiction in sorted(CONVERTS_CURRENCIES):
        home = JURISDICTION_CURRENCY[jurisdiction]
        converting = [
            pack.id
            for pack in packs
            if pack.body.jurisdiction == jurisdiction
            and pack.body.currency_conversion is not None
            and pack.body.currency_conversion.into == home
        ]
        if len(converting) != 1:
            problems.append(
                f"{jurisdiction}: {len(converting)} packs convert values into {home} "
                f"({', '.join(converting) or 'none'}); exactly one must"
            )
    for pack in packs:
        if pack.body.exchange_rates is not None:
            problems.append(
                f"{pack.id} {pack.version} carries its own exchange-rate table: rates are "
                "loaded data (POST /v1/exchange-rates), a table only replays old verdicts"
            )
    return problems


def conversion_assumptions(pack: Pack, basis: str) -> tuple[str, ...]:
    """The assumptions a conversion under the pack's rule rests on."""
    conversion = pack.body.currency_conversion
    if conversion is None:
        return ()
    found = [conversion.assumption]
    if basis == "accepted_at":  # the fallback, or the pack's own conversion date
        found.append(conversion.date_assumption)
    return tuple(item for item in found if item is not None)


def _converted(declaration: Declaration, rate: Decimal, home: str) -> Declaration:
    def money(value: Decimal | None) -> Decimal | None:
        return None if value is None else (value * rate).quantize(CENT, ROUND_HALF_UP)

    lines = tuple(
        line.model_copy(
            update={
                "value_for_duty": money(line.value_for_duty),
                "fob_unit_price": money(line.fob_unit_price),
            }
        )
        for line in declaration.lines
    )
    return declaration.model_copy(update={"lines": lines, "currency": home})


def convert(
    declaration: Declaration, packs: Sequence[Pack], rates: Sequence[RateQuote] = ()
) -> Conversion:
    """The values of the declaration in its jurisdiction's currency. With a pack that
    converts from loaded rates, at the quote of `rates` that prevails on the conversion
    date (`rate_query`); with an older pack version, at its own table's rate of the
    conversion date. A missing rate is never guessed: the status says so."""
    jurisdiction = declaration.jurisdiction
    home = JURISDICTION_CURRENCY[jurisdiction]
    if declaration.currency == home:
        return Conversion("not_needed", declaration)
    query = rate_query(declaration, packs)
    pack = _conversion_pack(packs, jurisdiction)
    if query is not None and pack is not None and pack.body.currency_conversion is not None:
        quote = query.prevailing(rates)
        if quote is None:
            return Conversion("missing", declaration, None, query.day, query)
        law = pack.body.sources[pack.body.currency_conversion.source]
        return Conversion(
            "found",
            _converted(declaration, quote.rate, home),
            ExchangeRate(
                currency=declaration.currency,
                into=home,
                rate=quote.rate,
                on=quote.on,
                basis=query.basis,
                reference=f"{law.title} ({pack.id} {pack.version})",
                conversion_date=query.day,
                source=quote.source,
                assumptions=conversion_assumptions(pack, query.basis),
            ),
            query.day,
            query,
        )
    basis: Literal["shipment_date", "accepted_at"] = (
        "shipment_date" if declaration.shipment_date is not None else "accepted_at"
    )
    day = declaration.shipment_date or declaration.accepted_on
    for pack in packs:
        table = pack.body.exchange_rates
        if table is None or table.into != home or pack.body.jurisdiction != jurisdiction:
            continue
        rate = table.rate_on(declaration.currency, day)
        if rate is None:
            continue
        source = pack.body.sources[table.source]
        return Conversion(
            "found",
            _converted(declaration, rate, home),
            ExchangeRate(
                currency=declaration.currency,
                into=home,
                rate=rate,
                on=day,
                basis=basis,
                reference=f"{source.title} ({pack.id} {pack.version})",
            ),
            day,
        )
    return Conversion("missing", declaration, None, day)
