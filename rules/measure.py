"""A measure of a rule pack: its effective dates, its scope, its rates, an optional quota
(with sub-quotas and permits), the facts of the arrangement it implements, a remission
order that relieves it, and its rules.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Annotated, Any, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from rules.values import (
    MEASURE_ID,
    RULE_ID,
    Effective,
    ImportType,
    IsoDate,
    Money,
    Parameter,
    Rate,
    Severity,
    Share,
    Stage,
    Strict,
    Treatment,
    percent,
    percent_value,
)


class Scope(Strict):
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


class RateSpec(Strict):
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


class DutyEffect(Strict):
    type: str
    rate: str
    base: DutyBase = "line"
    # The type of another duty of the line whose rate grosses this one up: the amount is
    # base x rate x (1 + that duty's rate). MOFCOM's anti-dumping deposits are computed so
    # (value x deposit rate x (1 + import VAT rate)), the deposit standing in for the duty
    # and the VAT that duty would bear. Such a duty comes after all others, so it is never
    # in the base of a tax on the value plus duties.
    gross_up: str | None = None


class Then(Strict):
    treatment: Treatment | None = None
    duties: tuple[DutyEffect, ...] = ()
    claim_quota: bool = False
    outcome: Literal["reject", "hold"] | None = None


class Rule(Strict):
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


class SubQuota(Strict):
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


class Permits(Strict):
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


class Quota(Strict):
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


class Notification(Strict):
    date: IsoDate
    kind: Literal["informal", "intent_to_negotiate", "full_text"]
    what: str
    source: str


class Arrangement(Strict):
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


class RemissionItem(Strict):
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


class Remission(Strict):
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


class Measure(Strict):
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

    def read_parameters(self, parameters: dict[str, Parameter]) -> None:
        """The pack's parameters, through which the measure reads its parameter rates
        (the pack calls it once it is built)."""
        self._parameters = parameters

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
        return percent_value(entry.value), entry.assumption

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
