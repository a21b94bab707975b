"""Quota years, volumes, half-year periods and the affordable reserve, derived from the
shipped CA-CN-EV-TRQ-2026 pack (and the two quota test packs): SPEC §4.1."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from pathlib import Path

import pytest

from rules.loader import SHIPPED_DIR, load_pack
from rules.measure import Measure, Quota
from rules.quota import (
    first_year_start,
    period_of,
    periods_of_year,
    quota_year_of,
    terms_on,
    year_reserved,
    year_volume,
)

TEST_PACKS = Path(__file__).resolve().parent.parent / "packs"
TRQ: Measure = load_pack(SHIPPED_DIR / "ca-cn-ev-trq-2026.yaml").measures[0]
SPLIT: Measure = load_pack(TEST_PACKS / "test-split.yaml").measures[0]
RACE: Measure = load_pack(TEST_PACKS / "test-race.yaml").measures[0]


def quota_of(measure: Measure) -> Quota:
    assert measure.quota is not None
    return measure.quota


def d(text: str) -> date:
    return date.fromisoformat(text)


# --- volumes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("year", "volume"),
    [(1, 49_000), (2, 52_185), (3, 55_577), (4, 59_190), (5, 63_037), (6, 67_134)],
)
def test_year_volume_grows_6_5_percent_rounded_half_up(year: int, volume: int) -> None:
    """Year n's volume is 49,000 x 1.065^(n-1), rounded half-up to a whole vehicle."""
    assert year_volume(quota_of(TRQ), year) == volume


@pytest.mark.parametrize(
    ("year", "first", "second"),
    [
        (1, 24_500, 24_500),
        (2, 26_092, 26_093),
        (3, 27_788, 27_789),
        (4, 29_595, 29_595),
        (5, 31_518, 31_519),
    ],
)
def test_each_half_gets_floor_of_half_and_the_second_the_rest(
    year: int, first: int, second: int
) -> None:
    """The first half gets floor(volume / 2) and the second half the rest."""
    periods = periods_of_year(TRQ, year)
    assert [period.volume for period in periods] == [first, second]
    assert first + second == year_volume(quota_of(TRQ), year)


# --- the affordable reserve ------------------------------------------------------------


@pytest.mark.parametrize(
    ("year", "reserved"),
    # years 3 and 4: 55,577 x 7/30 = 12,967.97 and 59,190 x 11/30 = 21,703 exactly; the
    # rounded percentages 23.33% and 36.67% gave 12,966 and 21,704
    [(1, 0), (2, 5_218), (3, 12_967), (4, 21_703), (5, 31_518), (6, 33_567)],
    ids=["0%", "10%", "7/30", "11/30", "50%", "50%-kept"],
)
def test_affordable_reserve_per_year_is_rounded_down(year: int, reserved: int) -> None:
    """Each year reserves floor(volume x share), in exact arithmetic: 0, 10%, 7/30, 11/30,
    then 50% of its volume."""
    assert year_reserved(quota_of(TRQ), year) == {"affordable": reserved}


@pytest.mark.parametrize(
    ("year", "first", "second"),
    [(1, 0, 0), (2, 2_609, 2_609), (3, 6_483, 6_484), (4, 10_851, 10_852), (5, 15_759, 15_759)],
)
def test_affordable_reserve_is_split_across_the_halves(year: int, first: int, second: int) -> None:
    """The reserve is split like the volume: floor of half first, the rest second."""
    periods = periods_of_year(TRQ, year)
    assert [period.reserved for period in periods] == [
        {"affordable": first},
        {"affordable": second},
    ]


# --- period boundaries -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("year", "bounds"),
    [
        (1, [("2026-03-01", "2026-08-31"), ("2026-09-01", "2027-02-28")]),
        (2, [("2027-03-01", "2027-08-31"), ("2027-09-01", "2028-02-29")]),
        (3, [("2028-03-01", "2028-08-31"), ("2028-09-01", "2029-02-28")]),
    ],
    ids=["year-1", "year-2-leap", "year-3"],
)
def test_halves_run_1_march_to_31_august_and_1_september_to_end_february(
    year: int, bounds: list[tuple[str, str]]
) -> None:
    """The halves of a quota year are 1 Mar-31 Aug and 1 Sep-end Feb, 29 Feb in a leap year."""
    periods = periods_of_year(TRQ, year)
    assert [(period.start, period.end) for period in periods] == [
        (d(start), d(end)) for start, end in bounds
    ]
    assert [period.key for period in periods] == [start for start, _ in bounds]
    assert [(period.year, period.index, period.periods_in_year) for period in periods] == [
        (year, 1, 2),
        (year, 2, 2),
    ]
    assert {period.quota_id for period in periods} == {"CA-CN-EV-TRQ-2026"}


