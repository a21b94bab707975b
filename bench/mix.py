"""A realistic mix of declarations for the benchmarks: EVs under the 2024 surtax, steel
and aluminium with and without remission, EVs under the 2026 quota with and without
permits, personal imports, and lines no measure covers. Deterministic for a seed."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

from rules.catalog import Catalog
from rules.quota import terms_of
from schemas.permit import Permit, PermitTerms
from store import RedisStore, now_rfc3339

IMPORTER = "123456789RM0001"


def _line(number: int, **fields: Any) -> dict[str, Any]:
    base = {
        "line": number,
        "tariff_item": "8703.80.00.10",
        "origin": "CN",
        "description": "Battery electric passenger automobile",
        "quantity": "1",
        "unit": "NMB",
        "value_for_duty": "42000.00",
    }
    return {**base, **fields}


def declaration(index: int, rng: random.Random, label: str = "bench") -> dict[str, Any]:
    kind = rng.choice(
        ["surtax", "surtax", "steel", "trq", "trq", "trq_no_permit", "personal", "other"]
    )
    accepted_at = "2025-11-20T10:00:00-05:00"
    import_type = "commercial"
    lines: list[dict[str, Any]]
    if kind == "surtax":
        lines = [
            _line(
                1, quantity=str(rng.randint(1, 4)), value_for_duty=f"{rng.randint(30, 160)}000.00"
            )
        ]
    elif kind == "steel":
        claim = {"remission_claim": "SOR/2025-12"} if rng.random() < 0.3 else {}
        lines = [
            _line(n, tariff_item="7208.51.00.00", unit="KGM", quantity=str(rng.randint(500, 20000)),
                  description="Hot-rolled steel plate", value_for_duty=f"{rng.randint(5, 90)}000.00", **claim)
            for n in range(1, rng.randint(1, 3) + 1)
        ]  # fmt: skip
    elif kind in ("trq", "trq_no_permit"):
        accepted_at = "2026-03-10T10:00:00-05:00"
        permit = {"permit_number": f"{label}-P{index}"} if kind == "trq" else {}
        lines = [_line(1, quantity="1", fob_unit_price=f"{rng.randint(25, 60)}000.00", **permit)]
    elif kind == "personal":  # a casual importation in 87.03 needs its permit too
        accepted_at = "2026-03-10T10:00:00-05:00"
        import_type = "personal"
        lines = [_line(1, permit_number=f"{label}-P{index}")]
    else:
        lines = [_line(1, origin="DE", tariff_item="8703.80.00.90")]
    return {
        "declaration_id": f"{label}-{index}",
        "importer": {"business_number": IMPORTER, "name": "Maple Motors Inc."},
        "import_type": import_type,
        "accepted_at": accepted_at,
        "currency": "CAD",
        "lines": lines,
    }


TRQ = "CA-CN-EV-TRQ-2026"


def permit_terms(index: int, label: str = "bench") -> PermitTerms:
    """The permit a quota declaration of the mix names: one vehicle, issued 1 March 2026,
    valid until a year after the benchmark runs. A permit already expired when the
    benchmark issues it is ended by the API's periodic sweep in the middle of a run
    (thousands at once, which changed the verdicts of the declarations naming them);
    the engine checks only that a declaration was accepted (10 March) by expiry."""
    return PermitTerms(
        permit_number=f"{label}-P{index}",
        business_number=IMPORTER,
        measure=TRQ,
        quantity=1,
        issued_on=date(2026, 3, 1),
        expires_on=max(date(2026, 4, 29), datetime.now(UTC).date() + timedelta(days=365)),
    )


def permit_for(index: int, label: str = "bench") -> Permit:
    """The same permit as the ledger holds it once issued (for engine-only benchmarks)."""
    return Permit(
        **permit_terms(index, label).model_dump(), status="issued", held=1, period="2026-03-01"
    )


def issue_permits(
    store: RedisStore, catalog: Catalog, indexes: range | list[int], label: str = "bench"
) -> None:
    """Apply for the mix's permits through the ledger (each draws its vehicle from the
    quota; past the period's volume they are refused, and their declarations with them)."""
    found = catalog.measure(TRQ)
    assert found is not None
    terms = terms_of(found[1], 1)
    for index in indexes:
        store.ledger.apply_permit(terms, permit_terms(index, label), now_rfc3339())


def declarations(count: int, seed: int = 42, label: str = "bench") -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [declaration(index, rng, label) for index in range(count)]
