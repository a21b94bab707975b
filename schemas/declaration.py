"""Input contract for an import declaration, as a client submits it to Accord.

This module defines the pydantic models `Importer`, `DeclarationLine` and
`Declaration`. They check one declaration's shape and field-level rules: the
B3 field formats, exact decimal money, the importer's number and the VINs (each
by its identifier's own check, schemas/identifiers.py), and the uniqueness of
line numbers and VINs. They normalise what may be written in more than one way
(tariff items without dots, amounts to a fixed scale), and they give the
canonical JSON body whose SHA-256 is the idempotency body hash. Compliance
rules that need tariff or program data are not checked here; they belong to
the rule packs. Nothing in this module reads files, the network or the clock.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_serializer,
    field_validator,
)

from schemas import identifiers
from schemas.countries import ISO_3166_ALPHA2

__all__ = ["Declaration", "DeclarationLine", "Importer", "Jurisdiction"]

# every field check here raises its error as the identifiers' checks do
_require_str = identifiers.require_str

_DECLARATION_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# URL normalisation removes "." and ".." path segments, so GET /v1/declarations/.. could
# never reach a declaration stored under such an id.
_UNREACHABLE_IDS = frozenset({".", ".."})
# What an RFC 3339 acceptance time looks like, in the words every message uses.
RFC3339_WORDS = "an RFC 3339 timestamp with its UTC offset, such as 2026-03-10T10:00:00-05:00"
Jurisdiction = Literal["CA", "CN"]
DEFAULT_JURISDICTION: Jurisdiction = "CA"
# The currency the values of each jurisdiction's declarations are in. Values in another
# currency are converted at the rates the operator loaded (the packs' currency_conversion
# says which prevails); without one the verdict is rejected, never converted at a guessed
# rate. A jurisdiction not listed in CONVERTS_CURRENCIES refuses other currencies
# outright. Part of each jurisdiction's schema profile.
JURISDICTION_CURRENCY: dict[str, str] = {"CA": "CAD", "CN": "CNY"}
CONVERTS_CURRENCIES: frozenset[str] = frozenset({"CA", "CN"})


def duty_currency(body: Any) -> str:
    """The currency of a verdict's amounts, from the declaration's (stored) body: its
    jurisdiction's, values in another currency being converted into it."""
    jurisdiction = body.get("jurisdiction") if isinstance(body, dict) else None
    return JURISDICTION_CURRENCY.get(str(jurisdiction or DEFAULT_JURISDICTION), "")


_TARIFF_CHARS = re.compile(r"[0-9.]+")
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

_MIN_LINES = 1
_MAX_LINES = 999


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _times(count: int) -> str:
    return "twice" if count == 2 else f"{count} times"


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


def _importer_id(value: object, info: ValidationInfo) -> str:
    # The declaration passes its jurisdiction as context; an Importer built alone is Canadian.
    context = info.context if isinstance(info.context, dict) else {}
    if context.get("jurisdiction", DEFAULT_JURISDICTION) == "CN":
        return identifiers.unified_social_credit_code(value)
    return identifiers.business_number(value)


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
    if _TARIFF_CHARS.fullmatch(text) is None:
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


