"""The measure checks (WTO, notification, linkage): one fact per measure with an
arrangement, stated as of any date with the states of its counterparts, and the rules of
its `measure` stage that it fires. Computed once per pack, day and counterparts' states.

    measure_checks(pack, measure, as_of, packs) -> the decisions (`Fired`) of the checks
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from rules.facts import MeasureFacts
from rules.findings import Fired
from rules.matching import matched
from rules.measure import Measure
from rules.memos import LRU
from rules.pack import Pack
from rules.values import Effective, percent

# A measure's checks on a day, by the packs its counterparts are looked up in.
CHECKS: LRU[tuple[tuple[Pack, ...], tuple[Fired, ...]]] = LRU(maxsize=4_096)
# ... and by the states of the counterparts themselves, whichever packs hold them.
CHECK_FIRINGS: LRU[tuple[Fired, ...]] = LRU(maxsize=4_096)


def basis_points(rate: Decimal) -> int:
    return int((rate * 10000).to_integral_value(rounding=ROUND_HALF_UP))


def _months_between(earlier: date, later: date) -> int:
    """Whole calendar months from `earlier` to `later` (negative when later is earlier)."""
    months = (later.year - earlier.year) * 12 + later.month - earlier.month
    return months - 1 if later.day < earlier.day else months


@dataclass(frozen=True)
class Counterpart:
    """A counterpart measure as the linkage checks see it on a date."""

    id: str
    status: str  # not_yet | in_force | lapsed | unknown (in none of the packs looked at)
    last_day: date | None
    # whether the counterpart's end withdraws what it conceded (False for a ceiling, such
    # as an anti-dumping duty of at most 5.9%, which its expiry still honours)
    expiry_withdraws: bool = True


def status_on(ranges: Sequence[Effective], day: date) -> str:
    """A measure's state on a day, from the effective ranges of its definitions."""
    if not ranges:
        return "unknown"
    if any(effective.contains(day) for effective in ranges):
        return "in_force"
    if any(effective.start > day for effective in ranges):
        return "not_yet"
    return "lapsed"


def _last_day(ranges: Sequence[Effective]) -> date | None:
    ends = [effective.end for effective in ranges]
    return None if not ends or None in ends else max(end for end in ends if end is not None)


def counterparts_on(
    measure: Measure, as_of: date, packs: Iterable[Pack]
) -> tuple[Counterpart, ...]:
    """The state on `as_of` of each counterpart the measure's arrangement records."""
    if measure.arrangement is None or not measure.arrangement.counterparts:
        return ()
    ranges: dict[str, list[Effective]] = {}
    withdraws: dict[str, bool] = {}
    for pack in packs:
        for each in pack.measures:
            ranges.setdefault(each.id, []).append(each.effective)
            if each.arrangement is not None and not each.arrangement.expiry_withdraws_concession:
                withdraws[each.id] = False
    return tuple(
        Counterpart(
            name,
            status_on(ranges.get(name, []), as_of),
            _last_day(ranges.get(name, [])),
            withdraws.get(name, True),
        )
        for name in measure.arrangement.counterparts
    )


def _with_days(items: Sequence[Counterpart]) -> str | None:
    """Counterparts by id, each with its own last day: "A (to 2026-12-31), B (to ...)"."""
    named = [
        f"{item.id} (to {item.last_day.isoformat()})" if item.last_day else item.id
        for item in items
    ]
    return ", ".join(named) or None


def _linkage_facts(
    measure: Measure, as_of: date, counterparts: Sequence[Counterpart]
) -> dict[str, Any]:
    in_force = [item.id for item in counterparts if item.status == "in_force"]
    ended = [item for item in counterparts if item.status == "lapsed"]
    # a counterpart whose end withdraws its concession has lapsed; one whose concession is
    # a ceiling its expiry still honours has only expired (information)
    lapsed = [item for item in ended if item.expiry_withdraws]
    expired = [item for item in ended if not item.expiry_withdraws]
    unknown = [item.id for item in counterparts if item.status == "unknown"]
    last_days = [item.last_day for item in lapsed if item.last_day is not None]
    end = measure.effective.end
    return {
        "checked_on": as_of.isoformat(),
        "status": status_on([measure.effective], as_of),
        "last_day": end.isoformat() if end is not None else None,
        "counterparts_in_force": ", ".join(in_force) or None,
        "counterparts_in_force_count": len(in_force),
        "counterparts_lapsed": _with_days(lapsed),
        "counterparts_lapsed_count": len(lapsed),
        "counterparts_lapsed_on": max(last_days).isoformat() if last_days else None,
        "counterparts_expired": _with_days(expired),
        "counterparts_expired_count": len(expired),
        "counterparts_not_loaded": ", ".join(unknown) or None,
        "counterparts_not_loaded_count": len(unknown),
    }


