"""The fields of an import declaration, each checked alone: the B3 field formats (ids,
tariff items, origins, units, permit numbers, currencies, treatments), exact decimal
amounts and quantities at a fixed scale, the acceptance time with its offset and the
shipment date within the years a declaration may carry. Each is an annotated type that
schemas/declaration.py builds its models of; what depends on another field (the
importer's number by jurisdiction, VINs against the quantity, the dates' order) is
checked there. Every check raises its error as the identifiers' checks do
(schemas/identifiers.py), naming the field.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainSerializer,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)

from schemas import identifiers
from schemas.countries import ISO_3166_ALPHA2

# every field check here raises its error as the identifiers' checks do
_require_str = identifiers.require_str

_DECLARATION_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# URL normalisation removes "." and ".." path segments, so GET /v1/declarations/.. could
# never reach a declaration stored under such an id.
_UNREACHABLE_IDS = frozenset({".", ".."})
# What an RFC 3339 acceptance time looks like, in the words every message uses.
RFC3339_WORDS = "an RFC 3339 timestamp with its UTC offset, such as 2026-03-10T10:00:00-05:00"


TARIFF_CHARS = re.compile(r"[0-9.]+")
_ORIGIN_SHAPE = re.compile(r"[A-Z]{2}")
_UNIT = re.compile(r"[A-Z0-9]{2,3}")
_PERMIT_NUMBER = re.compile(r"[A-Za-z0-9._/-]{1,64}")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_CURRENCY = re.compile(r"[A-Z]{3}")
# B3 field 14: a two-digit tariff treatment code (02 MFN, 03 General Tariff, 10 UST, ...)
_TARIFF_TREATMENT = re.compile(r"[0-9]{2}")
# Only plain positional notation: an exponent ("1E+3") or a thousands separator
# is a likely typo in an amount, and it would not round-trip as written.
_DECIMAL_TEXT = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")
_NON_FINITE_TEXT = frozenset({"nan", "snan", "inf", "infinity"})
# Bounding the integer part keeps every accepted amount far inside the default
# 28-digit decimal context, so quantizing it below can never round or raise.
_MAX_INTEGER_DIGITS = 15


def _field_name(info: ValidationInfo) -> str:
    return info.field_name or "value"


def _bounded_text(value: object, field: str, max_length: int) -> str:
    text = _require_str(value, field)
    if not 1 <= len(text) <= max_length:
        raise identifiers.invalid(
            "string_length",
            f"{field} must be 1 to {max_length} characters long, got {len(text)}",
        )
    if not text.strip():
        raise identifiers.invalid("string_blank", f"{field} must not be blank")
    return text


def _fraction_digits(amount: Decimal) -> int:
    # Counted on the digits rather than via normalize(), which rounds to the
    # context precision and could hide a long, non-zero fraction.
    _, digits, exponent = amount.as_tuple()
    if not isinstance(exponent, int) or exponent >= 0:
        return 0
    text = "".join(str(digit) for digit in digits)
    trailing_zeros = len(text) - len(text.rstrip("0"))
    return max(0, -exponent - trailing_zeros)


def _positive_decimal(value: object, field: str, max_places: int) -> Decimal:
    example = '"12.50"' if max_places == 2 else '"1.5"'
    # bool is an int subclass, and true/false is never a quantity or amount.
    if isinstance(value, bool):
        raise identifiers.invalid(
            "decimal_type", f"{field} must be a decimal string such as {example}, not a boolean"
        )
    if isinstance(value, float):
        raise identifiers.invalid(
            "decimal_float",
            f"{field} must be a decimal string such as {example} or an integer, "
            f"not a floating-point number ({value!r}), which cannot hold an exact amount",
        )
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, Decimal):
        amount = value
    elif isinstance(value, str):
        if _DECIMAL_TEXT.fullmatch(value) is None:
            if value.strip().lstrip("+-").lower() in _NON_FINITE_TEXT:
                raise identifiers.invalid(
                    "decimal_finite", f"{field} must be a finite number, got {value!r}"
                )
            raise identifiers.invalid(
                "decimal_text",
                f"{field} must be a plain decimal string such as {example}, got {value!r}",
            )
        amount = Decimal(value)
    else:
        raise identifiers.invalid(
            "decimal_type", f"{field} must be a decimal string such as {example}"
        )
    if not amount.is_finite():
        raise identifiers.invalid(
            "decimal_finite", f"{field} must be a finite number, got {value!r}"
        )
    if amount <= 0:
        raise identifiers.invalid(
            "decimal_positive", f"{field} must be greater than 0, got {amount}"
        )
    if amount.adjusted() >= _MAX_INTEGER_DIGITS:
        raise identifiers.invalid(
            "decimal_too_large",
            f"{field} must have at most {_MAX_INTEGER_DIGITS} digits before the decimal point",
        )
    places = _fraction_digits(amount)
    if places > max_places:
        raise identifiers.invalid(
            "decimal_places",
            f"{field} must have at most {max_places} decimal places, got {places} in {amount}",
        )
    # Money is kept at a fixed scale of 2 and quantities without trailing zeros,
    # so that "80000", "80000.0" and "80000.00" give one canonical body and hash.
    scale = max_places if max_places == 2 else places
    return amount.quantize(Decimal(1).scaleb(-scale))


def _money(value: object, info: ValidationInfo) -> Decimal:
    return _positive_decimal(value, _field_name(info), max_places=2)


def _quantity(value: object, info: ValidationInfo) -> Decimal:
    return _positive_decimal(value, _field_name(info), max_places=3)


def _decimal_text(amount: Decimal) -> str:
    # format "f" never falls back to exponent notation, unlike str().
    return format(amount, "f")


def _declaration_id(value: object) -> str:
    text = _require_str(value, "declaration_id")
    if _DECLARATION_ID.fullmatch(text) is None:
        raise identifiers.invalid(
            "declaration_id",
            "declaration_id must be 1 to 64 characters from A-Z, a-z, 0-9, '.', '_' and '-'",
        )
    if text in _UNREACHABLE_IDS:
        raise identifiers.invalid(
            "declaration_id",
            f"declaration_id {text!r} is not allowed: a URL path cannot name it",
        )
    return text


def _importer_name(value: object) -> str:
    return _bounded_text(value, "name", 200)


def _accepted_at_input(value: object) -> object:
    # Only RFC 3339 text (or a datetime from Python callers): pydantic would
    # otherwise take a number as Unix seconds and invent a UTC offset for it.
    if isinstance(value, str | datetime):
        return value
    raise identifiers.invalid("datetime_type", f"accepted_at must be {RFC3339_WORDS}")


def _accepted_at_parsed(value: object, handler: ValidatorFunctionWrapHandler) -> object:
    # pydantic's own diagnosis ("invalid character in year") names no format
    try:
        return handler(value)
    except ValidationError as exc:
        if all(item["type"].startswith(("datetime", "date")) for item in exc.errors()):
            raise identifiers.invalid(
                "accepted_at_format", f"accepted_at must be {RFC3339_WORDS}, got {value!r}"
            ) from None
        raise


EARLIEST_YEAR, LATEST_YEAR = 1990, 2200  # beyond that a date is a typing error, not a declaration
EARLIEST_DAY, LATEST_DAY = date(EARLIEST_YEAR, 1, 1), date(LATEST_YEAR, 12, 31)
# How far ahead of the receiving clock an accepted_at may be: the clocks of customs and
# of this service differ by a little, never by more.
CLOCK_SKEW = timedelta(minutes=5)
# The offsets real time zones use (UTC-12:00 to UTC+14:00); Python accepts up to +/-23:59,
# and an offset outside this range would move the calendar date of acceptance.
MIN_OFFSET, MAX_OFFSET = timedelta(hours=-12), timedelta(hours=14)
MAX_UNITS = 1_000_000  # vehicles on one line


def _accepted_at_offset(value: datetime) -> datetime:
    # The offset decides the calendar date of acceptance, so it is never guessed.
    offset = value.utcoffset()
    if offset is None:
        raise identifiers.invalid(
            "datetime_offset",
            "accepted_at must include a UTC offset such as 'Z' or '-05:00'; "
            f"got {value.isoformat()} without one",
        )
    if not MIN_OFFSET <= offset <= MAX_OFFSET:
        raise identifiers.invalid(
            "datetime_offset_range",
            "accepted_at must have a UTC offset between -12:00 and +14:00, "
            f"got {value.isoformat()}",
        )
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise identifiers.invalid(
            "datetime_range",
            f"accepted_at must be between {EARLIEST_YEAR} and {LATEST_YEAR}, got {value.year}",
        )
    return value


def _shipment_date_input(value: object) -> object:
    # datetime is a subclass of date, and a time of day has no place here.
    if isinstance(value, datetime) or not isinstance(value, str | date):
        raise identifiers.invalid(
            "date_type", "shipment_date must be a date in the form YYYY-MM-DD"
        )
    if isinstance(value, str) and _ISO_DATE.fullmatch(value) is None:
        raise identifiers.invalid(
            "date_format", f"shipment_date must be a date in the form YYYY-MM-DD, got {value!r}"
        )
    return value


def _shipment_date_range(value: date) -> date:
    if not EARLIEST_DAY <= value <= LATEST_DAY:
        raise identifiers.invalid(
            "date_range",
            f"shipment_date must be between {EARLIEST_YEAR} and {LATEST_YEAR}, got {value}",
        )
    return value


def _tariff_item(value: object) -> str:
    text = _require_str(value, "tariff_item")
    if TARIFF_CHARS.fullmatch(text) is None:
        raise identifiers.invalid(
            "tariff_item", f"tariff_item may contain only digits and dots, got {text!r}"
        )
    digits = text.replace(".", "")
    if len(digits) != 10:
        raise identifiers.invalid(
            "tariff_item", f"tariff_item must have exactly 10 digits, got {len(digits)} in {text!r}"
        )
    return digits


def _origin(value: object) -> str:
    text = _require_str(value, "origin")
    if _ORIGIN_SHAPE.fullmatch(text) is None:
        raise identifiers.invalid(
            "origin",
            f"origin must be an ISO 3166-1 alpha-2 code of two uppercase letters, got {text!r}",
        )
    if text not in ISO_3166_ALPHA2:
        raise identifiers.invalid(
            "origin", f"origin {text} is not an assigned ISO 3166-1 alpha-2 country code"
        )
    return text


def _description(value: object) -> str:
    return _bounded_text(value, "description", 500)


def _unit(value: object) -> str:
    text = _require_str(value, "unit")
    if _UNIT.fullmatch(text) is None:
        raise identifiers.invalid(
            "unit",
            "unit must be a UN/ECE Recommendation 20 code of 2 or 3 uppercase letters or digits, "
            f"got {text!r}",
        )
    return text


def _permit_number(value: object) -> str:
    text = _require_str(value, "permit_number")
    if _PERMIT_NUMBER.fullmatch(text) is None:
        raise identifiers.invalid(
            "permit_number",
            "permit_number must be 1 to 64 characters from A-Z, a-z, 0-9, '.', '_', '/' and '-'",
        )
    return text


def _currency(value: object) -> str:
    text = _require_str(value, "currency")
    if _CURRENCY.fullmatch(text) is None:
        raise identifiers.invalid(
            "currency",
            f"currency must be an ISO 4217 code of three uppercase letters, got {text!r}",
        )
    return text


def _tariff_treatment(value: object) -> str:
    text = _require_str(value, "tariff_treatment")
    if _TARIFF_TREATMENT.fullmatch(text) is None:
        raise identifiers.invalid(
            "tariff_treatment",
            f"tariff_treatment must be a two-digit code such as '02' (MFN), got {text!r}",
        )
    return text


def _remission_claim(value: object) -> str:
    return _bounded_text(value, "remission_claim", 64)


DeclarationId = Annotated[str, BeforeValidator(_declaration_id)]
ImporterName = Annotated[str, BeforeValidator(_importer_name)]
AcceptedAt = Annotated[
    datetime,
    WrapValidator(_accepted_at_parsed),
    BeforeValidator(_accepted_at_input),
    AfterValidator(_accepted_at_offset),
]
ShipmentDate = Annotated[
    date, BeforeValidator(_shipment_date_input), AfterValidator(_shipment_date_range)
]
LineNumber = Annotated[int, Field(ge=1, le=99999, strict=True)]
TariffItem = Annotated[str, BeforeValidator(_tariff_item)]
Origin = Annotated[str, BeforeValidator(_origin)]
Description = Annotated[str, BeforeValidator(_description)]
Unit = Annotated[str, BeforeValidator(_unit)]
Quantity = Annotated[
    Decimal,
    BeforeValidator(_quantity),
    PlainSerializer(_decimal_text, return_type=str, when_used="json"),
]
Money = Annotated[
    Decimal,
    BeforeValidator(_money),
    PlainSerializer(_decimal_text, return_type=str, when_used="json"),
]
PermitNumber = Annotated[str, BeforeValidator(_permit_number)]
RemissionClaim = Annotated[str, BeforeValidator(_remission_claim)]
Currency = Annotated[str, BeforeValidator(_currency)]
TariffTreatment = Annotated[str, BeforeValidator(_tariff_treatment)]
Vin = Annotated[str, BeforeValidator(identifiers.vin)]