_DeclarationId = Annotated[str, BeforeValidator(_declaration_id)]
_BusinessNumber = Annotated[str, BeforeValidator(_importer_id)]
_ImporterName = Annotated[str, BeforeValidator(_importer_name)]
_AcceptedAt = Annotated[
    datetime,
    WrapValidator(_accepted_at_parsed),
    BeforeValidator(_accepted_at_input),
    AfterValidator(_accepted_at_offset),
]
_ShipmentDate = Annotated[
    date, BeforeValidator(_shipment_date_input), AfterValidator(_shipment_date_range)
]
_LineNumber = Annotated[int, Field(ge=1, le=99999, strict=True)]
_TariffItem = Annotated[str, BeforeValidator(_tariff_item)]
_Origin = Annotated[str, BeforeValidator(_origin)]
_Description = Annotated[str, BeforeValidator(_description)]
_Unit = Annotated[str, BeforeValidator(_unit)]
_Quantity = Annotated[
    Decimal,
    BeforeValidator(_quantity),
    PlainSerializer(_decimal_text, return_type=str, when_used="json"),
]
_Money = Annotated[
    Decimal,
    BeforeValidator(_money),
    PlainSerializer(_decimal_text, return_type=str, when_used="json"),
]
_PermitNumber = Annotated[str, BeforeValidator(_permit_number)]
_RemissionClaim = Annotated[str, BeforeValidator(_remission_claim)]
_Currency = Annotated[str, BeforeValidator(_currency)]
_TariffTreatment = Annotated[str, BeforeValidator(_tariff_treatment)]
_Vin = Annotated[str, BeforeValidator(identifiers.vin)]


class Importer(BaseModel):
    """The importer of record (B3 field 1): for a CN declaration, the business number is
    the importer's unified social credit code."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    business_number: _BusinessNumber
    name: _ImporterName
    # Whether the importer is licensed under the Excise Tax Act, so that the excise tax on
    # the goods is accounted for on its own sales rather than paid at import (a licensed
    # importer of new motor vehicles is deemed their manufacturer); absent: not said, and
    # the packs decide what that means
    excise_licensed: StrictBool | None = Field(
        default=None,
        description="Whether the importer is licensed under the Excise Tax Act (a licensed "
        "importer of new vehicles accounts for the air-conditioner excise on delivery, not at "
        "import); absent: not said.",
    )


class DeclarationLine(BaseModel):
    """One line of goods on the declaration (B3 fields 12, 21-22, 27, 29-30, 37)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    line: _LineNumber
    tariff_item: _TariffItem
    # For goods declared under a Chapter 98 or 99 tariff item, the classification in
    # Chapters 1 to 97 they otherwise have (Chapter 99, Note 3: a Chapter 99 item applies
    # only once that classification is determined): required for Chapter 99, optional for
    # Chapter 98, refused for other lines. Measures whose scope reaches those chapters
    # match the line by it (a surtax reaches Chapter 99 goods, CBSA CN24-36).
    underlying_tariff_item: str | None = Field(default=None, validate_default=True)
    origin: _Origin
    description: _Description
    # unit comes before quantity, and quantity before vins, because each later
    # check reads the earlier field's validated value from ValidationInfo.data.
    unit: _Unit
    quantity: _Quantity
    value_for_duty: _Money
    fob_unit_price: _Money | None = None
    # absent means MFN, the treatment a line gets unless it claims another
    tariff_treatment: _TariffTreatment | None = None
    permit_number: _PermitNumber | None = None
    # "<order> item <scheduled item>", e.g. "SOR/2025-12 item 3"
    remission_claim: _RemissionClaim | None = None
    vins: tuple[_Vin, ...] | None = None

    @field_validator("quantity")
    @classmethod
    def _whole_vehicle_count(cls, quantity: Decimal, info: ValidationInfo) -> Decimal:
        if info.data.get("unit") == "NMB" and quantity != quantity.to_integral_value():
            raise identifiers.invalid(
                "quantity_whole",
                f"quantity must be a whole number when unit is NMB, got {quantity}",
            )
        if info.data.get("unit") == "NMB" and quantity > MAX_UNITS:
            # vehicles are counted against quotas in whole units, exactly
            raise identifiers.invalid(
                "quantity_too_large",
                f"quantity must be at most {MAX_UNITS} when unit is NMB, got {quantity}",
            )
        return quantity

    @field_validator("underlying_tariff_item", mode="before")
    @classmethod
    def _underlying_classification(cls, value: object, info: ValidationInfo) -> str | None:
        declared = info.data.get("tariff_item")
        special = declared is not None and declared[:2] in ("98", "99")
        if value is None:
            if declared is not None and declared.startswith("99"):
                raise identifiers.invalid(
                    "underlying_tariff_item",
                    "underlying_tariff_item is required with a Chapter 99 tariff_item: the "
                    "classification in Chapters 1 to 97 the goods otherwise have",
                )
            return None
        if declared is not None and not special:
            raise identifiers.invalid(
                "underlying_tariff_item",
                "underlying_tariff_item is only for a Chapter 98 or 99 tariff_item, got "
                f"tariff_item {declared}",
            )
        text = value if isinstance(value, str) else ""
        digits = text.replace(".", "")
        if _TARIFF_CHARS.fullmatch(text) is None or len(digits) != 10:
            raise identifiers.invalid(
                "underlying_tariff_item",
                f"underlying_tariff_item must be 10 digits (dots allowed), got {value!r}",
            )
        if digits[:2] in ("98", "99"):
            raise identifiers.invalid(
                "underlying_tariff_item",
                f"underlying_tariff_item must be in Chapters 1 to 97, got {text!r}",
            )
        return digits

    @field_validator("vins")
    @classmethod
    def _vins_match_quantity(
        cls, vins: tuple[str, ...] | None, info: ValidationInfo
    ) -> tuple[str, ...] | None:
        quantity: Decimal | None = info.data.get("quantity")
        if vins is None or quantity is None:
            return vins
        if quantity != quantity.to_integral_value():
            raise identifiers.invalid(
                "vins_quantity",
                f"vins can only be listed for a whole quantity, got quantity {quantity}",
            )
        expected = int(quantity)
        if len(vins) != expected:
            raise identifiers.invalid(
                "vins_quantity",
                f"vins must list exactly {_plural(expected, 'VIN')} (quantity), got {len(vins)}",
            )
        repeated = [
            f"{vin} appears {_times(count)}" for vin, count in Counter(vins).items() if count > 1
        ]
        if repeated:
            raise identifiers.invalid("vins_unique", "VINs must be unique: " + "; ".join(repeated))
        return vins


