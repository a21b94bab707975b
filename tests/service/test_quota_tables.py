"""The quota tables add up as printed: where permits' units lapsed (they came back after
their quota year), the permits table shows them, and its formula names them."""

from __future__ import annotations

from typing import Any

import pytest

from cli.output import render
from cli.verbs_quotas import _quotas_view


def quota(permits: dict[str, int]) -> dict[str, Any]:
    period = {
        "start": "2026-03-01", "end": "2026-08-31", "volume": 24500, "carried_over": 0,
        "used": 9, "returned": 2, "remaining": 24493, "carried_forward": 0, "status": "closed",
        "lapsed": permits["lapsed"], "permits": permits,
    }  # fmt: skip
    return {"quota_id": "CA-CN-EV-TRQ-2026", "mode": "fcfs", "drawn_at": "permit",
            "periods": [period], "events": {"events": []}}  # fmt: skip


@pytest.mark.parametrize(
    ("lapsed", "outstanding", "formula", "columns"),
    [
        (2, 1, "issued = used + returned + lapsed + outstanding",
         ["period", "issued", "used", "returned", "lapsed", "outstanding"]),
        (0, 3, "issued = used + returned + outstanding",
         ["period", "issued", "used", "returned", "outstanding"]),
    ],
    ids=["lapsed", "none lapsed"],
)  # fmt: skip
def test_the_permits_table_names_lapsed_units_where_there_are_some(
    lapsed: int, outstanding: int, formula: str, columns: list[str]
) -> None:
    """issued 10 = used 5 + returned 2 (+ lapsed) + outstanding, printed as such: a lapsed
    column and its place in the formula only where units lapsed."""
    permits = {"issued": 10, "used": 5, "returned": 2, "lapsed": lapsed, "outstanding": outstanding}
    text = render(_quotas_view(quota(permits)))
    assert f"permits by period ({formula})" in text
    header = next(line for line in text.splitlines() if line.split()[:2] == ["period", "issued"])
    assert header.split() == columns
