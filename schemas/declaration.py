"""Input contract for an import declaration, as a client submits it to Accord.

This module defines the pydantic models `Importer`, `DeclarationLine` and
`Declaration`, built of the fields of schemas/declaration_fields.py, each checked alone
there (the B3 field formats, exact decimal money, the dates). Here is what joins them: the
jurisdiction's profile (its importer number, checked by schemas/identifiers.py, and its
currency), a whole vehicle count and the VINs against the quantity, Chapter 98 and 99
lines' underlying classification, the dates' order, and the uniqueness of line numbers
and VINs. The models give the canonical JSON body whose SHA-256 is the idempotency body
hash. Compliance rules that need tariff or program data are not checked here; they
belong to the rule packs. Nothing in this module reads files, the network or the clock.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_serializer,
    field_validator,
)

from schemas import identifiers
from schemas.declaration_fields import (
    CLOCK_SKEW,
    MAX_UNITS,
    TARIFF_CHARS,
    AcceptedAt,
    Currency,
    DeclarationId,
    Description,
    ImporterName,
    LineNumber,
    Money,
    Origin,
    PermitNumber,
    Quantity,
    RemissionClaim,
    ShipmentDate,
    TariffItem,
    TariffTreatment,
    Unit,
    Vin,
)

__all__ = ["Declaration", "DeclarationLine", "Importer", "Jurisdiction"]

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


_MIN_LINES = 1
_MAX_LINES = 999


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _times(count: int) -> str:
    return "twice" if count == 2 else f"{count} times"


def _importer_id(value: object, info: ValidationInfo) -> str:
    # The declaration passes its jurisdiction as context; an Importer built alone is Canadian.
    context = info.context if isinstance(info.context, dict) else {}
    if context.get("jurisdiction", DEFAULT_JURISDICTION) == "CN":
        return identifiers.unified_social_credit_code(value)
    return identifiers.business_number(value)


_BusinessNumber = Annotated[str, BeforeValidator(_importer_id)]


class Importer(BaseModel):
    """The importer of record (B3 field 1): for a CN declaration, the business number is
    the importer's unified social credit code."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    business_number: _BusinessNumber
    name: ImporterName
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

    line: LineNumber
    tariff_item: TariffItem
    # For goods declared under a Chapter 98 or 99 tariff item, the classification in
    # Chapters 1 to 97 they otherwise have (Chapter 99, Note 3: a Chapter 99 item applies
    # only once that classification is determined): required for Chapter 99, optional for
    # Chapter 98, refused for other lines. Measures whose scope reaches those chapters
    # match the line by it (a surtax reaches Chapter 99 goods, CBSA CN24-36).
    underlying_tariff_item: str | None = Field(default=None, validate_default=True)
    origin: Origin
    description: Description
    # unit comes before quantity, and quantity before vins, because each later
    # check reads the earlier field's validated value from ValidationInfo.data.
    unit: Unit
    quantity: Quantity
    value_for_duty: Money
    fob_unit_price: Money | None = None
    # absent means MFN, the treatment a line gets unless it claims another
    tariff_treatment: TariffTreatment | None = None
    permit_number: PermitNumber | None = None
    # "<order> item <scheduled item>", e.g. "SOR/2025-12 item 3"
    remission_claim: RemissionClaim | None = None
    vins: tuple[Vin, ...] | None = None

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
        if TARIFF_CHARS.fullmatch(text) is None or len(digits) != 10:
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

    declaration_id: DeclarationId
    # before importer and currency, whose checks depend on it
    jurisdiction: Jurisdiction = DEFAULT_JURISDICTION
    importer: Importer
    import_type: Literal["commercial", "personal"]
    accepted_at: AcceptedAt
    shipment_date: ShipmentDate | None = None
    # values in another currency are converted with the packs' exchange-rate table
    currency: Currency
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