@pytest.mark.parametrize("year", range(1, 8))
def test_periods_tile_the_quota_years_without_gaps(year: int) -> None:
    """Each period starts the day after the previous one ends, across quota years too."""
    chain = [*periods_of_year(TRQ, year), periods_of_year(TRQ, year + 1)[0]]
    for earlier, later in itertools.pairwise(chain):
        assert later.start == earlier.end + timedelta(days=1)


@pytest.mark.parametrize(
    ("day", "year"),
    [
        ("2026-02-28", 0),
        ("2026-03-01", 1),
        ("2026-08-31", 1),
        ("2027-02-28", 1),
        ("2027-03-01", 2),
        ("2028-02-29", 2),
        ("2028-03-01", 3),
        ("2030-03-01", 5),
    ],
)
def test_quota_year_of_turns_on_1_march(day: str, year: int) -> None:
    """The quota year changes between 28 (or 29) February and 1 March; before 2026-03-01 it is 0."""
    assert quota_year_of(TRQ, d(day)) == year


@pytest.mark.parametrize(
    ("day", "key", "previous"),
    [
        ("2026-03-01", "2026-03-01", None),
        ("2026-08-31", "2026-03-01", None),
        ("2026-09-01", "2026-09-01", "2026-03-01"),
        ("2027-02-28", "2026-09-01", "2026-03-01"),
        ("2027-03-01", "2027-03-01", None),
        ("2028-02-29", "2027-09-01", "2027-03-01"),
    ],
)
def test_period_of_and_the_quota_terms_agree_on_the_day(
    day: str, key: str, previous: str | None
) -> None:
    """period_of names the period containing the day; the quota terms of that day's year
    hold it, after the earlier period of the same year only."""
    period = period_of(TRQ, d(day))
    assert period.key == key
    assert period.start <= d(day) <= period.end
    terms = terms_on(TRQ, d(day))
    found = terms.period_containing(d(day))
    assert found is not None
    assert found.key == key
    position = [item.key for item in terms.periods].index(key)
    assert (terms.periods[position - 1].key if position else None) == previous


def test_first_quota_year_starts_on_the_effective_date_when_it_is_1_march() -> None:
    """The TRQ takes effect on 1 March 2026, so quota year 1 starts that day."""
    assert first_year_start(quota_of(TRQ), d("2026-03-01")) == d("2026-03-01")


@pytest.mark.parametrize(
    ("effective", "first"),
    [("2026-01-15", "2026-03-01"), ("2026-03-02", "2027-03-01"), ("2026-02-28", "2026-03-01")],
)
def test_first_quota_year_starts_on_the_next_1_march_on_or_after_the_effective_date(
    effective: str, first: str
) -> None:
    """A measure taking effect on another day starts its first quota year on the next 1 March."""
    assert first_year_start(quota_of(TRQ), d(effective)) == d(first)


def test_monthly_periods_give_the_remainder_to_the_last_month() -> None:
    """Twelve periods of 49,000: 4,083 each for eleven months and 4,087 in February."""
    monthly = TRQ.model_copy(
        update={"quota": quota_of(TRQ).model_copy(update={"periods_per_year": 12})}
    )
    periods = periods_of_year(monthly, 1)
    assert [period.volume for period in periods] == [4_083] * 11 + [4_087]
    assert periods[-1].start == d("2027-02-01")
    assert periods[-1].end == d("2027-02-28")
    assert sum(period.volume for period in periods) == 49_000


# --- the quota test packs --------------------------------------------------------------


def test_split_test_quota_is_one_calendar_year_period_of_10() -> None:
    """TEST-KR-EV-TRQ has one period per calendar year of 10 units, without growth."""
    periods = periods_of_year(SPLIT, 1)
    assert [(p.start, p.end, p.volume, p.reserved) for p in periods] == [
        (d("2026-01-01"), d("2026-12-31"), 10, {})
    ]
    assert periods_of_year(SPLIT, 2)[0].volume == 10
    assert quota_year_of(SPLIT, d("2026-12-31")) == 1
    assert quota_year_of(SPLIT, d("2027-01-01")) == 2


def test_race_test_quota_has_two_halves_of_50_with_10_reserved_each() -> None:
    """TEST-JP-EV-TRQ: 100 a year from 1 January, halves of 50, 20% reserved (10 per half)."""
    periods = periods_of_year(RACE, 1)
    assert [(p.start, p.end, p.volume, p.reserved) for p in periods] == [
        (d("2026-01-01"), d("2026-06-30"), 50, {"affordable": 10}),
        (d("2026-07-01"), d("2026-12-31"), 50, {"affordable": 10}),
    ]
