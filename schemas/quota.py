"""Quota periods, quota requests and allocation results.

`rules` derives periods and requests from a pack; `store` applies the requests
atomically and answers with an `Allocation`; `rules.engine.finalize` turns that into
treatments and duties. Quantities of a quota are whole units (vehicles), so they are
integers; money stays `Decimal` elsewhere.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, computed_field

LineAllocationStatus = Literal[
    "allocated",  # every unit in quota
    "split",  # some units in quota, the rest over quota at the over-quota rate
    "over_quota",  # no unit in quota, all at the over-quota rate
    "quota_exhausted",  # did not fit whole and the quota refuses over-quota entries
    "permit_exhausted",  # the permit is not issued (used, cancelled, ...) or holds too few units
    "permit_missing",  # the quota is drawn at permit issuance and the line names no permit
    "vin_already_used",  # a VIN already counted against this quota
    "pending",  # waits for the day's allocation run (daily_pro_rata)
    "not_applied",  # another line failed, so nothing was applied (all or nothing)
]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QuotaPeriod(_Frozen):
    """One period of a quota year, as the pack defines it (before any allocation)."""

    quota_id: str
    year: int  # quota year number, 1 for the first year of the measure
    index: int  # 1-based position of the period in its year
    periods_in_year: int
    start: date
    end: date
    volume: int
    reserved: dict[str, int]  # sub-quota name -> units reserved in this period

    @computed_field  # type: ignore[prop-decorator]
    @property
    def key(self) -> str:
        return self.start.isoformat()


DrawPoint = Literal["permit", "declaration"]
AllocationMode = Literal["fcfs", "daily_pro_rata", "importer_allocation"]


class TermsPeriod(_Frozen):
    """A period as the ledger scripts read it (`key` is its start date)."""

    key: str
    end: str
    index: int
    volume: int
    reserved: dict[str, int]


class QuotaTerms(_Frozen):
    """One quota year as its pack defines it: what every ledger script is given, so that
    the scripts derive balances, carry-over and status from the counts they store."""

    id: str
    mode: AllocationMode
    drawn_at: DrawPoint
    critical_threshold: str  # a decimal fraction, e.g. "0.90"
    year: int
    periods: tuple[TermsPeriod, ...]

    def period_containing(self, day: date) -> TermsPeriod | None:
        text = day.isoformat()
        return next((p for p in self.periods if p.key <= text <= p.end), None)


class QuotaRequest(_Frozen):
    """What one declaration line asks of a quota; built by the engine, applied by the store."""

    quota: QuotaTerms
    line: int
    quantity: int
    sub_quota: str | None  # the sub-quota the line may draw on first (affordable vehicles)
    over_quota: Literal["reject", "rate"]
    permit_number: str | None
    vins: tuple[str, ...] = ()
    account: str | None = None  # the importer's business number, for importer_allocation

    @property
    def quota_id(self) -> str:
        return self.quota.id


class LineAllocation(_Frozen):
    line: int
    quota_id: str
    period: str
    status: LineAllocationStatus
    in_quota: int = 0
    over_quota: int = 0
    sub_quota: str | None = None  # set when reserved units were used
    reserved_used: int = 0


class BalanceChange(_Frozen):
    quota_id: str
    period: str
    before: int
    after: int


class Allocation(_Frozen):
    """The store's answer to a declaration's quota requests: applied whole, or not at all."""

    applied: bool
    pending: bool = False  # waiting for the day's pro-rata allocation run
    cancelled: bool = False  # the declaration was cancelled: nothing was applied
    lines: tuple[LineAllocation, ...] = ()
    balances: tuple[BalanceChange, ...] = ()

    def for_line(self, line: int, quota_id: str) -> LineAllocation | None:
        for item in self.lines:
            if item.line == line and item.quota_id == quota_id:
                return item
        return None


NO_ALLOCATION = Allocation(applied=True)
