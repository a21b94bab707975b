"""Rule packs: the data model and its strict loader.

A pack is one YAML file: an id, a version, its legal sources, its assumptions and
its measures; each measure has effective dates, a scope, rates, an optional quota,
the facts of the arrangement it implements, and its rules. Loading is strict, in
the manner of OpenFisca's parameter loader: duplicate keys, unknown keys, non-ISO
dates, unknown source or assumption references, bad conditions and overlapping
effective ranges are errors that name the file and the key. The pack's content
hash (SHA-256 of the file bytes) identifies the exact rules a verdict used.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from rules.errors import PackError
from schemas.declaration import Jurisdiction

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


def _percent(value: object) -> Decimal:
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


def _money(value: object) -> Decimal:
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
    share = Fraction(_percent(value))
    if share > 1:
        raise ValueError(f"{value!r} must be at most 100%")
    return share


Rate = Annotated[Decimal, BeforeValidator(_percent)]
Share = Annotated[Fraction, BeforeValidator(_share)]
Money = Annotated[Decimal, BeforeValidator(_money)]
IsoDate = Annotated[date, Field(strict=True)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Source(_Strict):
    title: str
    url: str | None = None


class Assumption(_Strict):
    text: str


class Effective(_Strict):
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


class Scope(_Strict):
    origins: tuple[Annotated[str, Field(pattern=r"^[A-Z]{2}$")], ...]
    # a chapter ("03"), a heading ("0303") or a subheading and finer
    tariff_items: tuple[Annotated[str, Field(pattern=r"^\d{2}(\d{2}(\.?\d{2}){0,3})?$")], ...]
    import_types: tuple[ImportType, ...] = ("commercial", "personal")
    # Chapters of special classification (98, 99) whose lines the scope matches by their
    # underlying classification (the line's `underlying_tariff_item`): a surtax on goods of
    # Chapters 72-76 reaches the same goods declared under a Chapter 99 item
    underlying_chapters: tuple[Literal["98", "99"], ...] = ()
    # `foreign`: in force only on the lines of declarations whose values are in another
    # currency than the jurisdiction's (a measure that converts them)
    currency: Literal["any", "foreign"] = "any"
    # the scope itself may rest on an assumption (a list no public source settles); the
    # findings of the measure's line rules then list it
    assumption: str | None = None
    _prefixes: tuple[str, ...] = PrivateAttr(default=())

    def model_post_init(self, context: Any) -> None:
        # matched for every line of every declaration: normalise once
        self._prefixes = tuple(item.replace(".", "") for item in self.tariff_items)

    def prefixes(self) -> tuple[str, ...]:
        return self._prefixes


ParameterType = Literal["date", "rate", "number", "text", "text_list", "boolean"]


class ParameterValue(_Strict):
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


class Parameter(_Strict):
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
            return _percent(value)
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


class RateSpec(_Strict):
    """A rate: a percentage with its source, or `param:` a dated rate parameter, or a
    specific rate: an `amount` in the jurisdiction's currency `per` unit (UN/ECE Rec. 20)."""

    rate: Rate | None = None
    param: str | None = None
    amount: Money | None = None
    per: Annotated[str, Field(pattern=r"^[A-Z0-9]{2,3}$")] | None = None
    source: str | None = None
    assumption: str | None = None

    @property
    def specific(self) -> bool:
        return self.amount is not None

    @model_validator(mode="after")
    def _one_value(self) -> RateSpec:
        given = [self.rate is not None, self.param is not None, self.amount is not None]
        if sum(given) != 1:
            raise ValueError(
                "a rate has one of 'rate' (with its 'source'), 'param', or 'amount' and 'per'"
            )
        if (self.amount is None) != (self.per is None):
            raise ValueError("a specific rate has both 'amount' and 'per' (the unit)")
        if self.param is None and self.source is None:
            raise ValueError("a rate given as a percentage or an amount needs its 'source'")
        if self.param is not None and (self.source or self.assumption):
            raise ValueError("a rate read from a parameter takes its source from the parameter")
        return self


# What a duty is charged on: the line's value for duty; its in-quota or over-quota part,
# apportioned by units; its units (a specific rate, so much per unit); or the value for
# duty plus every duty the line owes before this one (the base of a tax on the duty-paid
# value, e.g. GST under Excise Tax Act s.215). Duties on `value_plus_duties` are computed
# after all others, in pack and rule order.
DutyBase = Literal["line", "in_quota", "over_quota", "units", "value_plus_duties"]
CUMULATIVE_BASES: frozenset[str] = frozenset({"value_plus_duties"})


