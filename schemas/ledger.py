"""The quota ledger as users read it (SPEC §5): one typed read model for the API, the
dashboard, the metrics and `accord simulate`. The store fills it from the ledger's read
script, which derives every figure with the same arithmetic as the writes; readers
format it, and none of them computes a balance."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict

from schemas.quota import AllocationMode, DrawPoint

PeriodStatus = Literal["scheduled", "open", "critical", "exhausted", "closed"]
EventType = Literal[
    "opened", "carried_over", "allocated", "returned", "lapsed", "critical", "exhausted",
    "reopened", "account_allocated", "account_transferred",
]  # fmt: skip


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SubQuotaFigures(_Frozen):
    name: str
    reserved: int  # the period's own reserve and what the year carried into it
    used: int
    remaining: int


class PermitUtilisation(_Frozen):
    """Units of the permits drawn from a period: issued, used at the border, returned
    (cancelled, expired, or not declared), lapsed (they came back after the quota year),
    and still outstanding (issued − used − returned − lapsed)."""

    issued: int
    used: int
    returned: int
    outstanding: int
    lapsed: int = 0


class PeriodFigures(_Frozen):
    """One period of a quota year as it stands on the date asked. remaining =
    volume + carried_over + returned - used - granted, while the period is current
    (`granted`: promised to declarations by a pro-rata run and not yet taken); a
    closed period's unused units show as carried_forward (or lapsed, at the year's end);
    `lapsed` also counts units drawn from the period that came back after the quota year
    (a permit or declaration ending then), which no period can take any more.
    `available` is volume + carried_over and `net_used` is used - returned: the figures
    a utilisation chart or a threshold is drawn against."""

    start: date
    end: date
    volume: int
    carried_over: int
    available: int
    used: int
    returned: int
    net_used: int
    reserved_left: int
    granted: int  # pro-rata grants written by a run and not yet taken
    remaining: int
    carried_forward: int
    lapsed: int
    status: PeriodStatus
    sub_quotas: tuple[SubQuotaFigures, ...]
    permits: PermitUtilisation | None = None  # quotas drawn at permit issuance


class QuotaEvent(_Frozen):
    """One entry of a quota's append-only history, with the balance of its period before
    and after when it was written; `on` is its ledger date (SPEC §5: a permit's issue date,
    a declaration's acceptance date, the day a cancellation or an expiry was processed,
    the day of a pro-rata run): a read as of a date lists the events dated on or before
    it. `lapsed`: units that came back after their quota year, counted in `period`'s
    lapsed. `reason`: why an administrator recorded a permit issued on an earlier day."""

    at: str
    on: date | None = None
    type: EventType
    quota_id: str
    period: str
    quantity: int
    balance_before: int
    balance_after: int
    sub_quota: str | None = None
    reserved: int = 0
    declaration_id: str | None = None
    permit_number: str | None = None
    business_number: str | None = None
    to_business_number: str | None = None
    reason: str | None = None


class AccountFigures(_Frozen):
    business_number: str
    initial: int
    transfers_in: int
    transfers_out: int
    returned: int
    used: int
    remaining: int


class EventPage(_Frozen):
    events: tuple[QuotaEvent, ...]
    total: int
    next_cursor: str | None


class LedgerYear(_Frozen):
    """A quota year on a date: its periods, the current one, a page of its events and
    the allocation accounts asked for."""

    quota_id: str
    quota_year: int
    as_of: date
    mode: AllocationMode
    drawn_at: DrawPoint
    periods: tuple[PeriodFigures, ...]
    current: PeriodFigures | None
    events: EventPage
    accounts: tuple[AccountFigures, ...] = ()


class PackRef(_Frozen):
    id: str
    version: str
    sha256: str


class QuotaView(_Frozen):
    """`GET /v1/quotas/{id}` (SPEC §5): the quota's definition and its ledger year on a
    date. The brief form (`GET /v1/quotas`) carries the current period only."""

    quota_id: str
    measure: str
    pack: PackRef
    mode: AllocationMode
    drawn_at: DrawPoint
    unit: str
    critical_threshold: str
    quota_year: int
    as_of: date
    period: PeriodFigures | None
    periods: tuple[PeriodFigures, ...] | None = None
    events: EventPage | None = None
    accounts: tuple[AccountFigures, ...] | None = None
    runs_pending: tuple[date, ...] | None = None
