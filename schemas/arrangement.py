"""An arrangement as `GET /v1/arrangements/{id}` answers it (SPEC §5): both sides on a
date, each side's measures with their status and rates, and the linkage checks; and
the list `GET /v1/arrangements` answers, each with its parties and dates. The
service builds these from the catalog (service/arrangements.py); the dashboard's
timeline reads the same models."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.ledger import PackRef
from schemas.verdict import Finding

MeasureStatus = Literal["not_yet", "in_force", "lapsed"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceRef(_Frozen):
    title: str
    url: str | None


class Period(_Frozen):
    start: date = Field(serialization_alias="from")
    end: date | None = Field(serialization_alias="to")


class MeasureOnDate(_Frozen):
    """One measure of a side, as of the date."""

    id: str
    title: str
    pack: PackRef
    source: SourceRef
    effective: Period
    status: MeasureStatus
    rates: dict[str, str]
    counterparts: tuple[str, ...]


class SideView(_Frozen):
    jurisdiction: str
    party: str
    measures: tuple[MeasureOnDate, ...]
    in_force: tuple[str, ...]


class ArrangementView(_Frozen):
    arrangement: str
    title: str
    concluded_on: date
    # the day it was announced, where that is not the day it was signed
    announced_on: date | None = None
    source: SourceRef
    as_of: date
    sides: tuple[SideView, ...]
    linkage: tuple[Finding, ...]
    warnings: int


class Party(_Frozen):
    jurisdiction: str
    party: str


class ArrangementSummary(_Frozen):
    """One arrangement of the list: its id, title, parties, the day it was concluded and
    the years its timeline covers."""

    arrangement: str
    title: str
    parties: tuple[Party, ...]
    concluded_on: date
    timeline: Period
    source: SourceRef


class ArrangementList(_Frozen):
    """`GET /v1/arrangements`: every arrangement the catalog holds."""

    arrangements: tuple[ArrangementSummary, ...]


class LinkageEvent(_Frozen):
    """A linkage finding on the first day it holds, within the arrangement's timeline."""

    day: date
    finding: Finding
