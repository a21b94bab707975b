"""Declarations for tests: a valid base, and a way to vary it."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import date
from typing import Any, Literal

from rules.measure import Measure
from rules.quota import terms_on
from schemas.permit import PermitTerms
from schemas.quota import QuotaRequest

IMPORTER = "123456789RM0001"

BASE_LINE: dict[str, Any] = {
    "line": 1,
    "tariff_item": "8703.80.00.10",
    "origin": "CN",
    "description": "Battery electric passenger automobile",
    "quantity": "2",
    "unit": "NMB",
    "value_for_duty": "80000.00",
}

BASE: dict[str, Any] = {
    "declaration_id": "base",
    "importer": {"business_number": IMPORTER, "name": "Maple Motors Inc."},
    "import_type": "commercial",
    "accepted_at": "2025-12-01T10:00:00-05:00",
    "currency": "CAD",
    "lines": [BASE_LINE],
}


def declaration(
    declaration_id: str, lines: list[dict[str, Any]] | None = None, **fields: Any
) -> dict[str, Any]:
    """The base declaration, top-level fields replaced, each line merged onto the base line."""
    body = copy.deepcopy(BASE)
    body.update(copy.deepcopy(fields))
    body["declaration_id"] = declaration_id
    if lines is not None:
        body["lines"] = [
            {**BASE_LINE, "line": index, **line} for index, line in enumerate(lines, start=1)
        ]
    return body


def vin(
    serial: int, wmi: str = "LRW", vds: str = "3E7FA", year: str = "T", plant: str = "C"
) -> str:
    """A VIN with a correct ISO 3779 check digit, unique per serial number."""
    body = f"{wmi}{vds}0{year}{plant}{serial:06d}"
    values = {**{str(d): d for d in range(10)}, **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
              **dict(zip("JKLMN", range(1, 6), strict=True)), "P": 7, "R": 9,
              **dict(zip("STUVWXYZ", range(2, 10), strict=True))}  # fmt: skip
    weights = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
    total = sum(values[char] * weight for char, weight in zip(body, weights, strict=True))
    check = "X" if total % 11 == 10 else str(total % 11)
    return body[:8] + check + body[9:]


# Unified social credit codes (GB 32100-2015): the first three are published codes; `uscc`
# computes a check character with the standard's own table of weights (3^i mod 31), not
# with the code under test.
VALID_USCC = ("914403001922038216", "91110000600037341L", "91310000MA1FL1MMXL")
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def uscc(first17: str) -> str:
    """A unified social credit code: `first17` and its check character."""
    total = sum(_USCC_ALPHABET.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return first17 + _USCC_ALPHABET[(31 - total % 31) % 31]


def quota_request(
    measure: Measure,
    day: date,
    quantity: int,
    *,
    line: int = 1,
    affordable: bool = False,
    over_quota: Literal["reject", "rate"] = "reject",
    permit: str | None = None,
    vins: Sequence[str] = (),
) -> QuotaRequest:
    """What the engine asks of a quota for one line accepted on `day` (for a quota drawn
    at permit issuance, pass the day the permit was drawn on: the request carries that
    quota year)."""
    assert measure.quota is not None
    return QuotaRequest(
        quota=terms_on(measure, day),
        line=line,
        quantity=quantity,
        sub_quota="affordable" if affordable else None,
        over_quota=over_quota,
        permit_number=permit,
        vins=tuple(vins),
        account=IMPORTER if measure.quota.mode == "importer_allocation" else None,
    )


def permit_terms(
    number: str,
    quantity: int,
    measure: str,
    issued_on: date = date(2026, 3, 1),
    expires_on: date = date(2027, 2, 28),
    business_number: str = IMPORTER,
    sub_quota: str | None = None,
) -> PermitTerms:
    """A permit application with every term settled (by default of the base importer,
    valid through quota year 1 of a 1 March quota)."""
    return PermitTerms(
        permit_number=number,
        business_number=business_number,
        measure=measure,
        quantity=quantity,
        issued_on=issued_on,
        expires_on=expires_on,
        sub_quota=sub_quota,
    )