class DutyEffect(_Strict):
    type: str
    rate: str
    base: DutyBase = "line"
    # The type of another duty of the line whose rate grosses this one up: the amount is
    # base x rate x (1 + that duty's rate). MOFCOM's anti-dumping deposits are computed so
    # (value x deposit rate x (1 + import VAT rate)), the deposit standing in for the duty
    # and the VAT that duty would bear. Such a duty comes after all others, so it is never
    # in the base of a tax on the value plus duties.
    gross_up: str | None = None


class Then(_Strict):
    treatment: Treatment | None = None
    duties: tuple[DutyEffect, ...] = ()
    claim_quota: bool = False
    outcome: Literal["reject", "hold"] | None = None


class Rule(_Strict):
    id: Annotated[str, Field(pattern=RULE_ID)]
    stage: Stage = "line"
    severity: Severity
    when: dict[str, Any] = Field(default_factory=dict)
    then: Then = Then()
    message: str
    # the legal source of what the finding says; a rule that applies a control of Accord's
    # own, which no text sets, has none and names its assumption instead
    source: str | None = None
    reference: str
    assumption: str | None = None
    # further assumptions the rule's finding rests on, when one is not all
    assumptions: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _sourced_or_assumed(self) -> Rule:
        if self.source is None and self.assumption is None:
            raise ValueError("a rule needs its 'source', or its 'assumption' if no text sets it")
        return self

    @property
    def outcome(self) -> Literal["reject", "hold"] | None:
        """Errors on a line reject the declaration unless the rule says otherwise;
        measure-level checks never reject a declaration, they can only hold it."""
        if self.then.outcome is not None:
            return self.then.outcome
        if self.severity == "error" and self.stage != "measure":
            return "reject"
        return None


class SubQuota(_Strict):
    name: str
    max_fob_unit_price: Money
    # by quota year: "10%" or an exact fraction, "7/30"
    shares: dict[int, Share]
    source: str
    assumption: str | None = None

    def share(self, quota_year: int) -> Fraction:
        """The share for a quota year; a year not listed keeps the last listed share."""
        known = [year for year in self.shares if year <= quota_year]
        return self.shares[max(known)] if known else Fraction(0)


class Permits(_Strict):
    required_for: tuple[ImportType, ...] = ("commercial",)
    validity_days: int = Field(default=60, ge=1, le=3660)
    # an unused permit's units return this many days after its last valid day, so that an
    # accounting declaration filed after release, and accepted within the validity, still
    # finds the permit it was released under
    grace_days: int = Field(default=0, ge=0, le=366)
    source: str
    assumption: str | None = None
    # further assumptions on how permits are issued and used (validity counting,
    # application window, eligibility): shown on every finding about a line's permit
    assumptions: tuple[str, ...] = ()

    def all_assumptions(self) -> tuple[str, ...]:
        return (*((self.assumption,) if self.assumption else ()), *self.assumptions)


class Quota(_Strict):
    unit: str
    mode: Literal["fcfs", "daily_pro_rata", "importer_allocation"] = "fcfs"
    # where units are drawn (SPEC §5): at permit issuance (Canada) or at declarations
    drawn_at: Literal["permit", "declaration"] = "declaration"
    year_start: Annotated[str, Field(pattern=r"^\d{2}-\d{2}$")]
    base_volume: int = Field(gt=0, strict=True)
    growth: Rate = Decimal(0)
    periods_per_year: Literal[1, 2, 3, 4, 6, 12] = 1
    sub_quotas: tuple[SubQuota, ...] = ()
    over_quota: str = "reject"
    critical_threshold: Rate = Decimal("0.90")
    permits: Permits | None = None
    source: str
    assumption: str | None = None
    # further assumptions on the quota's administration (e.g. its allocation mode after a
    # date no published policy covers): shown with `assumption` on the quota's findings
    assumptions: tuple[str, ...] = ()

    def all_assumptions(self) -> tuple[str, ...]:
        return (*((self.assumption,) if self.assumption else ()), *self.assumptions)

    @field_validator("year_start")
    @classmethod
    def _real_day(cls, value: str) -> str:
        """A quota year starts on a day every year has (so not 29 February)."""
        month, day = (int(part) for part in value.split("-"))
        if not 1 <= month <= 12 or not 1 <= day <= 28:
            raise ValueError("year_start is MM-DD with a day from 1 to 28")
        return value


