"""The decision index: what it keeps of each decision, and reads back.

Each rule's decisions are kept as they are decided, in hashes of at most 512 (so Redis
keeps them listpacks): `decisions:{rule}:{n}`, "declaration|line" -> [decision time
(ms), severity, pack version, outcome], written by store/lua/record.lua and read by
store/audit.py for GET /v1/decisions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def decision_row(finding: tuple[str, str] | None, outcome: str | None) -> dict[str, str | None]:
    """What the decision list shows of one decision beside where and when."""
    severity, pack_version = finding or (None, None)
    return {"severity": severity, "pack_version": pack_version, "outcome": outcome}


ROW_FIELDS = ("severity", "pack_version", "outcome")
"""What the decision index keeps of a decision, in this order (`kept_row`)."""


def kept_row(row: Mapping[str, str | None]) -> list[str | None]:
    """A decision's row as the index keeps it: its values alone, short enough for the
    bucket's listpack (store/lua/record.lua)."""
    return [row[name] for name in ROW_FIELDS]


def row_of(kept: Any) -> dict[str, Any]:
    """A decision's row from what the index keeps: its values, or (indexed before the
    buckets) the row itself."""
    if isinstance(kept, list):
        return dict(zip(ROW_FIELDS, kept, strict=True))
    return dict(kept)
