"""The facts a rule pack may test, declared: one typed model per stage.

OpenFisca declares the variables a formula may read; Accord declares the facts a rule
may test. The engine states every fact through these models (`LineFacts`,
`MeasureFacts`, `AllocationFacts`), and the pack loader holds every `when` key, every
operand and every message placeholder to the same declarations (rules/fact_check.py), so that a misspelt fact
is an error at load time instead of a rule that never fires or a message that prints a
dash. A few facts are derived from the measure rather than declared as fields: one
`rate_<name>` per rate (and `rate_<name>_bp` at the measure stage), and at the line
stage one boolean per sub-quota. `python -m rules.facts --markdown` rewrites the
reference table in docs/rule-packs.md from these models.

Slightly over 500 lines, and one file on purpose: the stage models are the single
declaration of what packs may test, mostly field descriptions, and the loader's check
(rules/fact_check.py), the engine and the reference table all read them from here.
"""

from __future__ import annotations

import argparse
import sys
import types
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from rules.compiler import day_number
from rules.measure import Measure
from rules.values import ImportType, Stage
from schemas.quota import LineAllocationStatus

FactType = Literal["text", "enum", "number", "date", "boolean"]

# Dates are stated as integers YYYYMMDD so that durable-rules compares them as numbers.
DayNumber = Annotated[date, PlainSerializer(day_number, return_type=int)]

PermitStatus = Literal[
    "none",  # the line names no permit
    "unregistered",  # no such permit, or another importer's
    "other_measure",
    "pending",
    "used",
    "cancelled",
    "expired",
    "refused",
    "not_yet_valid",
    "insufficient",  # holds fewer units than the declaration's lines ask of it
    "over_fob_limit",  # drawn on a sub-quota's reserve, for goods above its limit
    # for a sub-quota, but the FOB price could not be converted into the limit's currency
    # (no rate prevails): the limit is not compared with a price in another currency
    "fob_not_converted",
    "valid",
    "not_required",  # this import type needs no permit
]
OverQuota = Literal["reject", "rate"]
MeasureStatus = Literal["not_yet", "in_force", "lapsed"]
RemissionStatus = Literal[
    "none",  # the line claims no remission
    "unknown_order",  # the claim names an order this measure's remission does not
    "no_item",  # the claim names the order but no scheduled item
    "unlisted_item",  # the item is not in the order's schedules
    "no_schedule",  # the claim names an item but not its schedule, and the items have one
    "not_this_good",  # the item lists other goods than the line's tariff item
    "out_of_period",  # the item lists the goods, but not on the acceptance date
    "unverified",  # the item's importer column was not read: the claim cannot be verified
    "other_importer",  # a company item, bound to another importer's business number
    "granted",
]
ExchangeRateStatus = Literal["not_needed", "found", "missing"]
# whether the importer holds a licence that defers excise tax to its own sales (Excise Tax
# Act): as the declaration says, or not said
ExciseLicence = Literal["licensed", "not_licensed", "not_declared"]
Classification = Literal["sectoral_arrangement", "fta_non_market"]
MeasureKind = Literal["arrangement", "unilateral_surtax"]


Needs = Literal["", "quota", "permits", "remission"]


class Fact(BaseModel):
    """One fact as a pack sees it: what `when`, operands and placeholders may name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    type: FactType
    description: str
    values: tuple[str, ...] = ()
    needs: Needs = ""  # stated only for measures that have one


def _needs(what: Needs) -> dict[str, Any]:
    return {"needs": what}


class StatedFacts(BaseModel):
    """What every stage states besides its facts: the stage, the measure and the line,
    which route a fact to the rules of its own measure and are not for packs to test."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    STAGE: ClassVar[Stage]
    BOOKKEEPING: ClassVar[frozenset[str]] = frozenset({"measure", "line"})

    measure: str
    line: int

    def stated(self, derived: Mapping[str, Any] = types.MappingProxyType({})) -> dict[str, Any]:
        """The fact as asserted into durable-rules: plain JSON values, absent ones left out."""
        return {"stage": self.STAGE, **self.model_dump(exclude_none=True), **derived}