class Notification(_Strict):
    date: IsoDate
    kind: Literal["informal", "intent_to_negotiate", "full_text"]
    what: str
    source: str


class Arrangement(_Strict):
    """What the measure-level WTO, notification and linkage checks look at."""

    # A measure taken alone (a surtax under Customs Tariff s.53) is not an arrangement:
    # it has WTO facts, but no classification for the CUSMA notification checks.
    measure_kind: Literal["arrangement", "unilateral_surtax"] = "arrangement"
    classification: Literal["sectoral_arrangement", "fta_non_market"] | None = None
    classification_assumption: str | None = None
    partner: str
    negotiations_began_on: IsoDate | None = None
    signed_on: IsoDate | None = None
    published_on: IsoDate | None = None
    publication: str | None = None
    us_notifications: tuple[Notification, ...] = ()
    wto_licensing_notified_on: IsoDate | None = None
    # None where the pack records no bound rate: the bound-rate checks then do not apply
    bound_rate: Rate | None = None
    bound_rate_assumption: str | None = None
    country_specific: bool = False
    bilateral_cap: bool = False
    claimed_basis: str = "none recorded"
    # The other party's measures this one was exchanged for, by id (in any pack, of any
    # jurisdiction; the catalog checks that each names a measure it holds). The linkage
    # checks state, as of their date, which of them are in force.
    counterparts: tuple[Annotated[str, Field(pattern=MEASURE_ID)], ...] = ()
    counterparts_source: str | None = None
    counterparts_assumption: str | None = None
    # What this measure concedes under the arrangement, and whether its end withdraws the
    # concession. A concession that is a ceiling (an anti-dumping duty of at most 5.9%) is
    # still honoured when the duty expires: the other side's linkage checks then report the
    # expiry as information, not as a lapsed counterpart.
    concession: str | None = None
    expiry_withdraws_concession: bool = True

    @model_validator(mode="after")
    def _classified_if_arrangement(self) -> Arrangement:
        """An arrangement is classified (the notification checks read it); a unilateral
        surtax is not an arrangement and carries no classification."""
        if self.measure_kind == "arrangement" and self.classification is None:
            raise ValueError("an arrangement needs a classification")
        if self.measure_kind == "unilateral_surtax" and self.classification is not None:
            raise ValueError("a unilateral surtax is not an arrangement: drop classification")
        return self


class RemissionItem(_Strict):
    """One item of a remission order's schedule: the goods it lists and the period in
    which their importations are remitted."""

    item: Annotated[str, Field(pattern=r"^[A-Z0-9][A-Z0-9.-]*$")]
    tariff_items: tuple[Annotated[str, Field(pattern=r"^\d{4}(\.?\d{2}){0,3}$")], ...]
    effective: Effective
    source: str
    assumption: str | None = None

    # The schedule the item is in (a claim names it: item numbers repeat across schedules),
    # what column 3 describes, and for a company item the business number (BN9) of
    # column 1. `importer_read: false` marks an item whose column 1 the record read does
    # not show: it can never be verified, so it never remits.
    schedule: Literal[1, 2] | None = None
    description: str | None = None
    business_number: Annotated[str, Field(pattern=r"^\d{9}$")] | None = None
    importer_read: bool = True

    def covers(self, tariff_item: str) -> bool:
        return tariff_item.startswith(tuple(item.replace(".", "") for item in self.tariff_items))

    @property
    def label(self) -> str:
        """How findings name the item: "Schedule 2, item 9.01", or "3" without a schedule."""
        return f"Schedule {self.schedule}, item {self.item}" if self.schedule else self.item