class Declaration(BaseModel):
    """A commercial or personal import declaration, the unit Accord checks."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    declaration_id: _DeclarationId
    # before importer and currency, whose checks depend on it
    jurisdiction: Jurisdiction = DEFAULT_JURISDICTION
    importer: Importer
    import_type: Literal["commercial", "personal"]
    accepted_at: _AcceptedAt
    shipment_date: _ShipmentDate | None = None
    # values in another currency are converted with the packs' exchange-rate table
    currency: _Currency
    lines: tuple[DeclarationLine, ...] = Field(
        json_schema_extra={"minItems": _MIN_LINES, "maxItems": _MAX_LINES}
    )

    @field_validator("importer", mode="wrap")
    @classmethod
    def _importer_of_jurisdiction(
        cls, value: object, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> Importer:
        # The importer-id format is the jurisdiction's: validated with it as context, so
        # that an error still names importer.business_number.
        jurisdiction = info.data.get("jurisdiction", DEFAULT_JURISDICTION)
        if isinstance(value, Importer):
            value = value.model_dump()
        if isinstance(value, dict):
            return Importer.model_validate(value, context={"jurisdiction": jurisdiction})
        importer: Importer = handler(value)
        return importer

    @field_validator("currency")
    @classmethod
    def _currency_of_jurisdiction(cls, currency: str, info: ValidationInfo) -> str:
        jurisdiction = info.data.get("jurisdiction", DEFAULT_JURISDICTION)
        expected = JURISDICTION_CURRENCY[jurisdiction]
        if currency != expected and jurisdiction not in CONVERTS_CURRENCIES:
            raise identifiers.invalid(
                "currency",
                f"currency must be {expected!r} for a {jurisdiction} declaration, got "
                f"{currency!r}: values in another currency are not converted for it",
            )
        return currency

    @field_validator("shipment_date")
    @classmethod
    def _shipped_before_acceptance(
        cls, shipment_date: date | None, info: ValidationInfo
    ) -> date | None:
        # Goods leave the country of export before customs accepts them; compared with the
        # calendar date of acceptance in its own offset, as every effective date is.
        accepted_at: datetime | None = info.data.get("accepted_at")
        if (
            shipment_date is not None
            and accepted_at is not None
            and shipment_date > accepted_at.date()
        ):
            raise identifiers.invalid(
                "date_order",
                f"shipment_date {shipment_date} is after the date of accepted_at "
                f"({accepted_at.date()})",
            )
        return shipment_date

    @field_validator("lines", mode="before")
    @classmethod
    def _line_count(cls, lines: object) -> object:
        # Counted on the raw input: pydantic's own min_length counts only the
        # lines that validated, so one bad line alone also drew a "too short"
        # error, and a huge list would be validated in full before its length.
        if isinstance(lines, list | tuple) and not _MIN_LINES <= len(lines) <= _MAX_LINES:
            raise identifiers.invalid(
                "lines_count",
                f"lines must hold {_MIN_LINES} to {_MAX_LINES} lines, got {len(lines)}",
            )
        return lines

    @field_validator("lines")
    @classmethod
    def _unique_lines_and_vins(
        cls, lines: tuple[DeclarationLine, ...]
    ) -> tuple[DeclarationLine, ...]:
        numbers = Counter(line.line for line in lines)
        repeated = [
            f"{number} appears {_times(count)}"
            for number, count in sorted(numbers.items())
            if count > 1
        ]
        if repeated:
            raise identifiers.invalid(
                "line_unique", "line numbers must be unique: " + ", ".join(repeated)
            )
        vin_lines: dict[str, list[int]] = {}
        for line in lines:
            for vin in line.vins or ():
                vin_lines.setdefault(vin, []).append(line.line)
        shared = [
            f"VIN {vin} appears on lines {', '.join(str(number) for number in on)}"
            for vin, on in vin_lines.items()
            if len(on) > 1
        ]
        if shared:
            raise identifiers.invalid(
                "vins_unique", "VINs must be unique within the declaration: " + "; ".join(shared)
            )
        return lines

    @field_serializer("accepted_at", when_used="json")
    def _accepted_at_text(self, accepted_at: datetime) -> str:
        # isoformat is the spelling the canonical body promises; pydantic's own
        # would write a zero offset as "Z" and could change between versions.
        return accepted_at.isoformat()

    @property
    def accepted_on(self) -> date:
        """Calendar date of acceptance in accepted_at's own offset, not in UTC."""
        return self.accepted_at.date()

    def too_early(self, now: datetime) -> str | None:
        """Why the declaration cannot be received at `now`, if it cannot: quota periods
        open and close by acceptance date, so none may come before customs accepted it.
        Not a validator, since it depends on the clock: a stored declaration stays valid."""
        if self.accepted_at > now + CLOCK_SKEW:
            return "accepted_at is in the future: customs has not accepted it yet"
        return None

    def canonical_json(self) -> str:
        """Deterministic JSON of the normalised declaration, the idempotency body."""
        body: dict[str, Any] = self.model_dump(mode="json", exclude_none=True)
        if body.get("jurisdiction") == DEFAULT_JURISDICTION:
            # declarations stored before the field existed keep their body and its hash
            del body["jurisdiction"]
        return json.dumps(
            body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )

    def body_sha256(self) -> str:
        """Hex SHA-256 of canonical_json() encoded as UTF-8."""
        return body_sha256_of(self.canonical_json())


def body_sha256_of(canonical_json: str) -> str:
    """A declaration's body hash from its canonical JSON, for a caller that holds it
    already (the API stores both, and builds the JSON once)."""
    return hashlib.sha256(canonical_json.encode("utf-8")).hexdigest()
