"""Quota years and periods derived from a measure's quota block.

Quota year 1 starts on the first `year_start` (e.g. 1 March) on or after the
measure's effective date. Year n's volume is `base_volume × (1 + growth)^(n-1)`,
rounded half-up to a whole unit; its periods split it evenly, rounded down, with
the remainder in the last period. Each sub-quota reserves `floor(volume × share)`
units of the year, split across the periods the same way. Carry-over of unused
units into the next period of the same year is the ledger's business: `terms_of` gives
the ledger a quota year's definition, and the ledger derives the rest.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from rules.measure import Measure, Quota
from schemas.quota import QuotaPeriod, QuotaTerms, TermsPeriod


def _add_months(day: date, months: int) -> date:
    index = day.month - 1 + months
    return day.replace(year=day.year + index // 12, month=index % 12 + 1)


def _year_start_on_or_before(quota: Quota, day: date) -> date:
    month, dom = (int(part) for part in quota.year_start.split("-"))
    start = date(day.year, month, dom)
    return start if start <= day else date(day.year - 1, month, dom)


def first_year_start(quota: Quota, effective_start: date) -> date:
    start = _year_start_on_or_before(quota, effective_start)
    return start if start == effective_start else _add_months(start, 12)


def year_volume(quota: Quota, year: int) -> int:
    """49,000 × 1.065^(n-1), rounded half-up: 49,000; 52,185; 55,577; 59,190; 63,037."""
    exact = Decimal(quota.base_volume) * (1 + quota.growth) ** (year - 1)
    return int(exact.to_integral_value(rounding=ROUND_HALF_UP))


def year_reserved(quota: Quota, year: int) -> dict[str, int]:
    """Each sub-quota's `floor(volume × share)`, in exact arithmetic: a share stated as a
    fraction (7/30 of 55,577 is 12,967.97) is never rounded before the floor."""
    volume = year_volume(quota, year)
    return {sub.name: math.floor(volume * sub.share(year)) for sub in quota.sub_quotas}


def _split(total: int, parts: int, index: int) -> int:
    """Even shares rounded down; the last part takes what is left."""
    share = total // parts
    return total - share * (parts - 1) if index == parts else share


def periods_of_year(measure: Measure, year: int) -> list[QuotaPeriod]:
    quota = measure.quota
    if quota is None:
        raise ValueError(f"measure {measure.id} has no quota")
    year_start = _add_months(first_year_start(quota, measure.effective.start), 12 * (year - 1))
    months = 12 // quota.periods_per_year
    volume = year_volume(quota, year)
    reserved = year_reserved(quota, year)
    periods = []
    for index in range(1, quota.periods_per_year + 1):
        start = _add_months(year_start, months * (index - 1))
        end = _add_months(year_start, months * index) - timedelta(days=1)
        periods.append(
            QuotaPeriod(
                quota_id=measure.id,
                year=year,
                index=index,
                periods_in_year=quota.periods_per_year,
                start=start,
                end=end,
                volume=_split(volume, quota.periods_per_year, index),
                reserved={
                    name: _split(units, quota.periods_per_year, index)
                    for name, units in reserved.items()
                },
            )
        )
    return periods


def quota_year_of(measure: Measure, day: date) -> int:
    """The quota year containing `day` (1-based); 0 or less before the first year."""
    quota = measure.quota
    if quota is None:
        raise ValueError(f"measure {measure.id} has no quota")
    first = first_year_start(quota, measure.effective.start)
    return _year_start_on_or_before(quota, day).year - first.year + 1


# keyed by the measure's identity; the measure is kept with the entry so that its id
# cannot be reused by another measure while the entry lives
_periods: dict[tuple[int, date], tuple[Measure, QuotaPeriod]] = {}


def period_of(measure: Measure, day: date) -> QuotaPeriod:
    """The period containing `day` (remembered per measure and day: every quota line of
    a day asks the same)."""
    key = (id(measure), day)
    entry = _periods.get(key)
    if entry is None or entry[0] is not measure:
        if len(_periods) > 100_000:
            _periods.clear()
        entry = _periods[key] = (measure, _period_of(measure, day))
    return entry[1]


def _period_of(measure: Measure, day: date) -> QuotaPeriod:
    for period in periods_of_year(measure, quota_year_of(measure, day)):
        if period.start <= day <= period.end:
            return period
    raise ValueError(f"{day} is in no period of {measure.id}")  # unreachable: periods tile the year


_terms: dict[tuple[int, int], tuple[Measure, QuotaTerms]] = {}


def terms_of(measure: Measure, year: int) -> QuotaTerms:
    """A quota year as the ledger scripts take it (remembered per measure and year)."""
    key = (id(measure), year)
    entry = _terms.get(key)
    if entry is None or entry[0] is not measure:
        quota = measure.quota
        if quota is None:
            raise ValueError(f"measure {measure.id} has no quota")
        terms = QuotaTerms(
            id=measure.id,
            mode=quota.mode,
            drawn_at=quota.drawn_at,
            critical_threshold=str(quota.critical_threshold),
            year=year,
            periods=tuple(
                TermsPeriod(
                    key=period.key,
                    end=period.end.isoformat(),
                    index=period.index,
                    volume=period.volume,
                    reserved=period.reserved,
                )
                for period in periods_of_year(measure, year)
            ),
        )
        if len(_terms) > 10_000:
            _terms.clear()
        entry = _terms[key] = (measure, terms)
    return entry[1]


def terms_on(measure: Measure, day: date) -> QuotaTerms:
    """The quota year containing `day` (the first one before the measure's first year)."""
    return terms_of(measure, max(quota_year_of(measure, day), 1))