class Remission(_Strict):
    """A remission order that relieves the measure's charges for the goods of its
    schedules: a claim names the order (one of its `citations`) and the scheduled item."""

    order: str
    citations: tuple[str, ...] = Field(min_length=1)
    items: tuple[RemissionItem, ...] = Field(min_length=1)
    source: str
    assumption: str | None = None

    def status(
        self, claim: str | None, tariff_item: str, day: date, business_number: str = ""
    ) -> tuple[str, str | None]:
        """(what the claim obtains, the scheduled item it names): none, unknown_order,
        no_item, no_schedule, unlisted_item, not_this_good, out_of_period, unverified,
        other_importer or granted. A claim reads "<order> [schedule <n>] item <item>",
        upper-cased and spaces collapsed; the schedule is required once the order's items
        name theirs. `business_number` is the importer's (its first nine digits count)."""
        if claim is None:
            return "none", None
        order, sep, item = claim.rpartition(" ITEM ")
        if not sep:
            order, item = claim, ""
        order, sep, schedule_text = order.rpartition(" SCHEDULE ")
        if not sep:
            order, schedule_text = schedule_text, ""
        if order.strip() not in self.citations:
            return "unknown_order", None
        item = item.strip()
        if not item:
            return "no_item", None
        schedule = int(schedule_text) if schedule_text.strip().isdecimal() else None
        if schedule is None and any(entry.schedule for entry in self.items):
            return "no_schedule", item
        listed = [entry for entry in self.items if (entry.schedule, entry.item) == (schedule, item)]
        if not listed:
            return "unlisted_item", f"Schedule {schedule}, item {item}" if schedule else item
        label = listed[0].label
        goods = [entry for entry in listed if entry.covers(tariff_item)]
        if not goods:
            return "not_this_good", label
        dated = [entry for entry in goods if entry.effective.contains(day)]
        if not dated:
            return "out_of_period", label
        if not all(entry.importer_read for entry in dated):
            return "unverified", label
        bound = {entry.business_number for entry in dated if entry.business_number}
        if bound and business_number[:9] not in bound:
            return "other_importer", label
        return "granted", label


class Measure(_Strict):
    id: Annotated[str, Field(pattern=MEASURE_ID)]
    title: str
    source: str
    effective: Effective
    scope: Scope
    rates: dict[str, RateSpec]
    quota: Quota | None = None
    arrangement: Arrangement | None = None
    # Measures of the same pack that this one suspends: on a line in its scope, while it is
    # in force, they do not apply (a tariff not levied for a while on some of its goods).
    suspends: tuple[Annotated[str, Field(pattern=MEASURE_ID)], ...] = ()
    remission: Remission | None = None
    rules: tuple[Rule, ...]
    _parameters: dict[str, Parameter] = PrivateAttr(default_factory=dict)

    def rate_entry(self, name: str, day: date) -> tuple[Decimal, str | None]:
        """A rate in force on `day` and the assumption it rests on, if any."""
        spec = self.rates[name]
        if spec.amount is not None:
            return spec.amount, spec.assumption
        if spec.rate is not None:
            return spec.rate, spec.assumption
        entry = self._parameters[str(spec.param)].entry_on(day)
        if entry is None:
            raise ValueError(f"rate {name!r} of {self.id} has no value on {day}")
        return _percent(entry.value), entry.assumption

    def rate_on(self, name: str, day: date) -> Decimal:
        return self.rate_entry(name, day)[0]

    def rate_text(self, name: str, day: date) -> str:
        """A rate as a message shows it: "6.1%", or "100.00 per NMB"."""
        spec = self.rates[name]
        if spec.amount is not None:
            return f"{spec.amount} per {spec.per}"
        return percent(self.rate_on(name, day))

    def in_scope(
        self, tariff_item: str, origin: str, import_type: str, underlying: str | None = None
    ) -> bool:
        """Whether a line's goods are the measure's: by their tariff item, or for a line of
        a chapter the scope reaches by underlying classification, by that classification."""
        scope = self.scope
        if origin not in scope.origins or import_type not in scope.import_types:
            return False
        return self.goods_item(tariff_item, underlying).startswith(scope.prefixes())

    def goods_item(self, tariff_item: str, underlying: str | None = None) -> str:
        """The classification the measure reads a line's goods by: the underlying one for a
        line of a chapter its scope reaches that way (a Chapter 99 line of steel is steel
        to the surtax and to its remission schedule alike), else the line's tariff item."""
        scope = self.scope
        if (
            underlying is not None
            and tariff_item[:2] in scope.underlying_chapters
            and not tariff_item.startswith(scope.prefixes())
        ):
            return underlying
        return tariff_item


def _exchange_rate(value: object) -> Decimal:
    if not isinstance(value, str):
        raise ValueError('an exchange rate is written as a decimal string, e.g. "1.3979"')
    return _money(value)


