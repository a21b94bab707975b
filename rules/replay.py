"""Replay: decide a declaration again, as a pure function of what was recorded (its body,
the permits and exchange rates its evaluation saw, its allocation) and a set of packs; and the differences
between two verdicts, field by field, for auditors and policy analysts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from rules import engine
from rules.pack import Pack
from schemas.declaration import Declaration
from schemas.permit import Permit
from schemas.quota import Allocation, LineAllocation, QuotaRequest
from schemas.rates import RateQuote
from schemas.verdict import Verdict


def replay_allocation(
    recorded: Allocation | None, requests: Sequence[QuotaRequest], as_of: date
) -> tuple[Allocation, list[int]]:
    """The recorded allocation, with every request it does not answer (a pack that now
    claims quota where the original did not) assumed allocated in full; returns the
    allocation and the lines whose allocation was assumed."""
    lines: list[LineAllocation] = []
    assumed: list[int] = []
    for request in requests:
        found = recorded.for_line(request.line, request.quota_id) if recorded else None
        if found is None:
            assumed.append(request.line)
            period = request.quota.period_containing(as_of)
            found = LineAllocation(
                line=request.line, quota_id=request.quota_id,
                period=period.key if period else as_of.isoformat(),
                status="allocated", in_quota=request.quantity,
            )  # fmt: skip
        lines.append(found)
    applied = recorded.applied if recorded is not None else True
    return Allocation(applied=applied, lines=tuple(lines)), assumed


def replay(
    declaration: Declaration,
    packs: Sequence[Pack],
    permits: Mapping[str, Permit],
    recorded: Allocation | None,
    counterpart_packs: Sequence[Pack] = (),
    rates: Sequence[RateQuote] = (),
) -> tuple[Verdict, list[int]]:
    evaluation = engine.evaluate(declaration, packs, permits, counterpart_packs, rates)
    allocation, assumed = replay_allocation(recorded, evaluation.requests, evaluation.as_of)
    return engine.finalize(evaluation, allocation), assumed


def _line_view(line: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "measures": list(line["measures"]),
        "treatment": line["treatment"],
        "in_quota_quantity": str(line["in_quota_quantity"]),
        "over_quota_quantity": str(line["over_quota_quantity"]),
        "duties": [
            {key: str(duty[key]) for key in ("type", "measure", "rate", "base", "amount")}
            for duty in line["duties"]
        ],
        "total_duty": str(line["total_duty"]),
    }


def differences(original: Mapping[str, Any], replayed: Mapping[str, Any]) -> list[dict[str, Any]]:
    """What changed between two verdicts (JSON forms): outcome, totals, each line's
    treatment, quantities and duties, and the findings (rule, line, severity) added or gone."""
    found: list[dict[str, Any]] = []

    def differ(path: str, before: Any, after: Any) -> None:
        if before != after:
            found.append({"field": path, "original": before, "replayed": after})

    differ("outcome", original["outcome"], replayed["outcome"])
    differ("total_duty", str(original["total_duty"]), str(replayed["total_duty"]))
    before_lines = {line["line"]: _line_view(line) for line in original["lines"]}
    after_lines = {line["line"]: _line_view(line) for line in replayed["lines"]}
    for number in sorted(set(before_lines) | set(after_lines)):
        before, after = before_lines.get(number, {}), after_lines.get(number, {})
        for key in sorted(set(before) | set(after)):
            differ(f"lines[{number}].{key}", before.get(key), after.get(key))

    def keys(verdict: Mapping[str, Any]) -> set[tuple[str, Any, str]]:
        return {(item["rule"], item["line"], item["severity"]) for item in verdict["findings"]}

    for rule, line, severity in sorted(keys(original) - keys(replayed), key=str):
        found.append(
            {
                "field": "findings",
                "original": {"rule": rule, "line": line, "severity": severity},
                "replayed": None,
            }
        )
    for rule, line, severity in sorted(keys(replayed) - keys(original), key=str):
        found.append(
            {
                "field": "findings",
                "original": None,
                "replayed": {"rule": rule, "line": line, "severity": severity},
            }
        )
    return found