class LineFacts(StatedFacts):
    """The line stage: one fact per declaration line and measure in force for it."""

    STAGE: ClassVar[Stage] = "line"

    origin: str = Field(description="Country of origin of the line (ISO 3166 alpha-2).")
    tariff_item: str = Field(
        description="The line's 10-digit classification, digits only (8703800010)."
    )
    tariff_chapter: str = Field(description='The chapter of its tariff item ("72", "98").')
    tariff_heading: str = Field(description='The heading of its tariff item ("7208", "9992").')
    underlying_tariff_item: str | None = Field(
        default=None,
        description="For a Chapter 98 or 99 line, the classification in Chapters 1 to 97 of "
        "its goods (10 digits); absent otherwise.",
    )
    import_type: ImportType = Field(description="The declaration's import type.")
    unit: str = Field(description="Unit of the declared quantity (UN/ECE Rec. 20, e.g. NMB).")
    quantity: str = Field(description="The declared quantity as a decimal string.")
    accepted_on: DayNumber = Field(
        description="Calendar date of `accepted_at` in its own offset: the date of the law."
    )
    vins_given: bool = Field(description="Whether the line lists VINs.")
    shipment_date: DayNumber | None = Field(
        default=None, description="The declared shipment date; absent if not declared."
    )
    remission_claim: str | None = Field(
        default=None,
        description="The remission claimed, upper-cased, spaces collapsed; absent if none.",
    )
    tariff_treatment: str = Field(
        description="The tariff treatment code claimed (B3 field 14); `02` (MFN) when the "
        "line names none."
    )
    currency: str = Field(description="The currency the declaration's values are in.")
    exchange_rate: ExchangeRateStatus = Field(
        description="Whether the values needed converting and a rate prevails on the "
        "conversion date (a loaded quote, or an older pack version's own table)."
    )
    exchange_rate_value: str | None = Field(
        default=None, description="The rate applied, units of home currency per unit."
    )
    exchange_rate_on: str | None = Field(
        default=None,
        description="The conversion date (ISO text): the date of direct shipment, else of "
        "acceptance.",
    )
    exchange_rate_basis: Literal["shipment_date", "accepted_at"] | None = Field(
        default=None,
        description="Which date the conversion date is: the date of direct shipment, or "
        "acceptance when the declaration gives no shipment date; absent without conversion.",
    )
    exchange_rate_date: str | None = Field(
        default=None,
        description="The day the rate applied was quoted for (ISO text); absent if none.",
    )
    exchange_rate_source: str | None = Field(
        default=None, description="Who published the rate applied, and its series."
    )
    exchange_rate_from: str | None = Field(
        default=None,
        description="The earliest day whose quote could prevail on the conversion date (ISO text).",
    )
    excise_licence: ExciseLicence = Field(
        description="Whether the declaration says the importer is licensed under the Excise "
        "Tax Act (`importer.excise_licensed`), so that excise tax is accounted for on its own "
        "sales, not at import; `not_declared` when it does not say."
    )
    fob_value_gap_bp: int | None = Field(
        default=None,
        description="How far FOB unit price times quantity is from the value for duty, in "
        "basis points of the value for duty; absent without an FOB price.",
    )
    remission: RemissionStatus | None = Field(
        default=None,
        description="What the line's remission claim obtains under the measure's remission "
        "order and its schedules.",
        json_schema_extra=_needs("remission"),
    )
    remission_item: str | None = Field(
        default=None,
        description="The scheduled item the claim names; absent if none.",
        json_schema_extra=_needs("remission"),
    )
    permit: PermitStatus | None = Field(
        default=None,
        description="What the line's import permit allows (another importer's permit reads "
        "as `unregistered`).",
        json_schema_extra=_needs("permits"),
    )
    permit_number: str | None = Field(
        default=None,
        description="The permit the line names; absent if none.",
        json_schema_extra=_needs("permits"),
    )
    period: str | None = Field(
        default=None,
        description="The quota period open on the acceptance date, `start/end`.",
        json_schema_extra=_needs("quota"),
    )
    over_quota: OverQuota | None = Field(
        default=None,
        description="What the quota does with units over it: refuse them or charge a rate.",
        json_schema_extra=_needs("quota"),
    )


