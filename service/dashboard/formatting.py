"""How the dashboard writes numbers, money, rates, tariff items and times: the Jinja2
filters of its templates, and the template environment that installs them."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import jinja2

from rules.values import percent
from service.dashboard.chart import instant

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def units(value: Any) -> str:
    """12345 -> "12,345"; decimals keep their places."""
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    if number == number.to_integral_value():
        return f"{int(number):,}"
    return f"{number:,}"


def money(value: Any) -> str:
    """ "84880.00" -> "84,880.00"."""
    try:
        return f"{Decimal(str(value)):,.2f}"
    except (InvalidOperation, ValueError):
        return str(value)


def amount(value: Any, currency: str) -> str:
    """ "84880.00", "CNY" -> "84,880.00 CNY": an amount is never shown without its currency."""
    return f"{money(value)} {currency}".rstrip()


def rate(value: Any) -> str:
    try:
        return percent(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        return str(value)


def tariff(value: Any) -> str:
    """ "8703800010" -> "8703.80.00.10"."""
    text = str(value)
    if len(text) == 10 and text.isdecimal():
        return f"{text[:4]}.{text[4:6]}.{text[6:8]}.{text[8:]}"
    return text


def moment(value: Any, seconds: bool = True) -> str:
    """An RFC 3339 timestamp or epoch seconds as "28 Nov 2026 10:55:12 UTC"."""
    if value is None or value == "":
        return "—"
    try:
        if isinstance(value, int | float):
            parsed = datetime.fromtimestamp(value, UTC)
        else:
            parsed = instant(str(value))
    except (ValueError, OverflowError, OSError):
        return str(value)
    if parsed.utcoffset() != timedelta(0):
        offset = parsed.strftime("%z")
        return f"{parsed:%d %b %Y %H:%M} {offset[:3]}:{offset[3:]}"
    shown = f"{parsed:%d %b %Y %H:%M:%S}" if seconds else f"{parsed:%d %b %Y %H:%M}"
    return f"{shown} UTC"


def day(value: Any) -> str:
    try:
        return f"{date.fromisoformat(str(value)):%d %b %Y}"
    except ValueError:
        return str(value)


def short_day(value: Any) -> str:
    """ "2026-07-01" -> "1 Jul"."""
    try:
        parsed = date.fromisoformat(str(value))
    except ValueError:
        return str(value)
    return f"{parsed.day} {parsed:%b}"


def short_hash(value: Any) -> str:
    return str(value)[:12]


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html", "svg"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        units=units,
        money=money,
        amount=amount,
        rate=rate,
        tariff=tariff,
        moment=moment,
        day=day,
        short_day=short_day,
        short_hash=short_hash,
        pretty_json=pretty_json,
    )
    return env
