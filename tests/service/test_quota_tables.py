"""The quota tables add up as printed: where permits' units lapsed (they came back after
their quota year), the permits table shows them, and its formula names them."""

from __future__ import annotations

from typing import Any

from service.cli import _quotas_view
from service.cli_output import render


def quota(permits: dict[str, int]) -> dict[str, Any]:
    period = {
        "start": "2026-03-01", "end": "2026-08-31", "volume": 24500, "carried_over": 0,
        "used": 9, "returned": 2, "remaining": 24493, "carried_forward": 0, "status": "closed",
        "lapsed": permits["lapsed"], "permits": permits,
    }  # fmt: skip
    return {"quota_id": "CA-CN-EV-TRQ-2026", "mode": "fcfs", "drawn_at": "permit",
            "periods": [period], "events": {"events": []}}  # fmt: skip


def test_lapsed_permit_units_get_a_column_and_a_place_in_the_formula() -> None:
    """issued 10 = used 5 + returned 2 + lapsed 2 + outstanding 1, shown as such."""
    text = render(_quotas_view(quota(
        {"issued": 10, "used": 5, "returned": 2, "lapsed": 2, "outstanding": 1}
    )))  # fmt: skip
    assert "permits by period (issued = used + returned + lapsed + outstanding)" in text
    header = next(
        line
        for line in text.splitlines()
        if line.lstrip().startswith("period") and "issued" in line
    )
    assert header.split() == ["period", "issued", "used", "returned", "lapsed", "outstanding"]


def test_without_lapsed_units_the_permits_table_keeps_its_four_figures() -> None:
    """No lapse: no lapsed column, the formula as before."""
    text = render(_quotas_view(quota(
        {"issued": 10, "used": 5, "returned": 2, "lapsed": 0, "outstanding": 3}
    )))  # fmt: skip
    assert "permits by period (issued = used + returned + outstanding)" in text
    header = next(
        line
        for line in text.splitlines()
        if line.lstrip().startswith("period") and "issued" in line
    )
    assert "lapsed" not in header.split()