class MeasureFacts(StatedFacts):
    """The measure stage: one fact per measure with an `arrangement`, as known on the date."""

    STAGE: ClassVar[Stage] = "measure"

    as_of: DayNumber = Field(description="The date the checks are made for.")
    measure_kind: MeasureKind = Field(
        description="An arrangement with a partner, or a unilateral surtax (no classification)."
    )
    classification: Classification | None = Field(
        default=None, description="How the arrangement is classified; absent for a surtax."
    )
    partner: str = Field(description="The other party to the arrangement.")
    country_specific: bool = Field(description="Whether the measure applies to one country.")
    bilateral_cap: bool = Field(description="Whether the cap was agreed with the exporter.")
    claimed_basis: str = Field(description="The legal basis the measure's maker claims.")
    concession: str | None = Field(
        default=None,
        description="What the measure concedes under its arrangement; absent if not recorded.",
    )
    bound_rate_bp: int | None = Field(
        default=None, description="The WTO bound rate, in basis points; absent if not recorded."
    )
    bound_rate: str | None = Field(
        default=None, description='The WTO bound rate as a percentage ("6.1%").'
    )
    sum_rates_bp: int = Field(description="The measure's rates added up, in basis points.")
    sum_rates: str = Field(description="The measure's rates added up, as a percentage.")
    entry_into_force: str = Field(description="The measure's first day (ISO text).")
    over_quota: OverQuota | None = Field(
        default=None,
        description="What the quota does with units over it.",
        json_schema_extra=_needs("quota"),
    )
    us_notified_before_entry: bool = Field(
        description="Whether a US notification dated before entry into force is recorded."
    )
    us_first_notified_on: str | None = Field(
        default=None, description="The first such notification (ISO text); absent if none."
    )
    us_intent_months_before_negotiations: int | None = Field(
        default=None,
        description="Whole months from the notice of intent to the start of negotiations; "
        "absent without both.",
    )
    us_full_text_days_before_signature: int | None = Field(
        default=None,
        description="Days from offering the full text to signature; absent without both.",
    )
    published_on: str | None = Field(
        default=None, description="Publication date (ISO text); absent if not recorded."
    )
    publication: str | None = Field(default=None, description="What was published.")
    publication_lead_days: int | None = Field(
        default=None, description="Days from publication to entry into force."
    )
    days_since_publication: int | None = Field(
        default=None, description="Days from publication to the date of the checks."
    )
    wto_licensing_notified: bool = Field(
        description="Whether the licensing procedure was notified to the WTO by the date."
    )
    checked_on: str = Field(description="The date of the checks (ISO text).")
    status: MeasureStatus = Field(
        description="The measure's own state on the date: before its first day, in force, or "
        "after its last day (the checks are made for any date)."
    )
    last_day: str | None = Field(
        default=None, description="The measure's last day (ISO text); absent if open-ended."
    )
    counterparts_in_force: str | None = Field(
        default=None,
        description="The counterpart measures in force on the date, by id; absent if none.",
    )
    counterparts_in_force_count: int = Field(
        description="How many of the measure's counterparts are in force on the date."
    )
    counterparts_lapsed: str | None = Field(
        default=None,
        description="The counterparts whose last day is before the date and whose end "
        "withdraws their concession, each with its own last day (`ID (to DATE)`); absent if "
        "none.",
    )
    counterparts_lapsed_count: int = Field(
        description="How many of the measure's counterparts have lapsed by the date."
    )
    counterparts_lapsed_on: str | None = Field(
        default=None,
        description="The last day of the latest-ending lapsed counterpart (ISO text).",
    )
    counterparts_expired: str | None = Field(
        default=None,
        description="The counterparts past their last day whose concession their expiry "
        "still honours (a ceiling on a duty), each with its own last day; absent if none.",
    )
    counterparts_expired_count: int = Field(
        description="How many of the measure's counterparts have so expired by the date."
    )
    counterparts_not_loaded: str | None = Field(
        default=None,
        description="Counterparts an arrangement awaits that no loaded pack defines, by id; "
        "absent if none.",
    )
    counterparts_not_loaded_count: int = Field(
        description="How many of the measure's counterparts no loaded pack defines."
    )
    wto_licensing_notice_days: int | None = Field(
        default=None,
        description="Days from publication to the WTO licensing notification; absent until "
        "one is recorded by the date.",
    )
    wto_licensing_notified_on: str | None = Field(
        default=None, description="The WTO licensing notification's date (ISO text)."
    )


class AllocationFacts(StatedFacts):
    """The allocation stage: one fact per line that claimed quota, once the ledger answered."""

    STAGE: ClassVar[Stage] = "allocation"

    allocation: LineAllocationStatus = Field(description="What the quota ledger answered.")
    accepted_on: DayNumber = Field(description="Calendar date of `accepted_at`.")
    quantity: int = Field(description="Units the line asked of the quota.")
    in_quota_quantity: int = Field(description="Units in quota.")
    over_quota_quantity: int = Field(description="Units over quota.")
    period: str = Field(
        description="The period drawn from, `start/end` (for a quota drawn at permits, the "
        "period the permit drew from)."
    )


STAGE_MODELS: dict[str, type[StatedFacts]] = {
    "line": LineFacts,
    "measure": MeasureFacts,
    "allocation": AllocationFacts,
}
# The fact each stage dates by: a dated parameter takes the value in force on it.
DATE_FACT: dict[str, str] = {"line": "accepted_on", "measure": "as_of", "allocation": "accepted_on"}


def _fact_type(annotation: Any) -> tuple[FactType, tuple[str, ...]]:
    if get_origin(annotation) in (Union, types.UnionType):
        (annotation,) = [arg for arg in get_args(annotation) if arg is not type(None)]
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) is Literal:
        return "enum", tuple(str(value) for value in get_args(annotation))
    if annotation is bool:
        return "boolean", ()
    if annotation is int:
        return "number", ()
    if annotation is date:
        return "date", ()
    if annotation is str:
        return "text", ()
    raise TypeError(f"no fact type for {annotation!r}")