class ExchangeRates(_Strict):
    """Dated exchange rates into the jurisdiction's currency (`into`): for each currency,
    the rate of each day it is known for. A day not listed has no rate: the engine never
    carries a rate to another day."""

    into: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    rates: dict[
        Annotated[str, Field(pattern=r"^[A-Z]{3}$")],
        dict[IsoDate, Annotated[Decimal, BeforeValidator(_exchange_rate)]],
    ]
    source: str
    assumption: str | None = None

    def rate_on(self, currency: str, day: date) -> Decimal | None:
        return self.rates.get(currency, {}).get(day)


class NotAssessed(_Strict):
    """A charge that may be owed on a line of the pack's measures but that Accord does not
    compute, listed on the verdicts it may concern so that nobody reads the total as the
    whole amount owing. It concerns a verdict whose lines the pack's measures apply to and
    that match its tariff items (prefixes; none: every such line), import types and dates."""

    tax: str
    reference: str
    reason: str
    source: str
    # chapters ("72"), headings or tariff items, matched as prefixes
    tariff_items: tuple[Annotated[str, Field(pattern=r"^\d{2}(\d{2}(\.?\d{2}){0,3})?$")], ...] = ()
    import_types: tuple[ImportType, ...] = ("commercial", "personal")
    effective: Effective | None = None
    _prefixes: tuple[str, ...] = PrivateAttr(default=())

    def model_post_init(self, context: Any) -> None:
        self._prefixes = tuple(item.replace(".", "") for item in self.tariff_items)

    def concerns(
        self, tariff_item: str, import_type: str, day: date, underlying: str | None = None
    ) -> bool:
        """Whether the charge may be owed on a line: by its tariff item, or for a line under
        a Chapter 98 or 99 item, by the classification its goods otherwise have."""
        return (
            import_type in self.import_types
            and (self.effective is None or self.effective.contains(day))
            and (
                not self._prefixes
                or tariff_item.startswith(self._prefixes)
                or (underlying is not None and underlying.startswith(self._prefixes))
            )
        )


class CurrencyConversion(_Strict):
    """How values in another currency are converted into the jurisdiction's (`into`). The
    rates themselves are operator data, loaded into the store (schemas/rates.py); the pack
    says which loaded quote prevails on a conversion date, and on what that rests.

    `rates: daily`: the latest quote on or before the conversion date
    (`prevailing: quoted_on_or_before`), or strictly before it (`quoted_before`), no
    older than `max_days_back` days before that; `rates: monthly`: the quote of the
    conversion date's month. The conversion date is the date of direct shipment when
    `conversion_date: shipment_date` and the declaration gives one, else the date of
    acceptance (`date_assumption` then says why that may serve)."""

    into: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    rates: Literal["daily", "monthly"]
    conversion_date: Literal["shipment_date", "accepted_at"]
    prevailing: Literal["quoted_on_or_before", "quoted_before"] = "quoted_on_or_before"
    max_days_back: Annotated[int, Field(ge=0, le=31)] = 0
    source: str  # the law that says how values are converted
    rates_source: str  # who publishes the rates the operator loads
    assumption: str | None = None  # on which `prevailing` and `max_days_back` rest
    date_assumption: str | None = None  # on which acceptance as conversion date rests


class PackBody(_Strict):
    pack: Annotated[str, Field(pattern=MEASURE_ID)]
    version: str
    title: str
    # whose customs the pack's measures are applied by: it applies to declarations made there
    jurisdiction: Jurisdiction
    sources: dict[str, Source]
    assumptions: dict[str, Assumption] = Field(default_factory=dict)
    parameters: dict[str, Parameter] = Field(default_factory=dict)
    # pack versions before rates were operator data carried a table of their own; they
    # still load, so that their verdicts replay
    exchange_rates: ExchangeRates | None = None
    currency_conversion: CurrencyConversion | None = None
    measures: tuple[Measure, ...]
    # what the pack's measures leave unassessed (SPEC §4.1, "the amount owing")
    not_assessed: tuple[NotAssessed, ...] = ()

    def model_post_init(self, context: Any) -> None:
        # a measure reads its parameter rates through the pack's parameters
        for measure in self.measures:
            measure._parameters = self.parameters


