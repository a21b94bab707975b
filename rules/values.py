"""What a rule pack is written in: its identifiers, rates, amounts, shares and ISO dates
(each read strictly from its YAML spelling), the sources and assumptions it cites, the
effective ranges of its measures, and its dated parameters (in the manner of OpenFisca's
parameters). rules/measure.py and rules/pack.py build the pack's model on these.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

# LINK-: the linkage of an arrangement, the state of a measure's counterparts (SPEC §4.3)
RULE_ID = r"^(ELIG|QUOTA|DUTY|WTO|NOTIF|LINK)-[A-Z0-9][A-Z0-9.-]*$"
MEASURE_ID = r"^[A-Z0-9][A-Z0-9-]*$"

Severity = Literal["info", "warning", "error"]
Stage = Literal["line", "allocation", "measure"]
ImportType = Literal["commercial", "personal"]
# no_permit: refused for want of a usable permit (a quota drawn at permit issuance)
Treatment = Literal[
    "in_quota", "over_quota", "split", "not_covered", "exempt", "surtax", "no_permit"
]


def percent(rate: Decimal) -> str:
    """0.061 -> "6.1%": a rate as findings, pages and tables show it."""
    text = format((rate * 100).normalize(), "f")
    return f"{text}%"


def percent_value(value: object) -> Decimal:
    """Rates are written as percentages ("6.1%") so that no one reads 0.061 as 6.1."""
    if not isinstance(value, str) or not value.endswith("%"):
        raise ValueError('a rate is written as a percentage string, e.g. "6.1%"')
    try:
        rate = Decimal(value[:-1]) / 100
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number followed by %") from None
    if not rate.is_finite() or rate < 0:
        raise ValueError(f"{value!r} must be a non-negative percentage")
    return rate


def money_value(value: object) -> Decimal:
    if not isinstance(value, str):
        raise ValueError('an amount is written as a decimal string, e.g. "35000.00"')
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a decimal amount") from None
    if not amount.is_finite() or amount <= 0:
        raise ValueError(f"{value!r} must be a positive amount")
    return amount


def _share(value: object) -> Fraction:
    """A sub-quota's share of a year: a percentage ("10%") or an exact fraction ("7/30"),
    so that a share a source states as a fraction is not rounded before it is applied."""
    if isinstance(value, str) and "/" in value:
        numerator, _, denominator = value.partition("/")
        try:
            share = Fraction(int(numerator.strip()), int(denominator.strip()))
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"{value!r} is not a fraction of whole numbers, e.g. 7/30") from None
        if not 0 <= share <= 1:
            raise ValueError(f"{value!r} must be between 0 and 1")
        return share
    share = Fraction(percent_value(value))
    if share > 1:
        raise ValueError(f"{value!r} must be at most 100%")
    return share


Rate = Annotated[Decimal, BeforeValidator(percent_value)]
Share = Annotated[Fraction, BeforeValidator(_share)]
Money = Annotated[Decimal, BeforeValidator(money_value)]
IsoDate = Annotated[date, Field(strict=True)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Source(Strict):
    title: str
    url: str | None = None


class Assumption(Strict):
    text: str


class Effective(Strict):
    start: IsoDate = Field(alias="from")
    end: IsoDate | None = Field(default=None, alias="to")
    # a range no published text settles (a repeal date taken from a secondary source):
    # every finding of the measure lists it
    assumption: str | None = None

    def contains(self, day: date) -> bool:
        return self.start <= day and (self.end is None or day <= self.end)

    def overlaps(self, other: Effective) -> bool:
        ends_before = self.end is not None and self.end < other.start
        starts_after = other.end is not None and other.end < self.start
        return not (ends_before or starts_after)


ParameterType = Literal["date", "rate", "number", "text", "text_list", "boolean"]


class ParameterValue(Strict):
    """One dated value of a parameter, with the source that gives it; a value no source
    gives (a control of Accord's own) has no source, only the assumption that sets it."""

    value: Any
    source: str | None = None
    assumption: str | None = None

    @model_validator(mode="after")
    def _sourced_or_assumed(self) -> ParameterValue:
        if self.source is None and self.assumption is None:
            raise ValueError("a parameter value needs its 'source', or its 'assumption'")
        return self


class Parameter(Strict):
    """A value the law sets and may change, in the manner of OpenFisca's parameters: each
    value applies from its date until the day before the next one."""

    description: str
    type: ParameterType
    values: dict[IsoDate, ParameterValue] = Field(min_length=1)

    def typed(self, value: Any) -> Any:
        """The value as rules read it (a rate as a fraction); ValueError if it is not of
        the parameter's type."""
        kind = self.type
        if kind == "rate":
            return percent_value(value)
        checks = {
            "date": isinstance(value, date),
            "number": isinstance(value, int) and not isinstance(value, bool),
            "text": isinstance(value, str),
            "boolean": isinstance(value, bool),
            "text_list": isinstance(value, list)
            and bool(value)
            and all(isinstance(item, str) for item in value),
        }
        if not checks[kind]:
            raise ValueError(f"{value!r} is not a {kind}")
        return tuple(value) if kind == "text_list" else value

    def periods(self) -> list[tuple[date, date | None, Any]]:
        """(first day, last day or None, typed value) for each dated value, in date order."""
        starts = sorted(self.values)
        ends: list[date | None] = [day - timedelta(days=1) for day in starts[1:]]
        ends.append(None)
        return [
            (start, end, self.typed(self.values[start].value))
            for start, end in zip(starts, ends, strict=True)
        ]

    def entry_on(self, day: date) -> ParameterValue | None:
        """The dated value in force on `day`, None before the first date."""
        known = [start for start in self.values if start <= day]
        return self.values[max(known)] if known else None

    def value_on(self, day: date) -> Any:
        entry = self.entry_on(day)
        return None if entry is None else self.typed(entry.value)
