"""The verdict on a declaration (SPEC §6) and the status a broker polls.

Amounts are `Decimal` and serialise as strings, so no client ever sees a binary
fraction of a cent.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Outcome = Literal["accepted", "rejected", "held"]
Status = Literal["queued", "evaluating", "pending_allocation", "decided", "failed", "cancelled"]
Severity = Literal["info", "warning", "error"]
# no_permit: refused for want of a usable permit (a quota drawn at permit issuance)
Treatment = Literal[
    "in_quota", "over_quota", "split", "not_covered", "exempt", "surtax", "no_permit"
]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Finding(_Frozen):
    rule: str
    severity: Severity
    line: int | None
    message: str
    reference: str
    measure: str
    pack: str
    pack_version: str
    # the pack assumptions the finding rests on (its rule's own, and those of the parameter,
    # rate and quota values the rule reads); empty for settled law and for verdicts stored
    # before findings listed them
    assumptions: tuple[str, ...] = ()


class Duty(_Frozen):
    type: str
    measure: str
    # a fraction of the base (0.061), or for a specific rate an amount per `per` unit
    rate: Decimal
    base: Decimal
    amount: Decimal
    per: str | None = None
    # the provision that imposes the charge; absent on verdicts stored before duties
    # named it
    reference: str | None = None


class ExchangeRate(_Frozen):
    """How the declaration's values were converted: the rate that prevailed on the
    conversion date, the day it was quoted for (`on`), who published it and the
    assumptions the choice rests on. Verdicts stored before rates were loaded data have
    `on` for both dates and no source."""

    currency: str
    into: str
    rate: Decimal
    on: date
    basis: Literal["shipment_date", "accepted_at"]
    reference: str
    conversion_date: date | None = None
    source: str | None = None
    assumptions: tuple[str, ...] = ()


class NotAssessed(_Frozen):
    """A charge that may be owed on the declaration but that Accord does not compute (SPEC
    §4.1): the verdict's total is not the whole amount owing while any is listed."""

    tax: str
    reference: str
    reason: str


class LineQuota(_Frozen):
    quota_id: str
    period: str
    sub_quota: str | None


class LineVerdict(_Frozen):
    line: int
    measures: tuple[str, ...]
    treatment: Treatment
    in_quota_quantity: Decimal
    over_quota_quantity: Decimal
    quota: LineQuota | None
    duties: tuple[Duty, ...]
    total_duty: Decimal


class RulePackRef(_Frozen):
    id: str
    version: str
    sha256: str


class Verdict(_Frozen):
    """What the engine decides: a pure function of declaration, packs and allocation."""

    outcome: Outcome
    as_of: datetime
    rule_packs: tuple[RulePackRef, ...]
    lines: tuple[LineVerdict, ...]
    total_duty: Decimal
    findings: tuple[Finding, ...]
    # set when the declaration's values were in another currency than the jurisdiction's
    exchange_rate: ExchangeRate | None = None
    # empty on verdicts stored before it was listed
    not_assessed: tuple[NotAssessed, ...] = Field(
        default=(),
        description="Charges that may also be owed and that Accord does not compute: the "
        "total is not the whole amount owing while any is listed.",
    )


class AuditSummary(_Frozen):
    events: int
    head: str


class DeclarationStatus(_Frozen):
    """`GET /v1/declarations/{id}`: the status, and the verdict once decided."""

    declaration_id: str
    status: Status
    outcome: Outcome | None = None
    decided_at: datetime | None = None
    rule_packs: tuple[RulePackRef, ...] | None = None
    lines: tuple[LineVerdict, ...] | None = None
    total_duty: Decimal | None = None
    # the currency of total_duty and of every line's amounts (ISO 4217)
    currency: str | None = None
    findings: tuple[Finding, ...] | None = None
    exchange_rate: ExchangeRate | None = None
    not_assessed: tuple[NotAssessed, ...] | None = None
    audit: AuditSummary | None = None
    error: str | None = None
