"""The audit trail's content: pure functions from an evaluation, its allocation and its
verdict to the (type, data) events that the store chains and writes; `conclude` gives
all of a decided declaration's record at once.

Measure-level checks (WTO, notification) are the same for every declaration of a day
under a pack version: they are kept once, as a record with their inputs, and each trail
names that record by its SHA-256 and lists the rules it fired."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rules.evaluation import Evaluation
from rules.findings import Fired
from rules.verdict import finalize_with_decisions
from schemas.audit import canonical_json
from schemas.declaration import Declaration
from schemas.permit import Permit
from schemas.quota import NO_ALLOCATION, Allocation
from schemas.verdict import Verdict
from schemas.verification import verdict_sha256


@dataclass(frozen=True)
class Concluded:
    """Everything a decided declaration's record holds, from its evaluation and allocation:
    the verdict (and its JSON, built once for the record and the trail's hash), the rule
    decisions taken on the allocation, the trail's events, the measure-check records the
    events name, and the (rule, line) pairs of the decision index."""

    verdict: Verdict
    verdict_json: str
    post: tuple[Fired, ...]
    events: list[tuple[str, dict[str, Any]]]
    check_records: dict[tuple[str, str, str], dict[str, Any]]
    decisions: list[tuple[str, int | None]]


def conclude(
    evaluation: Evaluation, allocation: Allocation | None, permits: Mapping[str, Permit]
) -> Concluded:
    """The pure end of a decision (SPEC §4 steps 6-7 and the trail of §6): what the worker
    writes, and what the tests and the benchmark compare."""
    verdict, post = finalize_with_decisions(evaluation, allocation or NO_ALLOCATION)
    verdict_json = verdict.model_dump_json()
    fired = (*evaluation.measure_findings, *evaluation.fired, *post)
    return Concluded(
        verdict=verdict,
        verdict_json=verdict_json,
        post=post,
        events=decided(evaluation, allocation, verdict, post, permits, verdict_json),
        check_records=measure_check_records(evaluation),
        decisions=[(item.rule.id, item.line) for item in fired],
    )


def received(
    declaration: Declaration, submitted_by: str, body_sha256: str | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """The first events of a trail; `body_sha256` when the caller has it already."""
    return [
        (
            "received",
            {
                "declaration_id": declaration.declaration_id,
                "body_sha256": body_sha256 or declaration.body_sha256(),
                "business_number": declaration.importer.business_number,
                "submitted_by": submitted_by,
            },
        ),
        ("validated", {"schema": "declaration/1", "lines": len(declaration.lines)}),
    ]


def _decision(item: Fired) -> tuple[str, dict[str, Any]]:
    finding = item.finding
    return (
        "rule_decision",
        {
            "rule": item.rule.id,
            "stage": item.rule.stage,
            "severity": item.rule.severity,
            "line": item.line,
            "measure": item.measure.id,
            "pack": item.pack.id,
            "pack_version": item.pack.version,
            "message": finding.message,
            "reference": finding.reference,
            "inputs": dict(item.facts),
        },
    )


def decided(
    evaluation: Evaluation,
    allocation: Allocation | None,
    verdict: Verdict,
    post: tuple[Fired, ...],
    permits: Mapping[str, Permit],
    verdict_json: str | None = None,
) -> list[tuple[str, dict[str, Any]]]:
    """The events that record a decision. `verdict_json` is the verdict as stored, when
    the caller has it already (`verdict.model_dump_json()` otherwise)."""
    events: list[tuple[str, dict[str, Any]]] = [
        (
            "evaluated",
            {
                "as_of": evaluation.as_of.isoformat(),
                "rule_packs": [ref.model_dump() for ref in verdict.rule_packs],
                "measures": {
                    str(line): [item.measure.id for item in applied]
                    for line, applied in evaluation.applied.items()
                },
                # the permits as the evaluation saw them, so that a replay sees them too
                "permits": {
                    number: permit.model_dump(mode="json") for number, permit in permits.items()
                },
                # the loaded exchange rates it was handed, so that a replay has them too
                **(
                    {
                        "exchange_rates": [
                            quote.model_dump(mode="json") for quote in evaluation.rates
                        ]
                    }
                    if evaluation.rates
                    else {}
                ),
            },
        )
    ]
    if evaluation.measure_findings:
        events.append(("measure_checks", {"checks": measure_check_refs(evaluation)}))
    events.extend(_decision(item) for item in evaluation.fired)
    if allocation is not None:
        events.append(("quota_allocation", allocation.model_dump(mode="json")))
    events.extend(_decision(item) for item in post)
    events.append(
        (
            "duties",
            {
                "lines": [
                    {
                        "line": line.line,
                        "treatment": line.treatment,
                        "duties": [duty.model_dump(mode="json") for duty in line.duties],
                        "total_duty": str(line.total_duty),
                    }
                    for line in verdict.lines
                ]
            },
        )
    )
    events.append(
        (
            "verdict",
            {
                "outcome": verdict.outcome,
                "total_duty": str(verdict.total_duty),
                "findings": [finding.rule for finding in verdict.findings],
                # the verdict as served, so that a changed stored verdict fails verification
                "verdict_sha256": verdict_sha256(verdict_json or verdict.model_dump_json()),
            },
        )
    )
    return events


_Records = dict[tuple[str, str, str], dict[str, Any]]
_records: dict[tuple[Any, ...], tuple[_Records, list[dict[str, Any]]]] = {}


def _checks(evaluation: Evaluation) -> tuple[_Records, list[dict[str, Any]]]:
    """The records of an evaluation's measure checks and the trail's references to them,
    built once per day's checks: every declaration of the day applies the same ones, and
    digesting a record (its canonical JSON) each time was a sixth of a trail."""
    key = (
        evaluation.as_of,
        *(
            (item.pack.sha256, item.measure.id, item.rule.id)
            for item in evaluation.measure_findings
        ),
    )
    found = _records.get(key)
    if found is None:
        if len(_records) > 4096:
            _records.clear()
        records = _build_records(evaluation)
        found = _records[key] = (records, _refs(records))
    return found


def measure_check_records(evaluation: Evaluation) -> _Records:
    """The measure-level checks this evaluation applied, each as the record kept once per
    pack version, measure and day: every decision with the arrangement facts it saw."""
    return _checks(evaluation)[0]


def _build_records(evaluation: Evaluation) -> dict[tuple[str, str, str], dict[str, Any]]:
    records: dict[tuple[str, str, str], dict[str, Any]] = {}
    for item in evaluation.measure_findings:
        key = (item.pack.sha256, item.measure.id, evaluation.as_of.isoformat())
        record = records.setdefault(
            key,
            {
                "measure": item.measure.id,
                "pack": item.pack.id,
                "pack_version": item.pack.version,
                "pack_sha256": item.pack.sha256,
                "as_of": evaluation.as_of.isoformat(),
                "inputs": dict(item.facts),
                "decisions": [],
            },
        )
        finding = item.finding
        record["decisions"].append(
            {
                "rule": item.rule.id,
                "severity": item.rule.severity,
                "message": finding.message,
                "reference": finding.reference,
            }
        )
    return records


def measure_check_refs(evaluation: Evaluation) -> list[dict[str, Any]]:
    """What a declaration's trail says of its measure checks: which record, by digest,
    and the rules it fired (the inputs live once in the record, not in every trail)."""
    # copies: the kept references are shared by every trail of the day
    return [{**ref, "rules": [*ref["rules"]]} for ref in _checks(evaluation)[1]]


def _refs(records: _Records) -> list[dict[str, Any]]:
    return [
        {
            "measure": record["measure"],
            "pack": record["pack"],
            "pack_version": record["pack_version"],
            "as_of": record["as_of"],
            "record_sha256": _digest(canonical_json(record)),
            "rules": [decision["rule"] for decision in record["decisions"]],
        }
        for record in records.values()
    ]


@functools.lru_cache(maxsize=4096)
def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
