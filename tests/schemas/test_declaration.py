"""Tests for the import-declaration input contract in schemas.declaration.

Each bad input is checked for the location pydantic reports and for a message
a person can act on. VIN check digits in this file come from a separate
implementation of ISO 3779 written here, so the tests do not trust the code
they check.
"""

from __future__ import annotations

import copy
import json
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from helpers import VALID_USCC, uscc
from schemas.countries import ISO_3166_ALPHA2
from schemas.declaration import Declaration, DeclarationLine, Importer

# Position in this string, mod 10, is the ISO 3779 value of a VIN character.
_VIN_ALPHABET = "0123456789.ABCDEFGH..JKLMN.P.R..STUVWXYZ"
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)

VALID_VINS = (
    "1HGCM82633A004352",
    "1M8GDM9AXKP042788",
    "11111111111111111",
    "JH4KA7561PC008269",
)


def _check_digit(vin: str) -> str:
    total = sum((_VIN_ALPHABET.index(c) % 10) * w for c, w in zip(vin, _VIN_WEIGHTS, strict=True))
    return "X" if total % 11 == 10 else str(total % 11)


def _make_vin(serial: int) -> str:
    body = f"2T1BR32E?4C{serial:06d}"
    return body.replace("?", _check_digit(body.replace("?", "0")))


VIN_A = _make_vin(123456)
VIN_B = _make_vin(123457)
VIN_C = _make_vin(123458)


def _payload() -> dict[str, Any]:
    return {
        "declaration_id": "DEC-2026.03_0001",
        "importer": {"business_number": "123456789RM0001", "name": "Maple Motors Ltd."},
        "import_type": "commercial",
        "accepted_at": "2026-03-10T10:00:00-05:00",
        "shipment_date": "2026-02-20",
        "currency": "CAD",
        "lines": [
            {
                "line": 1,
                "tariff_item": "8703.80.00.10",
                "origin": "CN",
                "description": "Battery electric passenger vehicles",
                "quantity": "2",
                "unit": "NMB",
                "value_for_duty": "80000.00",
                "fob_unit_price": "40000.00",
                "vins": [VIN_A, VIN_B],
            },
            {
                "line": 2,
                "tariff_item": "7208.51.00.93",
                "origin": "KR",
                "description": "Hot-rolled steel plate",
                "quantity": "1250.5",
                "unit": "KGM",
                "value_for_duty": 1500,
                "permit_number": "STL-2026/000123",
                "remission_claim": "SOR/2025-12",
            },
        ],
    }


def _with(path: tuple[str | int, ...], value: object) -> dict[str, Any]:
    payload = _payload()
    target: Any = payload
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return payload


def _errors(payload: object) -> list[dict[str, Any]]:
    with pytest.raises(ValidationError) as caught:
        Declaration.model_validate_json(json.dumps(payload))
    return [dict(error) for error in caught.value.errors()]


