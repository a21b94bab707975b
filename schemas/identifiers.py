"""The identifiers a declaration carries, each checked by its own rule: the Canadian
business number of an importer (a BN15 on the import/export program account), China's
unified social credit code (GB 32100-2015, with its check character) and the vehicle
identification number (ISO 3779, with its check digit). Each check takes what the client
sent and answers the identifier, or raises a pydantic error whose message names the field,
what was sent and what a good value looks like; the declaration's model
(schemas/declaration.py) decides which check applies where."""

from __future__ import annotations

import re

from pydantic_core import PydanticCustomError

__all__ = [
    "BN15",
    "BN15_WORDS",
    "business_number",
    "invalid",
    "require_str",
    "unified_social_credit_code",
    "uscc_check_character",
    "vin",
    "vin_check_digit",
]

# An importer/exporter program account (RM) of a 9-digit business number, ASCII digits
# only, as a pattern for pydantic's `Field(pattern=...)`. The other program identifiers
# (RT for GST, RP for payroll, ...) cannot account for goods.
BN15 = r"^[0-9]{9}RM[0-9]{4}$"
_BUSINESS_NUMBER = re.compile(BN15)
_BUSINESS_NUMBER_SHAPE = re.compile(r"[0-9]{9}[A-Z]{2}[0-9]{4}")
# What a BN15 looks like, in the words every message uses.
BN15_WORDS = (
    "a BN15: the 9-digit business number, RM (the import/export program account) and a "
    "4-digit reference number, such as 123456789RM0001"
)
# China's unified social credit code (GB 32100-2015): 18 characters from an alphabet without
# I, O, S, V and Z; characters 3-8 are the administrative division code; the last is a check
# character, weighted sum modulo 31 over the first 17.
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_SHAPE = re.compile(rf"[{_USCC_ALPHABET}]{{2}}[0-9]{{6}}[{_USCC_ALPHABET}]{{10}}")
_USCC_WEIGHTS = tuple(pow(3, position, 31) for position in range(17))

_VIN_LENGTH = 17
_VIN_CHECK_POSITION = 8
_VIN_VALUES: dict[str, int] = {
    **{str(digit): digit for digit in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


def invalid(error_type: str, message: str) -> PydanticCustomError:
    """The error of a field check. A custom error keeps the message as written: a plain
    ValueError would reach the client prefixed with "Value error, "."""
    return PydanticCustomError(error_type, message)


def require_str(value: object, field: str) -> str:
    """`value` if it is text that UTF-8 can hold, else the error naming `field`."""
    if not isinstance(value, str):
        raise invalid("string_type", f"{field} must be a string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        # JSON's \ud800 escape parses to a lone surrogate, which no UTF-8 body, hash or
        # store can hold: it is refused here, where the field can still be named.
        raise invalid(
            "string_unicode", f"{field} must be valid Unicode text, without lone surrogates"
        ) from None
    return value


def business_number(value: object) -> str:
    """A Canadian importer's BN15 on the import/export (RM) program account."""
    text = require_str(value, "business_number")
    if _BUSINESS_NUMBER_SHAPE.fullmatch(text) is None:
        raise invalid(
            "business_number",
            f"business_number must be {BN15_WORDS}, got {text!r}",
        )
    if _BUSINESS_NUMBER.fullmatch(text) is None:
        raise invalid(
            "business_number_program",
            "business_number must be an import/export (RM) program account, "
            f"got program {text[9:11]!r}",
        )
    return text


def uscc_check_character(code: str) -> str:
    """The check character of a unified social credit code, from its first 17 characters."""
    total = sum(
        _USCC_ALPHABET.index(char) * weight
        for char, weight in zip(code[:17], _USCC_WEIGHTS, strict=True)
    )
    return _USCC_ALPHABET[(31 - total % 31) % 31]


def unified_social_credit_code(value: object) -> str:
    """A Chinese importer's unified social credit code, its check character right."""
    text = require_str(value, "business_number")
    if len(text) != 18 or _USCC_SHAPE.fullmatch(text) is None:
        raise invalid(
            "business_number",
            "business_number of a CN declaration must be an 18-character unified social "
            "credit code (GB 32100-2015, digits and capitals without I, O, S, V, Z), "
            f"such as 91110000600037341L, got {text!r}",
        )
    expected = uscc_check_character(text)
    if text[17] != expected:
        raise invalid(
            "business_number_check",
            f"business_number {text} has check character {text[17]!r}, expected {expected!r}",
        )
    return text


def vin_check_digit(vin: str) -> str:
    """The ISO 3779 check digit (0-9 or X) of a 17-character VIN of valid characters."""
    remainder = (
        sum(_VIN_VALUES[char] * weight for char, weight in zip(vin, _VIN_WEIGHTS, strict=True)) % 11
    )
    return "X" if remainder == 10 else str(remainder)


def vin(value: object) -> str:
    """A vehicle identification number: 17 characters, no I, O or Q, its check digit right."""
    text = require_str(value, "VIN")
    if len(text) != _VIN_LENGTH:
        raise invalid(
            "vin_length", f"VIN {text} must be {_VIN_LENGTH} characters long, got {len(text)}"
        )
    for position, char in enumerate(text, start=1):
        if char in _VIN_VALUES:
            continue
        if char in "IOQ":
            reason = "I, O and Q are never used in a VIN"
        elif "a" <= char <= "z":
            reason = "letters must be uppercase"
        else:
            reason = "only A-Z (without I, O, Q) and 0-9 are allowed"
        raise invalid("vin_character", f"VIN {text} has {char!r} at position {position}: {reason}")
    expected = vin_check_digit(text)
    actual = text[_VIN_CHECK_POSITION]
    if actual != expected:
        raise invalid(
            "vin_check_digit", f"VIN {text} has check digit {actual!r}, expected {expected!r}"
        )
    return text
