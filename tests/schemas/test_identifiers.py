"""The identifiers' own checks (schemas/identifiers.py): a Canadian business number, a
unified social credit code, a VIN. Each answers a good value unchanged and refuses a bad
one with an error whose message says what is wrong; check digits and characters are
compared with implementations written in tests/helpers.py, not with the code under test.
Where a declaration reports them: tests/schemas/test_declaration.py."""

from __future__ import annotations

import re

import pytest
from pydantic_core import PydanticCustomError

from helpers import VALID_USCC, uscc, vin
from schemas import identifiers


def _refusal(check: object, value: object) -> PydanticCustomError:
    assert callable(check)
    with pytest.raises(PydanticCustomError) as refused:
        check(value)
    return refused.value


# --- the business number (BN15) -------------------------------------------------------


@pytest.mark.parametrize("number", ["123456789RM0001", "000000000RM9999"])
def test_a_bn15_on_the_import_export_account_is_taken(number: str) -> None:
    """Nine digits, RM and four digits: the import/export program account."""
    assert identifiers.business_number(number) == number
    assert re.fullmatch(identifiers.BN15, number)  # the pattern the API's models use


@pytest.mark.parametrize(
    ("number", "kind", "words"),
    [
        ("12345678RM0001", "business_number", "a BN15: the 9-digit business number"),
        ("123456789rm0001", "business_number", "such as 123456789RM0001"),
        ("١٢٣٤٥٦٧٨٩RM0001", "business_number", "a BN15"),  # digits, but not ASCII ones
        ("123456789RT0001", "business_number_program", "got program 'RT'"),
        (123456789, "string_type", "business_number must be a string"),
    ],
)
def test_a_bad_business_number_says_what_a_bn15_is(number: object, kind: str, words: str) -> None:
    """A number of another shape, or of another program account, is refused in words."""
    refused = _refusal(identifiers.business_number, number)
    assert refused.type == kind
    assert words in refused.message()
    assert not (isinstance(number, str) and re.fullmatch(identifiers.BN15, number))


# --- the unified social credit code (China) ---------------------------------------------


@pytest.mark.parametrize("code", [*VALID_USCC, uscc("92370200MA3C4EXX0"), uscc("1" * 17)])
def test_a_unified_social_credit_code_with_its_check_character_is_taken(code: str) -> None:
    """Published codes, and codes whose check character the standard's table computes."""
    assert identifiers.unified_social_credit_code(code) == code
    assert identifiers.uscc_check_character(code) == code[17]


@pytest.mark.parametrize(
    ("code", "kind", "message"),
    [
        ("91110000600037341M", "business_number_check", "has check character 'M', expected 'L'"),
        ("123456789RM0001", "business_number", "18-character unified social credit code"),
        ("91110000600037341", "business_number", "18-character unified social credit code"),
        ("9111000060003734IL", "business_number", "18-character unified social credit code"),
        ("911100006000373410L", "business_number", "18-character unified social credit code"),
        ("91AB0000600037341L", "business_number", "18-character unified social credit code"),
    ],
)
def test_a_bad_unified_social_credit_code_says_what_is_wrong(
    code: str, kind: str, message: str
) -> None:
    """A wrong check character names both; a wrong shape (length, I O S V Z, letters in
    the division code) says what a code looks like."""
    refused = _refusal(identifiers.unified_social_credit_code, code)
    assert refused.type == kind
    assert message in refused.message()


# --- the VIN ------------------------------------------------------------------------------


@pytest.mark.parametrize("serial", [0, 1, 7, 42, 123456, 999999])
def test_a_vin_with_its_check_digit_is_taken(serial: int) -> None:
    """VINs whose ISO 3779 check digit tests/helpers.py computed are taken as they are."""
    good = vin(serial)
    assert identifiers.vin(good) == good
    assert identifiers.vin_check_digit(good) == good[8]


def test_the_check_digit_may_be_x() -> None:
    """A remainder of 10 is written X."""
    assert identifiers.vin("1M8GDM9AXKP042788") == "1M8GDM9AXKP042788"


def test_a_wrong_check_digit_names_the_vin_and_both_digits() -> None:
    """The message names the VIN, the digit given and the one expected."""
    refused = _refusal(identifiers.vin, "1HGCM82643A004352")
    assert refused.type == "vin_check_digit"
    assert refused.message() == "VIN 1HGCM82643A004352 has check digit '4', expected '3'"


@pytest.mark.parametrize(
    ("value", "kind", "message"),
    [
        ("1HGCM82633A00435", "vin_length", "must be 17 characters long, got 16"),
        ("1HGCM82633A004352X", "vin_length", "must be 17 characters long, got 18"),
        ("1HGCM82633A00435I", "vin_character", "'I' at position 17: I, O and Q are never used"),
        ("1hGCM82633A004352", "vin_character", "'h' at position 2: letters must be uppercase"),
        ("1HGCM82633A00435-", "vin_character", "only A-Z (without I, O, Q) and 0-9"),
        (12345678901234567, "string_type", "VIN must be a string"),
    ],
)
def test_a_malformed_vin_says_what_is_wrong(value: object, kind: str, message: str) -> None:
    """Length, characters and type are checked before the check digit, each in words."""
    refused = _refusal(identifiers.vin, value)
    assert refused.type == kind
    assert message in refused.message()