def model_facts(model: type[StatedFacts]) -> tuple[Fact, ...]:
    """The facts a stage model declares as fields, in declaration order."""
    facts = []
    for name, field in model.model_fields.items():
        if name in model.BOOKKEEPING:
            continue
        kind, values = _fact_type(field.annotation)
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        wanted = extra.get("needs")
        needs: Needs = (
            "quota"
            if wanted == "quota"
            else "permits"
            if wanted == "permits"
            else "remission"
            if wanted == "remission"
            else ""
        )
        facts.append(
            Fact(
                name=name,
                type=kind,
                description=field.description or "",
                values=values,
                needs=needs,
            )
        )
    return tuple(facts)


def derived_facts(stage: str, measure: Measure) -> tuple[Fact, ...]:
    """The facts a measure's own data adds: its rates, and its sub-quotas at the line stage."""
    facts: list[Fact] = []
    if stage in ("line", "measure"):
        for name in measure.rates:
            facts.append(
                Fact(name=f"rate_{name}", type="text", description=f"Rate `{name}` in force.")
            )
    if stage == "measure":
        for name in measure.rates:
            facts.append(
                Fact(
                    name=f"rate_{name}_bp",
                    type="number",
                    description=f"Rate `{name}` in basis points.",
                )
            )
    if stage == "line" and measure.quota is not None:
        for sub in measure.quota.sub_quotas:
            facts.append(
                Fact(
                    name=sub.name,
                    type="boolean",
                    description=f"Whether the goods qualify for sub-quota `{sub.name}`.",
                    needs="quota",
                )
            )
    return tuple(facts)


def declared_facts(stage: str, measure: Measure) -> dict[str, Fact]:
    """Every fact the rules of `stage` of this measure may name."""
    quota = measure.quota
    present = {
        "": True,
        "quota": quota is not None,
        "permits": quota is not None and quota.permits is not None,
        "remission": measure.remission is not None,
    }
    facts = [fact for fact in model_facts(STAGE_MODELS[stage]) if present[fact.needs]]
    return {fact.name: fact for fact in (*facts, *derived_facts(stage, measure))}


# --- the reference table ---------------------------------------------------------------------

BEGIN = "<!-- facts:begin (generated by `python -m rules.facts --markdown`; do not edit) -->"
END = "<!-- facts:end -->"
DOC = Path(__file__).resolve().parent.parent / "docs" / "rule-packs.md"

_DERIVED_ROWS = {
    "line": [
        ("rate_<name>", "text", 'One per rate of the measure, in force on the date ("6.1%").', ""),
        ("<sub-quota name>", "boolean", "One per sub-quota: whether the goods qualify.", "quota"),
    ],
    "measure": [
        ("rate_<name>", "text", "One per rate of the measure, as a percentage.", ""),
        ("rate_<name>_bp", "number", "One per rate of the measure, in basis points.", ""),
    ],
    "allocation": [],
}


def markdown_table() -> str:
    """The facts of every stage as Markdown, from the models."""
    out: list[str] = []
    for stage, model in STAGE_MODELS.items():
        out.append(f"**`{stage}` stage** — {(model.__doc__ or '').split(':', 1)[-1].strip()}")
        out.append("")
        out.append("| fact | type | values | stated for | meaning |")
        out.append("|---|---|---|---|---|")
        rows: list[tuple[str, str, str, str, str]] = [
            (fact.name, fact.type, ", ".join(fact.values), fact.needs, fact.description)
            for fact in model_facts(model)
        ]
        rows += [(name, kind, "", needs, text) for name, kind, text, needs in _DERIVED_ROWS[stage]]
        for name, kind, values, needs, text in rows:
            shown = ", ".join(f"`{value}`" for value in values.split(", ")) if values else ""
            where = {
                "": "every measure",
                "quota": "quota measures",
                "permits": "permit quotas",
                "remission": "remission measures",
            }
            out.append(f"| `{name}` | {kind} | {shown} | {where[needs]} | {text} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def with_table(doc: str) -> str:
    """The document with the text between the markers replaced by the generated table."""
    head, begin, rest = doc.partition(BEGIN)
    _, end, tail = rest.partition(END)
    if not begin or not end:
        raise ValueError(f"the document has no {BEGIN!r} ... {END!r} markers")
    return f"{head}{BEGIN}\n\n{markdown_table()}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rules.facts", description=__doc__)
    parser.add_argument(
        "--markdown", action="store_true", help=f"rewrite the facts table in {DOC.name}"
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if the table is stale")
    args = parser.parse_args(argv)
    current = DOC.read_text()
    wanted = with_table(current)
    if args.check:
        return 0 if wanted == current else 1
    if args.markdown:
        DOC.write_text(wanted)
        return 0
    sys.stdout.write(markdown_table())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