def _reverse_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _reverse_keys(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [_reverse_keys(item) for item in value]
    return value


def test_test_vins_are_valid_by_independent_check() -> None:
    """The VINs used as valid fixtures pass this file's own ISO 3779 check."""
    for vin in (*VALID_VINS, VIN_A, VIN_B, VIN_C):
        assert vin[8] == _check_digit(vin), vin


def test_valid_declaration_parses_and_normalises() -> None:
    """A valid declaration parses, with dots removed from tariff items and money at 2 places."""
    declaration = Declaration.model_validate_json(json.dumps(_payload()))
    first, second = declaration.lines
    assert declaration.importer == Importer(
        business_number="123456789RM0001", name="Maple Motors Ltd."
    )
    assert declaration.shipment_date == date(2026, 2, 20)
    assert first.tariff_item == "8703800010"
    assert first.quantity == Decimal("2")
    assert first.vins == (VIN_A, VIN_B)
    assert second.tariff_item == "7208510093"
    assert str(second.value_for_duty) == "1500.00"
    assert str(second.quantity) == "1250.5"
    assert second.vins is None


def test_tariff_item_without_dots_is_accepted() -> None:
    """A tariff item given as 10 bare digits is kept as those digits."""
    declaration = Declaration.model_validate(_with(("lines", 0, "tariff_item"), "8703800010"))
    assert declaration.lines[0].tariff_item == "8703800010"


BAD_FIELDS: list[tuple[tuple[str | int, ...], object, str]] = [
    (("declaration_id",), "", "declaration_id must be 1 to 64 characters"),
    (("declaration_id",), "has space", "declaration_id must be 1 to 64 characters"),
    (("declaration_id",), "x" * 65, "declaration_id must be 1 to 64 characters"),
    (("importer", "business_number"), "12345678RM0001", "a BN15"),
    (("importer", "business_number"), "123456789RT0001", "(RM) program account"),
    (("importer", "name"), "   ", "name must not be blank"),
    (("import_type",), "business", "'commercial' or 'personal'"),
    (("accepted_at",), 1773154800, "RFC 3339 timestamp"),
    (("accepted_at",), "yesterday", "RFC 3339"),
    (("shipment_date",), "2026/03/01", "shipment_date must be a date in the form YYYY-MM-DD"),
    (("shipment_date",), "2026-02-30", "date"),
    (("shipment_date",), "0001-01-01", "shipment_date must be between 1990 and 2200"),
    (("shipment_date",), "9999-12-31", "shipment_date must be between 1990 and 2200"),
    (("shipment_date",), "2026-03-11", "shipment_date 2026-03-11 is after the date of accepted_at"),
    (("declaration_id",), ".", "a URL path cannot name it"),
    (("declaration_id",), "..", "a URL path cannot name it"),
    (("accepted_at",), "2026-03-10T10:00:00+23:59", "offset between -12:00 and +14:00"),
    (("accepted_at",), "2026-03-10T10:00:00-12:01", "offset between -12:00 and +14:00"),
    (("accepted_at",), "2026-03-10T10:00:00+14:01", "offset between -12:00 and +14:00"),
    (("importer", "business_number"), "١٢٣٤٥٦٧٨٩RM0001", "a BN15"),
    (("currency",), "usd", "ISO 4217 code of three uppercase letters"),
    (("lines", 0, "tariff_treatment"), "2", "two-digit code such as '02'"),
    (("lines",), [], "lines must hold 1 to 999 lines, got 0"),
    (("lines", 0, "line"), 0, "greater than or equal to 1"),
    (("lines", 0, "line"), "1", "valid integer"),
    (("lines", 0, "tariff_item"), "8703.80.00.1", "tariff_item must have exactly 10 digits"),
    (("lines", 0, "tariff_item"), "870380001099", "tariff_item must have exactly 10 digits"),
    (("lines", 0, "tariff_item"), "8703-80-00-10", "only digits and dots"),
    (("lines", 0, "tariff_item"), 8703800010, "tariff_item must be a string"),
    (("lines", 0, "origin"), "cn", "two uppercase letters"),
    (("lines", 0, "origin"), "CHN", "two uppercase letters"),
    (("lines", 0, "origin"), "UK", "not an assigned ISO 3166-1 alpha-2"),
    (("lines", 0, "origin"), "XK", "not an assigned ISO 3166-1 alpha-2"),
    (("lines", 0, "description"), "", "description must be 1 to 500 characters"),
    (("lines", 0, "description"), "x" * 501, "description must be 1 to 500 characters"),
    (("lines", 0, "description"), " \t", "description must not be blank"),
    (("lines", 1, "quantity"), "0", "quantity must be greater than 0"),
    (("lines", 1, "quantity"), "-3", "quantity must be greater than 0"),
    (("lines", 1, "quantity"), "1.0005", "quantity must have at most 3 decimal places"),
    (("lines", 1, "quantity"), "1,250.5", "plain decimal string"),
    (("lines", 1, "quantity"), "NaN", "quantity must be a finite number"),
    (("lines", 1, "quantity"), True, "not a boolean"),
    (("lines", 0, "quantity"), "1.5", "quantity must be a whole number when unit is NMB"),
    (("lines", 1, "unit"), "kgm", "UN/ECE Recommendation 20 code"),
    (("lines", 1, "unit"), "K", "UN/ECE Recommendation 20 code"),
    (("lines", 1, "unit"), "KGMS", "UN/ECE Recommendation 20 code"),
    (("lines", 1, "value_for_duty"), "0", "value_for_duty must be greater than 0"),
    (("lines", 1, "value_for_duty"), "-0.01", "value_for_duty must be greater than 0"),
    (("lines", 1, "value_for_duty"), "1500.005", "value_for_duty must have at most 2 decimal"),
    (("lines", 1, "value_for_duty"), "Infinity", "value_for_duty must be a finite number"),
    (("lines", 1, "value_for_duty"), "1E+3", "plain decimal string"),
    (("lines", 1, "value_for_duty"), "1" * 16, "at most 15 digits before the decimal point"),
    (("lines", 1, "value_for_duty"), None, "value_for_duty must be a decimal string"),
    (("lines", 0, "fob_unit_price"), "0.001", "fob_unit_price must have at most 2 decimal"),
    (("lines", 1, "permit_number"), "STL 2026", "permit_number must be 1 to 64 characters"),
    (("lines", 1, "permit_number"), "P" * 65, "permit_number must be 1 to 64 characters"),
    (("lines", 1, "remission_claim"), "", "remission_claim must be 1 to 64 characters"),
    (("lines", 1, "remission_claim"), "S" * 65, "remission_claim must be 1 to 64 characters"),
    (("lines", 0, "vins", 1), "5YJ3E1EA7KF317000", "has check digit '7', expected '2'"),
    (("lines", 0, "vins", 1), VIN_B[:16], "must be 17 characters long, got 16"),
    (("lines", 0, "vins", 1), VIN_B[:16] + "I", "I, O and Q are never used"),
    (("lines", 0, "vins", 1), VIN_B.lower(), "letters must be uppercase"),
    (("lines", 0, "vins", 1), VIN_B[:16] + "-", "only A-Z (without I, O, Q) and 0-9"),
    (("lines", 0, "vins", 1), 12345678901234567, "VIN must be a string"),
]


@pytest.mark.parametrize(("path", "value", "message"), BAD_FIELDS)
def test_bad_field_is_reported_at_its_location(
    path: tuple[str | int, ...], value: object, message: str
) -> None:
    """Each bad field value yields one error, located at that field, with a clear message."""
    errors = _errors(_with(path, value))
    assert [error["loc"] for error in errors] == [path]
    assert message in errors[0]["msg"]


@pytest.mark.parametrize("vin", VALID_VINS)
def test_valid_vins_are_accepted(vin: str) -> None:
    """Real VINs with a correct check digit, including the digit 'X', are accepted."""
    line = _payload()["lines"][0] | {"quantity": "1", "vins": [vin]}
    assert DeclarationLine.model_validate(line).vins == (vin,)


@pytest.mark.parametrize(
    ("quantity", "vins", "message"),
    [
        ("2", [VIN_A], "vins must list exactly 2 VINs (quantity), got 1"),
        ("2", [VIN_A, VIN_B, VIN_C], "vins must list exactly 2 VINs (quantity), got 3"),
        ("1", [], "vins must list exactly 1 VIN (quantity), got 0"),
        ("2", [VIN_A, VIN_A], f"VINs must be unique: {VIN_A} appears twice"),
    ],
)
def test_vins_must_match_quantity_and_be_unique_on_a_line(
    quantity: str, vins: list[str], message: str
) -> None:
    """The vins of a line must number exactly its quantity and not repeat."""
    payload = _payload()
    payload["lines"][0] |= {"quantity": quantity, "vins": vins}
    errors = _errors(payload)
    assert [error["loc"] for error in errors] == [("lines", 0, "vins")]
    assert errors[0]["msg"] == message


def test_vins_need_a_whole_quantity() -> None:
    """Listing VINs for a fractional quantity is rejected at vins."""
    payload = _payload()
    payload["lines"][1] |= {"vins": [VIN_C]}
    errors = _errors(payload)
    assert [error["loc"] for error in errors] == [("lines", 1, "vins")]
    assert "whole quantity" in errors[0]["msg"]


def test_duplicate_vins_across_lines_are_rejected() -> None:
    """A VIN listed on two lines of one declaration is rejected, naming both lines."""
    payload = _payload()
    payload["lines"][1] |= {"quantity": "1", "unit": "NMB", "vins": [VIN_B]}
    errors = _errors(payload)
    assert [error["loc"] for error in errors] == [("lines",)]
    assert errors[0]["msg"] == (
        f"VINs must be unique within the declaration: VIN {VIN_B} appears on lines 1, 2"
    )


def test_too_many_lines_are_rejected() -> None:
    """A declaration of more than 999 lines is rejected before its lines are checked."""
    errors = _errors(_with(("lines",), [{"line": number} for number in range(1, 1001)]))
    assert [error["loc"] for error in errors] == [("lines",)]
    assert errors[0]["msg"] == "lines must hold 1 to 999 lines, got 1000"


def test_single_bad_line_gives_only_its_own_error() -> None:
    """When every line is invalid, only the line's error is reported, not a line-count error."""
    payload = _with(("lines", 0, "origin"), "ZZ")
    payload["lines"] = payload["lines"][:1]
    assert [error["loc"] for error in _errors(payload)] == [("lines", 0, "origin")]


def test_duplicate_line_numbers_are_rejected() -> None:
    """Two lines with the same line number are rejected, naming the number."""
    errors = _errors(_with(("lines", 1, "line"), 1))
    assert [error["loc"] for error in errors] == [("lines",)]
    assert errors[0]["msg"] == "line numbers must be unique: 1 appears twice"


def test_fractional_quantity_is_fine_for_other_units() -> None:
    """Only NMB quantities must be whole; a weight may have up to 3 decimal places."""
    declaration = Declaration.model_validate(_with(("lines", 1, "quantity"), "0.125"))
    assert declaration.lines[1].quantity == Decimal("0.125")


@pytest.mark.parametrize(
    "path",
    [
        ("lines", 1, "value_for_duty"),
        ("lines", 0, "fob_unit_price"),
        ("lines", 1, "quantity"),
    ],
)
def test_json_floats_are_rejected(path: tuple[str | int, ...]) -> None:
    """A JSON float is not exact, so money and quantities refuse it and say why."""
    errors = _errors(_with(path, 0.1))
    assert [error["loc"] for error in errors] == [path]
    assert "not a floating-point number (0.1)" in errors[0]["msg"]


def test_float_written_with_zero_fraction_is_still_rejected() -> None:
    """Even 1500.0 in the JSON text is a float and is rejected."""
    text = json.dumps(_payload()).replace('"value_for_duty": 1500', '"value_for_duty": 1500.0')
    with pytest.raises(ValidationError) as caught:
        Declaration.model_validate_json(text)
    assert caught.value.errors()[0]["loc"] == ("lines", 1, "value_for_duty")


@pytest.mark.parametrize(
    ("text", "stored"),
    [("80000", "80000.00"), ("80000.5", "80000.50"), ("80000.000", "80000.00")],
)
def test_money_is_normalised_to_two_places(text: str, stored: str) -> None:
    """Money keeps a scale of 2; trailing zeros beyond it carry no extra precision."""
    declaration = Declaration.model_validate(_with(("lines", 0, "value_for_duty"), text))
    assert str(declaration.lines[0].value_for_duty) == stored


@pytest.mark.parametrize(
    ("path", "field"),
    [
        (("importer", "name"), "name"),
        (("lines", 0, "description"), "description"),
        (("lines", 1, "remission_claim"), "remission_claim"),
        (("lines", 1, "permit_number"), "permit_number"),
    ],
)
def test_lone_surrogate_is_refused_at_its_field(path: tuple[str | int, ...], field: str) -> None:
    """Text holding a lone surrogate, which UTF-8 cannot encode, is an error at that field."""
    with pytest.raises(ValidationError) as caught:
        Declaration.model_validate(_with(path, "Maple \ud800 Motors"))
    errors = caught.value.errors()
    assert [error["loc"] for error in errors] == [path]
    assert f"{field} must be valid Unicode text" in errors[0]["msg"]


@pytest.mark.parametrize(
    ("accepted_at", "shipment_date"),
    [
        ("2026-03-10T10:00:00-05:00", "2026-03-10"),
        ("2026-03-11T00:30:00+14:00", "2026-03-11"),
        ("2026-03-10T23:30:00-12:00", "2026-03-10"),
    ],
)
def test_shipment_on_the_day_of_acceptance_at_the_extreme_offsets_is_accepted(
    accepted_at: str, shipment_date: str
) -> None:
    """Shipping on the calendar day of acceptance, in accepted_at's own offset, is valid."""
    payload = _with(("accepted_at",), accepted_at)
    payload["shipment_date"] = shipment_date
    assert Declaration.model_validate(payload).shipment_date == date.fromisoformat(shipment_date)


@pytest.mark.parametrize("timestamp", ["2026-03-10T10:00:00", "2026-03-10 10:00:00", "2026-03-10"])
def test_naive_timestamp_is_rejected(timestamp: str) -> None:
    """A timestamp without a UTC offset is rejected with a message asking for the offset."""
    errors = _errors(_with(("accepted_at",), timestamp))
    assert [error["loc"] for error in errors] == [("accepted_at",)]
    assert "must include a UTC offset" in errors[0]["msg"]


@pytest.mark.parametrize(
    ("timestamp", "offset"),
    [
        ("2026-03-10T15:00:00Z", timedelta(0)),
        ("2026-03-10T10:00:00-05:00", timedelta(hours=-5)),
        ("2026-03-11T00:30:00+09:30", timedelta(hours=9, minutes=30)),
    ],
)
def test_accepted_at_keeps_its_own_offset(timestamp: str, offset: timedelta) -> None:
    """accepted_at keeps the offset it was given rather than being moved to UTC."""
    declaration = Declaration.model_validate(_with(("accepted_at",), timestamp))
    assert declaration.accepted_at.utcoffset() == offset


@pytest.mark.parametrize(
    ("timestamp", "accepted_on"),
    [
        ("2026-02-28T23:30:00-05:00", date(2026, 2, 28)),
        ("2026-03-01T04:30:00Z", date(2026, 3, 1)),
        ("2026-03-01T00:15:00+01:00", date(2026, 3, 1)),
    ],
)
def test_accepted_on_is_the_date_in_the_own_offset(timestamp: str, accepted_on: date) -> None:
    """accepted_on is the calendar date at accepted_at's own offset, not in UTC."""
    declaration = Declaration.model_validate(_with(("accepted_at",), timestamp))
    assert declaration.accepted_on == accepted_on


@pytest.mark.parametrize("path", [(), ("importer",), ("lines", 0)])
def test_unknown_field_is_rejected_at_every_level(path: tuple[str | int, ...]) -> None:
    """A field outside the contract is rejected wherever it appears."""
    errors = _errors(_with((*path, "colour"), "red"))
    assert [(error["loc"], error["type"]) for error in errors] == [
        ((*path, "colour"), "extra_forbidden")
    ]


def test_optional_fields_may_be_left_out() -> None:
    """shipment_date, fob_unit_price, permit_number, remission_claim and vins are optional."""
    payload = _payload()
    del payload["shipment_date"]
    for line in payload["lines"]:
        for field in ("fob_unit_price", "permit_number", "remission_claim", "vins"):
            line.pop(field, None)
    declaration = Declaration.model_validate(payload)
    assert declaration.shipment_date is None
    assert declaration.lines[0].fob_unit_price is None


def test_declaration_is_frozen() -> None:
    """A parsed declaration cannot be changed in place."""
    declaration = Declaration.model_validate(_payload())
    with pytest.raises(ValidationError):
        declaration.currency = "CAD"


def test_canonical_json_round_trips() -> None:
    """Parsing canonical_json() gives back an equal declaration."""
    declaration = Declaration.model_validate_json(json.dumps(_payload()))
    assert Declaration.model_validate_json(declaration.canonical_json()) == declaration


def test_canonical_json_spelling() -> None:
    """canonical_json is compact and key-sorted, omits None, and keeps normalised text."""
    payload = _payload()
    del payload["shipment_date"]
    text = Declaration.model_validate(payload).canonical_json()
    body = json.loads(text)
    assert text == json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert "shipment_date" not in body
    assert "permit_number" not in body["lines"][0]
    assert body["accepted_at"] == "2026-03-10T10:00:00-05:00"
    assert body["lines"][0]["tariff_item"] == "8703800010"
    assert body["lines"][0]["quantity"] == "2"
    assert body["lines"][1]["value_for_duty"] == "1500.00"
    assert body["lines"][1]["quantity"] == "1250.5"


def test_body_hash_ignores_spelling_differences() -> None:
    """The body hash ignores key order, dots in tariff items and how equal amounts are written."""
    original = _payload()
    respelled = _reverse_keys(copy.deepcopy(original))
    respelled["lines"][0]["tariff_item"] = "8703800010"
    respelled["lines"][0]["value_for_duty"] = 80000
    respelled["lines"][1]["quantity"] = "1250.500"
    respelled["accepted_at"] = "2026-03-10T10:00:00.000000-05:00"
    first = Declaration.model_validate_json(json.dumps(original))
    second = Declaration.model_validate_json(json.dumps(respelled))
    assert first.canonical_json() == second.canonical_json()
    assert first.body_sha256() == second.body_sha256()
    assert len(first.body_sha256()) == 64
    assert set(first.body_sha256()) <= set("0123456789abcdef")


def test_body_hash_changes_with_content() -> None:
    """A change of any value, even the offset of the same instant, changes the body hash."""
    base = Declaration.model_validate(_payload())
    changed = [
        _with(("lines", 0, "value_for_duty"), "80000.01"),
        _with(("accepted_at",), "2026-03-10T15:00:00Z"),
        _with(("declaration_id",), "DEC-2026.03_0002"),
    ]
    hashes = {Declaration.model_validate(payload).body_sha256() for payload in changed}
    assert base.body_sha256() not in hashes
    assert len(hashes) == len(changed)


def test_country_list_holds_the_assigned_codes() -> None:
    """ISO_3166_ALPHA2 holds the 249 assigned codes and none of the reserved ones."""
    assert len(ISO_3166_ALPHA2) == 249
    assert {"CA", "US", "MX", "CN", "KR", "JP", "DE", "GB", "SS", "BQ", "AX"} <= ISO_3166_ALPHA2
    assert not {"UK", "EU", "XK", "EZ", "AN", "YU"} & ISO_3166_ALPHA2
    assert all(len(code) == 2 and code.isascii() and code.isupper() for code in ISO_3166_ALPHA2)


# --- the CN profile: unified social credit code, CNY ---------------------------------------


def _cn_payload(business_number: str = VALID_USCC[1], currency: str = "CNY") -> dict[str, Any]:
    body = _payload()
    body["jurisdiction"] = "CN"
    body["currency"] = currency
    body["importer"] = {"business_number": business_number, "name": "Shandong Oilseeds Co."}
    for line in body["lines"]:
        line.pop("vins", None)
    return body


@pytest.mark.parametrize("code", [*VALID_USCC, uscc("92370200MA3C4EXX0")])
def test_a_cn_declaration_takes_a_unified_social_credit_code(code: str) -> None:
    """A CN declaration's importer is an 18-character code whose check character is right."""
    declaration = Declaration.model_validate(_cn_payload(code))
    assert (declaration.jurisdiction, declaration.importer.business_number) == ("CN", code)


def test_a_bad_unified_social_credit_code_is_refused_at_its_field() -> None:
    """A CN declaration's wrong code is refused at importer.business_number (what is wrong
    with a code: tests/schemas/test_identifiers.py)."""
    errors = _errors(_cn_payload("91110000600037341M"))
    assert [error["loc"] for error in errors] == [("importer", "business_number")]
    assert "has check character 'M', expected 'L'" in errors[0]["msg"]


def test_a_canadian_declaration_still_needs_a_business_number() -> None:
    """Without jurisdiction the declaration is Canadian: a social credit code is refused."""
    body = _payload()
    body["importer"]["business_number"] = VALID_USCC[1]
    errors = _errors(body)
    assert [error["loc"] for error in errors] == [("importer", "business_number")]
    assert "a BN15" in errors[0]["msg"]


@pytest.mark.parametrize("currency", ["CAD", "USD"])
def test_a_cn_declaration_in_another_currency_than_cny_is_valid(currency: str) -> None:
    """A CN declaration's values may be in another currency: the rules convert them at a
    loaded rate, or reject the verdict for want of one (tests/rules/cases/currency-cn.yaml)."""
    parsed = Declaration.model_validate_json(json.dumps(_cn_payload(currency=currency)))
    assert (parsed.jurisdiction, parsed.currency) == ("CN", currency)


def test_an_unknown_jurisdiction_is_refused_naming_jurisdiction() -> None:
    """Only CA and CN are jurisdictions."""
    errors = _errors(_payload() | {"jurisdiction": "US"})
    assert errors[0]["loc"] == ("jurisdiction",)


def test_the_default_jurisdiction_leaves_the_canonical_body_as_it_was() -> None:
    """A Canadian declaration hashes the same with or without `jurisdiction: CA`."""
    plain = Declaration.model_validate(_payload())
    explicit = Declaration.model_validate(_payload() | {"jurisdiction": "CA"})
    assert "jurisdiction" not in plain.canonical_json()
    assert plain.body_sha256() == explicit.body_sha256()
    cn = Declaration.model_validate(_cn_payload())
    assert '"jurisdiction":"CN"' in cn.canonical_json()


def test_excise_licensed_is_optional_and_left_out_of_the_canonical_body_when_unsaid() -> None:
    """An importer may say it is licensed under the Excise Tax Act; unsaid, the canonical
    body (and so a stored declaration's hash) is what it was before the field existed."""
    unsaid = Declaration.model_validate(_payload())
    assert unsaid.importer.excise_licensed is None
    assert "excise_licensed" not in unsaid.canonical_json()
    said = Declaration.model_validate(_with(("importer", "excise_licensed"), True))
    assert said.importer.excise_licensed is True
    assert '"excise_licensed":true' in said.canonical_json()


def test_excise_licensed_takes_only_true_or_false() -> None:
    """A text such as "yes" is refused in JSON, naming importer.excise_licensed."""
    errors = _errors(_with(("importer", "excise_licensed"), "yes"))
    assert [error["loc"] for error in errors] == [("importer", "excise_licensed")]
