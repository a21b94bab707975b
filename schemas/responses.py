"""What the API answers (SPEC §5–§7), one model per answer, so that the OpenAPI document
declares every response and the service builds typed values instead of dicts.

The models reuse the contracts the rest of the house speaks (the verdict, the quota
ledger's read model, the permit, the audit event) rather than restating them; field
order follows the JSON the API has always answered, so a model dumped the way the
routes dump it gives the same keys and values, in the same order."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

from schemas.arrangement import Period, SourceRef
from schemas.audit import AuditEvent, CheckpointCover
from schemas.ledger import AccountFigures, PackRef, QuotaView
from schemas.permit import Permit
from schemas.quota import AllocationMode
from schemas.verdict import DeclarationStatus, Finding, Outcome, Severity, Status


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldProblem(_Frozen):
    """One invalid field of a request: where (`lines[0].quantity`) and what is wrong."""

    field: str
    message: str


# A list of invalid fields (422), a sentence on what to do, an object naming what was not
# found or what is left (404, 409) with a `message` saying it in words, or nothing.
ErrorDetail = list[FieldProblem] | str | dict[str, Any] | None


class ErrorAnswer(_Frozen):
    """Every 4xx and 5xx: what went wrong, and its detail."""

    error: str
    detail: ErrorDetail = None


# --- declarations -------------------------------------------------------------------------


class Submission(_Frozen):
    """`POST /v1/declarations`: stored (202), or stored before with the same body (200)."""

    declaration_id: str
    status: Status


class BatchItem(_Frozen):
    """One declaration of a batch, at its position: the answer a single submission would
    have had, with its status code; either `declaration_id` and `status` (200, 202) or
    `error` and `detail` (403, 409, 422)."""

    index: int
    status_code: int
    declaration_id: str | None = None
    status: Status | None = None
    error: str | None = None
    detail: ErrorDetail = None


class BatchAnswer(_Frozen):
    """`POST /v1/declarations/batch`: one item per declaration sent, in order."""

    results: tuple[BatchItem, ...]


class AuditTrail(_Frozen):
    """A declaration's whole audit trail and what its verification proves
    (schemas/verification.py); the dashboard and the export show the same."""

    declaration_id: str
    verified: bool
    authenticated: bool
    authentication: str | None
    head: str
    first_bad_seq: int | None
    problem: str | None
    checkpoint: CheckpointCover | None
    events: tuple[AuditEvent, ...]


class AuditPage(AuditTrail):
    """`GET /v1/declarations/{id}/audit`: a page of the trail's events, from position
    `cursor`; verification covered every event (`verified_events`), not only the page."""

    verified_events: int
    cursor: int
    limit: int
    next_cursor: int | None


class Decision(_Frozen):
    """One decision of a rule: where, when, under which pack version, and the outcome
    of the verdict it went into (null fields: the verdict no longer names it)."""

    declaration_id: str
    line: int | None
    severity: Severity | None
    at: str
    pack_version: str | None
    outcome: Outcome | None


class Decisions(_Frozen):
    """`GET /v1/decisions`: one page of the decisions one rule took, in time order, and
    where the next page starts (None after the last)."""

    rule: str
    decisions: tuple[Decision, ...]
    cursor: int = 0
    limit: int
    next_cursor: int | None


class ReplayDifference(_Frozen):
    """One field that differs between the verdict as decided and as replayed."""

    field: str
    original: Any
    replayed: Any


class Replay(_Frozen):
    """`POST /v1/replay`: the verdict as stored and as decided again (both without
    `as_of`). They stay JSON objects as stored: a verdict written before a field was
    added must show as it was, not with the field filled in by a model."""

    declaration_id: str
    pack_version: str | None
    original: dict[str, Any]
    replayed: dict[str, Any]
    assumed_allocation_lines: tuple[int, ...]
    differences: tuple[ReplayDifference, ...]


class ExportLine(_Frozen):
    """One line of `GET /v1/export` (JSONL): a declaration's body, status and trail; or,
    for one deleted meanwhile, its id and `missing`."""

    declaration_id: str | None = None
    missing: bool | None = None
    declaration: dict[str, Any] | None = None
    status: DeclarationStatus | None = None
    audit: AuditTrail | None = None


# --- permits ------------------------------------------------------------------------------


class PermitView(Permit):
    """`GET /v1/permits/{number}`: the permit as the ledger holds it, and the units a
    declaration may still use it for."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def remaining(self) -> int:
        return super().remaining

    @classmethod
    def of(cls, permit: Permit) -> PermitView:
        return cls.model_validate(permit.model_dump())


# --- quotas -------------------------------------------------------------------------------


class QuotaList(_Frozen):
    """`GET /v1/quotas`: every quota of the current packs, each with its current period."""

    quotas: tuple[QuotaView, ...]


class GrantedPermit(_Frozen):
    """A permit a pro-rata run decided: issued with its share, or refused."""

    permit_number: str
    status: Literal["issued", "refused"]
    quantity: int


class AllocationRunAnswer(_Frozen):
    """`POST /v1/quotas/{id}/runs`: the declarations sent to be evaluated again with
    their grants, and the permits the run decided."""

    quota_id: str
    date: date
    declarations: tuple[str, ...]
    permits: tuple[GrantedPermit, ...]


class AccountsAnswer(_Frozen):
    """`POST /v1/quotas/{id}/allocations`: every importer account of the quota year after
    the change."""

    quota_id: str
    quota_year: int
    accounts: tuple[AccountFigures, ...]


# --- measures -----------------------------------------------------------------------------


class QuotaBrief(_Frozen):
    mode: AllocationMode
    unit: str


class MeasureSummary(_Frozen):
    """A measure in force: its pack, legal source, effective dates, scope, rates on the
    date (as percentages, or an amount per unit) and rule ids."""

    id: str
    title: str
    pack: PackRef
    source: SourceRef
    effective: Period
    # the pack's scope block as the pack states it: its model lives in rules/, a layer
    # above this one, and the pack loader already holds it to that model
    scope: dict[str, Any]
    rates: dict[str, str]
    quota: QuotaBrief | None
    rules: tuple[str, ...]


class MeasureList(_Frozen):
    """`GET /v1/measures`: the measures in force on `as_of`."""

    as_of: date
    measures: tuple[MeasureSummary, ...]


class MeasureChecks(_Frozen):
    """`GET /v1/measures/{id}/checks`: the measure-level checks (WTO, notification,
    linkage) on a date."""

    measure: str
    as_of: date
    in_force: bool
    findings: tuple[Finding, ...]


# --- operations ---------------------------------------------------------------------------


class WhoAmI(_Frozen):
    """`GET /v1/whoami`: the role of the token presented and, for a submitter, the
    importer it is bound to."""

    role: Literal["admin", "auditor", "submitter"]
    business_number: str | None = Field(
        description="the importer a submitter token is bound to; null for admins and auditors"
    )


class Readiness(_Frozen):
    """`GET /readyz`: 200 only when the packs are loaded, Redis takes writes and a worker
    consumes; it needs no token, so its reason names no address and quotes no error."""

    status: Literal["ready", "not ready"]
    reason: str | None = Field(default=None, description="why not, when not ready")


class Health(_Frozen):
    """`GET /healthz`: it needs no token, so it names no address and quotes no error."""

    status: Literal["ok", "degraded", "unavailable"]
    redis: Literal["up", "down"]
    workers: int | None = Field(description="live workers; null when Redis is down")