def measure_facts(
    measure: Measure, as_of: date, counterparts: Sequence[Counterpart] = ()
) -> dict[str, Any]:
    """What the arrangement checks may test, as known on `as_of` (nothing later counts).
    The checks are made for any date: outside the measure's effective range its rates are
    those of its nearest day in force."""
    arrangement = measure.arrangement
    if arrangement is None:
        raise ValueError(f"measure {measure.id} records no arrangement")
    rate_day = max(as_of, measure.effective.start)
    if measure.effective.end is not None:
        rate_day = min(rate_day, measure.effective.end)
    rates = {
        name: measure.rate_on(name, rate_day)
        for name, spec in measure.rates.items()
        if not spec.specific
    }
    facts: dict[str, Any] = {
        "measure": measure.id,
        "line": 0,
        "as_of": as_of,
        "measure_kind": arrangement.measure_kind,
        "classification": arrangement.classification,
        "partner": arrangement.partner,
        "country_specific": arrangement.country_specific,
        "bilateral_cap": arrangement.bilateral_cap,
        "claimed_basis": arrangement.claimed_basis,
        "concession": arrangement.concession,
        "sum_rates_bp": sum(basis_points(rate) for rate in rates.values()),
        "sum_rates": percent(sum(rates.values(), Decimal(0))),
        "entry_into_force": measure.effective.start.isoformat(),
    }
    if arrangement.bound_rate is not None:
        facts["bound_rate_bp"] = basis_points(arrangement.bound_rate)
        facts["bound_rate"] = percent(arrangement.bound_rate)
    facts.update(_linkage_facts(measure, as_of, counterparts))
    derived: dict[str, Any] = {}
    for name, rate in rates.items():
        derived[f"rate_{name}_bp"] = basis_points(rate)
        derived[f"rate_{name}"] = percent(rate)
    if measure.quota is not None:
        facts["over_quota"] = "reject" if measure.quota.over_quota == "reject" else "rate"
    known = [note for note in arrangement.us_notifications if note.date <= as_of]
    before_entry = [note for note in known if note.date < measure.effective.start]
    facts["us_notified_before_entry"] = bool(before_entry)
    if before_entry:
        first = min(before_entry, key=lambda note: note.date)
        facts["us_first_notified_on"] = first.date.isoformat()
    intents = [note.date for note in known if note.kind == "intent_to_negotiate"]
    if intents and arrangement.negotiations_began_on is not None:
        facts["us_intent_months_before_negotiations"] = _months_between(
            min(intents), arrangement.negotiations_began_on
        )
    texts = [note.date for note in known if note.kind == "full_text"]
    if texts and arrangement.signed_on is not None:
        facts["us_full_text_days_before_signature"] = (arrangement.signed_on - min(texts)).days
    if arrangement.published_on is not None:
        facts["published_on"] = arrangement.published_on.isoformat()
        facts["publication"] = arrangement.publication or "the measure's publication"
        facts["publication_lead_days"] = (measure.effective.start - arrangement.published_on).days
        facts["days_since_publication"] = (as_of - arrangement.published_on).days
    notified = arrangement.wto_licensing_notified_on
    facts["wto_licensing_notified"] = notified is not None and notified <= as_of
    if notified is not None and notified <= as_of:
        # a notification made late stays on record as late
        facts["wto_licensing_notified_on"] = notified.isoformat()
        if arrangement.published_on is not None:
            facts["wto_licensing_notice_days"] = (notified - arrangement.published_on).days
    return MeasureFacts.model_validate(facts).stated(derived)


def measure_checks(
    pack: Pack, measure: Measure, as_of: date, packs: Iterable[Pack] = ()
) -> tuple[Fired, ...]:
    """The arrangement checks of one measure as of any date; computed once per pack, day
    and state of the measure's counterparts, which are looked up in `packs`."""
    if measure.arrangement is None:
        return ()
    packs = tuple(packs)
    # finding the counterparts' states walks every measure of every pack: remembered by
    # the packs' identities (the entry holds the packs, so their ids stay theirs)
    by_packs = (pack.sha256, measure.id, as_of, tuple(map(id, packs)))
    known = CHECKS.get(by_packs)
    if known is not None:
        return known[1]
    counterparts = counterparts_on(measure, as_of, packs)
    key = (pack.sha256, measure.id, as_of, counterparts)
    cached = CHECK_FIRINGS.get(key)
    if cached is None:
        facts = measure_facts(measure, as_of, counterparts)
        cached = tuple(
            Fired(pack, fired_measure, rule, None, facts, as_of)
            for fired_measure, rule, _ in matched(pack, [facts])
            if rule.stage == "measure"
        )
        CHECK_FIRINGS.put(key, cached)
    CHECKS.put(by_packs, (packs, cached))
    return cached