class Pack:
    """A loaded pack: its body, where it came from, its text and the text's hash (a pack
    changed by `accord simulate`'s overrides has no file, only its text)."""

    def __init__(self, body: PackBody, path: str, text: bytes) -> None:
        self.body = body
        self.path = path
        self.text = text
        self.sha256 = hashlib.sha256(text).hexdigest()

    @property
    def id(self) -> str:
        return self.body.pack

    @property
    def version(self) -> str:
        return self.body.version

    @property
    def measures(self) -> tuple[Measure, ...]:
        return self.body.measures

    def __repr__(self) -> str:
        return f"Pack({self.id}@{self.version} {self.sha256[:12]})"


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML silently keeps the last of two equal keys; a rule pack must not."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, bool):
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"key {key_node.value!r} reads as a boolean in YAML; quote it",
                key_node.start_mark,
            )
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _key_path(loc: Iterable[int | str], data: Any) -> str:
    """Turn a pydantic location into a readable key path, naming measures and rules by id."""
    parts: list[str] = []
    node = data
    for item in loc:
        if isinstance(item, int) and isinstance(node, list) and item < len(node):
            node = node[item]
            label = node.get("id") if isinstance(node, dict) else None
            parts.append(f"[{label}]" if label else f"[{item}]")
        else:
            node = node.get(item) if isinstance(node, dict) else None
            parts.append(f".{item}")
    return "".join(parts).lstrip(".")


def parse_pack(text: bytes, path: str) -> Pack:
    """Parse and check one pack; every problem raises `PackError` naming file and key."""
    body = load_strict(text, path, PackBody, "a rule pack")
    _check_references(body, path)
    return Pack(body, path, text)


M = TypeVar("M", bound=BaseModel)


def load_strict(text: bytes, path: str, model: type[M], what: str) -> M:
    """A YAML document read strictly (duplicate keys refused) into `model`; every problem
    raises `PackError` naming the file and the key. Packs and arrangements both use it."""
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "document"
        problem = getattr(exc, "problem", None) or str(exc)
        raise PackError(path, where, str(problem)) from None
    except (ValueError, TypeError) as exc:  # e.g. 2026-13-01 read as a date, a list as a key
        raise PackError(path, "document", f"unreadable value: {exc}") from None
    if not isinstance(data, dict):
        raise PackError(path, "document", f"{what} is a mapping")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise PackError(path, _key_path(first["loc"], data), first["msg"]) from None


