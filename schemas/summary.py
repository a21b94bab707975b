"""A declaration's summary: the few fields a list shows of it (importer, acceptance,
line count, the currency of its amounts, outcome, total duty, error and warning counts).

Lists read these instead of the declaration and its verdict, which for a declaration
of a thousand lines weigh a megabyte or more each: the store writes the summary of the
body when it stores a declaration, and the summary of the verdict in the same atomic
step that records the verdict. Values are strings, as a Redis hash holds them."""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson

from schemas.declaration import duty_currency

BODY_FIELDS = ("importer_name", "accepted_at", "line_count", "currency")
VERDICT_FIELDS = ("outcome", "total_duty", "errors", "warnings")


def _object(text: str | bytes | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def of_body(body: str | bytes | None) -> dict[str, str]:
    """The summary of a stored declaration body (canonical JSON)."""
    parsed = _object(body)
    importer = parsed.get("importer")
    lines = parsed.get("lines")
    return {
        "importer_name": str((importer or {}).get("name") or "")
        if isinstance(importer, dict)
        else "",
        "accepted_at": str(parsed.get("accepted_at") or ""),
        "line_count": str(len(lines) if isinstance(lines, list) else 0),
        "currency": duty_currency(parsed),
    }


def of_verdict(verdict: str | bytes | None) -> dict[str, str]:
    """The summary of a stored verdict (JSON): outcome, total duty, findings by severity."""
    parsed = _object(verdict)
    findings = parsed.get("findings")
    severities = Counter(
        item.get("severity") for item in findings or () if isinstance(item, dict)
    ) if isinstance(findings, list) else Counter[Any]()  # fmt: skip
    return {
        "outcome": str(parsed.get("outcome") or ""),
        "total_duty": str(parsed.get("total_duty") or ""),
        "errors": str(severities["error"]),
        "warnings": str(severities["warning"]),
    }
