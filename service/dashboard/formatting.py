"""How the dashboard writes numbers, money, rates, tariff items and times: the Jinja2
filters of its templates, and the template environment that installs them."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import partial
from pathlib import Path
from typing import Any

import jinja2
from babel import dates, numbers

from rules.translations import BABEL_LOCALES
from service.dashboard.words import ENGLISH, Words, words

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
DEFAULT_LOCALE = BABEL_LOCALES[ENGLISH]


def instant(text: str) -> datetime:
    """An RFC 3339 timestamp of the store (UTC, 'Z') as an aware datetime."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _decimal(value: Any) -> Decimal | None:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def units(value: Any, locale: str = DEFAULT_LOCALE) -> str:
    """12345 -> "12,345" (fr: "12 345"); decimals keep their places."""
    number = _decimal(value)
    if number is None:
        return str(value)
    places = max(0, -int(number.as_tuple().exponent))
    return numbers.format_decimal(number, format="#,##0." + "0" * places, locale=locale)


def money(value: Any, locale: str = DEFAULT_LOCALE) -> str:
    """ "84880.00" -> "84,880.00" (fr: "84 880,00"): two places, the locale's separators."""
    number = _decimal(value)
    if number is None:
        return str(value)
    return numbers.format_decimal(number, format="#,##0.00", locale=locale)


def amount(value: Any, currency: str, locale: str = DEFAULT_LOCALE) -> str:
    """ "84880.00", "CNY" -> "84,880.00 CNY": an amount is never shown without its currency,
    and the currency by its ISO code, which every reader of a declaration knows, after
    the figure (its places the currency's own)."""
    number = _decimal(value)
    if number is None or not currency:
        return f"{money(value, locale)} {currency}".rstrip()
    return numbers.format_currency(
        number, currency, format="#,##0.00 ¤¤", locale=locale, currency_digits=True
    )


def rate(value: Any, locale: str = DEFAULT_LOCALE) -> str:
    """0.061 -> "6.1%" (fr: "6,1 %"), at the places the rate has."""
    number = _decimal(value)
    if number is None:
        return str(value)
    return numbers.format_percent(number, locale=locale, decimal_quantization=False)


def tariff(value: Any) -> str:
    """ "8703800010" -> "8703.80.00.10"."""
    text = str(value)
    if len(text) == 10 and text.isdecimal():
        return f"{text[:4]}.{text[4:6]}.{text[6:8]}.{text[8:]}"
    return text


def _parsed(value: Any) -> datetime | None:
    try:
        if isinstance(value, int | float):
            return datetime.fromtimestamp(value, UTC)
        return instant(str(value))
    except (ValueError, OverflowError, OSError):
        return None


def moment(value: Any, seconds: bool = True, locale: str = DEFAULT_LOCALE) -> str:
    """An RFC 3339 timestamp or epoch seconds as the locale writes a day and a 24-hour
    time, with its offset: "Nov 28, 2026, 10:55:12 UTC", "2026年11月28日 10:55:12 UTC"."""
    if value is None or value == "":
        return "—"
    parsed = _parsed(value)
    if parsed is None:
        return str(value)
    offset = parsed.utcoffset()
    plain = parsed.replace(tzinfo=None)
    time_skeleton = "Hms" if seconds and offset == timedelta(0) else "Hm"
    shown = (
        f"{dates.format_skeleton('yMMMd', plain, locale=locale)} "
        f"{dates.format_skeleton(time_skeleton, plain, locale=locale)}"
    )
    if offset == timedelta(0):
        return f"{shown} UTC"
    written = parsed.strftime("%z")
    return f"{shown} {written[:3]}:{written[3:]}"


def day(value: Any, locale: str = DEFAULT_LOCALE) -> str:
    """ "2026-11-28" -> "Nov 28, 2026", "28 nov. 2026", "2026年11月28日"."""
    try:
        parsed = value if isinstance(value, date) else date.fromisoformat(str(value))
    except ValueError:
        return str(value)
    return dates.format_skeleton("yMMMd", parsed, locale=locale)


def short_day(value: Any, locale: str = DEFAULT_LOCALE) -> str:
    """ "2026-07-01" -> "Jul 1", "1 juill.", "7月1日"."""
    try:
        parsed = value if isinstance(value, date) else date.fromisoformat(str(value))
    except ValueError:
        return str(value)
    return dates.format_skeleton("MMMd", parsed, locale=locale)


def short_hash(value: Any) -> str:
    return str(value)[:12]


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def environment(language: Words | None = None) -> jinja2.Environment:
    """The templates' environment for one language: its catalogue behind `_`, `ngettext`
    and `{% trans %}`, and filters that write for its locale."""
    chosen = language or words()
    locale = chosen.babel_locale
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html", "svg"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        chosen.catalogue.gettext, chosen.catalogue.ngettext, newstyle=True
    )
    env.filters.update(
        units=partial(units, locale=locale),
        money=partial(money, locale=locale),
        amount=partial(amount, locale=locale),
        rate=partial(rate, locale=locale),
        tariff=tariff,
        moment=partial(moment, locale=locale),
        day=partial(day, locale=locale),
        short_day=partial(short_day, locale=locale),
        short_hash=short_hash,
        pretty_json=pretty_json,
        term=chosen.term,
    )
    env.globals.update(language=chosen.language)
    return env