def _check_references(body: PackBody, path: str) -> None:
    # the compiler owns the condition language, rules.facts the facts it may name
    from rules.compiler import check_condition
    from rules.facts import DATE_FACT, ConditionCheck, declared_facts

    seen_rules: set[str] = set()
    by_measure: dict[str, list[Measure]] = {}

    def source(key: str, ref: str) -> None:
        if ref not in body.sources:
            raise PackError(path, key, f"unknown source {ref!r}")

    def assumption(key: str, ref: str | None) -> None:
        if ref is not None and ref not in body.assumptions:
            raise PackError(path, key, f"unknown assumption {ref!r}")

    for name, parameter in body.parameters.items():
        where = f"parameters.{name}"
        if not re.fullmatch(MEASURE_ID, name):
            raise PackError(path, where, "a parameter name is upper case, digits and '-'")
        for day, entry in parameter.values.items():
            key = f"{where}.values.{day}"
            if entry.source is not None:
                source(f"{key}.source", entry.source)
            assumption(f"{key}.assumption", entry.assumption)
            try:
                parameter.typed(entry.value)
            except ValueError as exc:
                raise PackError(path, f"{key}.value", str(exc)) from None

    for index, charge in enumerate(body.not_assessed):
        source(f"not_assessed[{index}].source", charge.source)

    if body.exchange_rates is not None:
        source("exchange_rates.source", body.exchange_rates.source)
        assumption("exchange_rates.assumption", body.exchange_rates.assumption)
    conversion = body.currency_conversion
    if conversion is not None:
        source("currency_conversion.source", conversion.source)
        source("currency_conversion.rates_source", conversion.rates_source)
        assumption("currency_conversion.assumption", conversion.assumption)
        assumption("currency_conversion.date_assumption", conversion.date_assumption)

    for measure in body.measures:
        where = f"measures[{measure.id}]"
        source(f"{where}.source", measure.source)
        assumption(f"{where}.effective.assumption", measure.effective.assumption)
        assumption(f"{where}.scope.assumption", measure.scope.assumption)
        if measure.remission is not None:
            remission = measure.remission
            source(f"{where}.remission.source", remission.source)
            assumption(f"{where}.remission.assumption", remission.assumption)
            for scheduled in remission.items:
                key = f"{where}.remission.items[{scheduled.item}]"
                source(f"{key}.source", scheduled.source)
                assumption(f"{key}.assumption", scheduled.assumption)
        if measure.effective.end is not None and measure.effective.end < measure.effective.start:
            raise PackError(path, f"{where}.effective", "'to' is before 'from'")
        for earlier in by_measure.get(measure.id, []):
            if earlier.effective.overlaps(measure.effective):
                raise PackError(path, f"{where}.effective", "overlapping effective ranges")
        by_measure.setdefault(measure.id, []).append(measure)
        for name, spec in measure.rates.items():
            if spec.source is not None:
                source(f"{where}.rates.{name}.source", spec.source)
            assumption(f"{where}.rates.{name}.assumption", spec.assumption)
            if spec.param is not None:
                rate_parameter = body.parameters.get(spec.param)
                if rate_parameter is None or rate_parameter.type != "rate":
                    raise PackError(
                        path, f"{where}.rates.{name}.param", f"no rate parameter {spec.param!r}"
                    )
                if rate_parameter.entry_on(measure.effective.start) is None:
                    raise PackError(
                        path,
                        f"{where}.rates.{name}.param",
                        f"{spec.param} has no value on the measure's first day "
                        f"{measure.effective.start}",
                    )
        if measure.quota is not None:
            quota = measure.quota
            source(f"{where}.quota.source", quota.source)
            for name in quota.all_assumptions():
                assumption(f"{where}.quota.assumptions", name)
            if quota.over_quota != "reject" and quota.over_quota not in measure.rates:
                raise PackError(
                    path, f"{where}.quota.over_quota", "must be 'reject' or the name of a rate"
                )
            if quota.permits is not None:
                source(f"{where}.quota.permits.source", quota.permits.source)
                for name in quota.permits.all_assumptions():
                    assumption(f"{where}.quota.permits.assumptions", name)
            if quota.drawn_at == "permit" and (
                quota.permits is None or quota.over_quota != "reject"
            ):
                raise PackError(
                    path,
                    f"{where}.quota.drawn_at",
                    "a quota drawn at permit issuance needs a permits block and over_quota: "
                    "reject (no permit, no entry)",
                )
            for sub in quota.sub_quotas:
                source(f"{where}.quota.sub_quotas[{sub.name}].source", sub.source)
                assumption(f"{where}.quota.sub_quotas[{sub.name}].assumption", sub.assumption)
        if measure.arrangement is not None:
            arrangement = measure.arrangement
            assumption(f"{where}.arrangement", arrangement.classification_assumption)
            assumption(f"{where}.arrangement", arrangement.bound_rate_assumption)
            for index, note in enumerate(arrangement.us_notifications):
                source(f"{where}.arrangement.us_notifications[{index}].source", note.source)
            if arrangement.counterparts_source is not None:
                source(f"{where}.arrangement.counterparts_source", arrangement.counterparts_source)
            assumption(f"{where}.arrangement", arrangement.counterparts_assumption)
            if measure.id in arrangement.counterparts:
                raise PackError(
                    path,
                    f"{where}.arrangement.counterparts",
                    "a measure is not its own counterpart",
                )
        pack_measures = {each.id for each in body.measures}
        for suspended in measure.suspends:
            if suspended == measure.id or suspended not in pack_measures:
                raise PackError(
                    path,
                    f"{where}.suspends",
                    f"{suspended!r} is not another measure of this pack",
                )
        for rule in measure.rules:
            key = f"{where}.rules[{rule.id}]"
            if rule.id in seen_rules:
                raise PackError(path, key, "duplicate rule id")
            seen_rules.add(rule.id)
            if rule.source is not None:
                source(f"{key}.source", rule.source)
            assumption(f"{key}.assumption", rule.assumption)
            for name in rule.assumptions:
                assumption(f"{key}.assumptions", name)
            check_condition(rule.when, path, f"{key}.when", body.parameters, DATE_FACT[rule.stage])
            check = ConditionCheck(
                declared_facts(rule.stage, measure), body.parameters, path, rule.stage
            )
            check.condition(rule.when, f"{key}.when")
            check.template(rule.message, f"{key}.message")
            check.template(rule.reference, f"{key}.reference")
            _check_duties(rule, measure, path, key)
            if rule.stage == "measure" and measure.arrangement is None:
                raise PackError(path, key, "a measure-stage rule needs the measure's arrangement")


def check_counterparts(packs: Iterable[Pack], awaited: Iterable[str] = ()) -> None:
    """Every counterpart a measure records names a measure of one of the packs, or one an
    arrangement awaits (a measure of the other party no loaded pack defines yet; the
    linkage checks report it as not loaded)."""
    packs = list(packs)
    known = {measure.id for pack in packs for measure in pack.measures} | set(awaited)
    for pack in packs:
        for measure in pack.measures:
            arrangement = measure.arrangement
            for counterpart in arrangement.counterparts if arrangement else ():
                if counterpart not in known:
                    raise PackError(
                        pack.path,
                        f"measures[{measure.id}].arrangement.counterparts",
                        f"no loaded pack has a measure {counterpart!r}",
                    )


def _check_duties(rule: Rule, measure: Measure, path: str, key: str) -> None:
    """Each duty names a rate of its measure whose kind fits its base: a specific rate
    (an amount per unit) is charged on units, in the unit of the rate; a percentage on a
    value. A duty on the value plus duties comes after the rule's other duties."""
    seen_cumulative = False
    for index, duty in enumerate(rule.then.duties):
        where = f"{key}.then.duties[{index}]"
        spec = measure.rates.get(duty.rate)
        if spec is None:
            raise PackError(path, f"{key}.then.duties", f"unknown rate {duty.rate!r}")
        if spec.specific != (duty.base == "units"):
            raise PackError(
                path,
                f"{where}.base",
                f"rate {duty.rate!r} is {'an amount per unit' if spec.specific else 'a percentage'}"
                f"; base {duty.base!r} needs {'a percentage' if spec.specific else 'an amount per unit'}",
            )
        if duty.gross_up is not None and duty.base != "line":
            raise PackError(
                path, f"{where}.gross_up", "a grossed-up duty is charged on the line's value"
            )
        if duty.gross_up == duty.type:
            raise PackError(path, f"{where}.gross_up", "a duty does not gross itself up")
        if duty.base in CUMULATIVE_BASES:
            seen_cumulative = True
        elif seen_cumulative and duty.gross_up is None:
            raise PackError(
                path, f"{where}.base", "a duty on value_plus_duties comes after the others"
            )
        quota = measure.quota
        if duty.base in ("in_quota", "over_quota") and quota is None:
            raise PackError(path, f"{where}.base", f"base {duty.base!r} needs the measure's quota")


def load_pack(path: Path) -> Pack:
    return parse_pack(path.read_bytes(), str(path))


SHIPPED_DIR = Path(__file__).parent / "packs"


def load_packs(directories: Iterable[Path]) -> list[Pack]:
    """Every `*.yaml` pack in the given directories, in file-name order."""
    packs: list[Pack] = []
    for directory in directories:
        for path in sorted(directory.glob("*.yaml")):
            packs.append(load_pack(path))
    return packs


def check_no_overlap(packs: Iterable[Pack]) -> None:
    """Two current packs must not both define one measure for the same day."""
    seen: dict[str, tuple[Pack, Measure]] = {}
    for pack in packs:
        for measure in pack.measures:
            other = seen.get(measure.id)
            clash = other is not None and other[0] is not pack
            if clash and other and other[1].effective.overlaps(measure.effective):
                raise PackError(
                    pack.path,
                    f"measures[{measure.id}].effective",
                    f"overlaps the same measure in {other[0].path}",
                )
            seen[measure.id] = (pack, measure)


def _version_key(version: str) -> tuple[tuple[int, str], ...]:
    return tuple(
        (int(part), "") if part.isdecimal() else (0, part) for part in re.split(r"[.-]", version)
    )


def current_packs(packs: Iterable[Pack]) -> list[Pack]:
    """The highest version of each pack id; older versions stay available for replay."""
    best: dict[str, Pack] = {}
    for pack in packs:
        held = best.get(pack.id)
        if held is None or _version_key(pack.version) > _version_key(held.version):
            best[pack.id] = pack
    return sorted(best.values(), key=lambda pack: pack.id)
