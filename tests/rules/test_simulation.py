"""The what-if simulator (issue 7): known streams with hand-computed fill dates through
the shipped EV quota shrunk with overrides, carry-over, reject and rate modes, the
affordable reserve, the in-memory ledger's FCFS semantics, override errors, the
`accord simulate` command line, and agreement of `MemoryLedger` with the Redis ledger.

Most streams run on CA-CN-EV-TRQ-2026 with `quota.base_volume=20`: quota year 1 holds 20
vehicles, 10 in each half (1 March-31 August, 1 September-28 February), and no affordable
reserve in year 1 unless an override sets one.
"""

from __future__ import annotations

import io
import json
import random
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from helpers import IMPORTER, declaration, long_permit, vin
from helpers import quota_request as request
from rules.catalog import Catalog
from rules.pack import SHIPPED_DIR, Measure, Pack, parse_pack
from rules.quota import periods_of_year, year_volume
from rules.simulation import (
    MemoryLedger,
    OverrideError,
    PeriodReport,
    SimulationReport,
    apply_overrides,
    apply_overrides_to_packs,
    simulate,
    with_synthetic_permits,
)
from schemas.declaration import Declaration
from schemas.quota import QuotaRequest
from service.simulate import main
from store.redis_store import RedisStore

TRQ_PATH = SHIPPED_DIR / "ca-cn-ev-trq-2026.yaml"
TRQ_TEXT = TRQ_PATH.read_bytes()
SURTAX_PATH = SHIPPED_DIR / "ca-cn-surtax-2024.yaml"
TEST_PACKS = Path(__file__).resolve().parent.parent / "packs"
SPLIT_PATH = TEST_PACKS / "test-split.yaml"
TRQ = "CA-CN-EV-TRQ-2026"
SMALL = {"quota.base_volume": "20"}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def trq(**overrides: str) -> Pack:
    """The shipped EV quota pack with the given quota overrides (dots for the keys)."""
    return apply_overrides(TRQ_TEXT, {**SMALL, **overrides}, str(TRQ_PATH))


def vehicles(
    label: str,
    day: str,
    quantity: int,
    *,
    fob: str = "50000.00",
    origin: str = "CN",
    at: str = "T10:00:00-05:00",
) -> Declaration:
    """A commercial declaration of `quantity` Chinese EVs (not affordable unless `fob` says)."""
    line = {
        "quantity": str(quantity),
        "value_for_duty": f"{40000 * quantity}.00",
        "fob_unit_price": fob,
        "origin": origin,
    }
    return Declaration.model_validate(declaration(label, lines=[line], accepted_at=f"{day}{at}"))


def stream(*entries: tuple[str, int]) -> list[Declaration]:
    return [vehicles(f"d{number}", day, units) for number, (day, units) in enumerate(entries)]


def only(report: SimulationReport, start: str) -> PeriodReport:
    found = [period for period in report.periods if period.start == date.fromisoformat(start)]
    assert len(found) == 1, report.periods
    return found[0]


def d(text: str) -> date:
    return date.fromisoformat(text)


# --- known streams, hand-computed -----------------------------------------------------------


def test_first_half_fills_on_the_acceptance_date_of_its_last_unit() -> None:
    """Ten vehicles fill on the day the last one is taken, dated in accepted_at's own offset."""
    declarations = [
        vehicles("d1", "2026-03-02", 3),  # 7 left
        vehicles("d2", "2026-03-03", 3),  # 4 left
        vehicles("d3", "2026-03-04", 3),  # 1 left
        vehicles("d4", "2026-03-05", 3),  # 3 > 1: refused whole (over_quota: reject)
        vehicles("d5", "2026-03-06", 1, at="T23:30:00-05:00"),  # 0 left: 7 March in UTC
        vehicles("d6", "2026-03-09", 2),  # refused
    ]
    report = simulate(declarations, [trq()])
    first = only(report, "2026-03-01")
    assert (first.end, first.volume, first.carried_over, first.allocated) == (
        d("2026-08-31"),
        10,
        0,
        10,
    )
    assert first.fill_date == d("2026-03-06")
    assert first.utilisation == Decimal("1.0000")
    assert (first.rejected_declarations, first.rejected_units, first.over_quota_units) == (2, 5, 0)
    assert first.status == "exhausted"
    assert first.timeline == (
        (d("2026-03-02"), 3),
        (d("2026-03-03"), 6),
        (d("2026-03-04"), 9),
        (d("2026-03-06"), 10),
    )
    assert report.outcomes == {"accepted": 4, "rejected": 2, "held": 0}
    assert len(report.periods) == 1


def test_unused_units_carry_into_the_second_half_which_fills_later() -> None:
    """The first half's unused unit carries into the second, and a late first-half entry is refused."""
    declarations = stream(
        ("2026-03-02", 3),
        ("2026-03-03", 3),
        ("2026-03-04", 3),  # first half: 9 of 10 used, 1 unused
        ("2026-09-01", 3),  # opens the second half: 10 + 1 carried = 11; 8 left
        ("2026-09-02", 3),  # 5 left
        ("2026-09-03", 3),  # 2 left
        ("2026-09-04", 2),  # 0 left: filled
        ("2026-08-31", 1),  # evaluated late: the first half closed when the second opened
    )
    report = simulate(declarations, [trq()])
    first, second = only(report, "2026-03-01"), only(report, "2026-09-01")
    assert (first.allocated, first.utilisation, first.fill_date) == (9, Decimal("0.9000"), None)
    assert (first.status, first.rejected_declarations, first.rejected_units) == ("closed", 1, 1)
    assert (second.end, second.volume, second.carried_over, second.allocated) == (
        d("2027-02-28"),
        10,
        1,
        11,
    )
    assert second.fill_date == d("2026-09-04")
    assert second.utilisation == Decimal("1.0000")
    assert report.outcomes == {"accepted": 7, "rejected": 1, "held": 0}


@pytest.mark.parametrize(
    ("overrides", "allocated", "fill_date", "rejected_units", "over_quota_units", "outcomes"),
    [
        # reject: the 4th declaration (3 > 1 left) is refused whole, and so is the 5th
        ({}, 9, None, 6, 0, {"accepted": 3, "rejected": 2, "held": 0}),
        # rate: the 4th is split, 1 in quota and 2 over, which fills the half; the 5th is all over
        ({"quota.over_quota": "mfn"}, 10, d("2026-03-05"), 0, 5, {"accepted": 5, "rejected": 0, "held": 0}),
    ],
    ids=["reject", "rate"],
)  # fmt: skip
def test_reject_mode_refuses_and_rate_mode_splits(
    overrides: dict[str, str],
    allocated: int,
    fill_date: date | None,
    rejected_units: int,
    over_quota_units: int,
    outcomes: dict[str, int],
) -> None:
    """Over quota, 'reject' refuses the declaration while a rate splits the line that crosses zero."""
    declarations = stream(*((f"2026-03-0{day}", 3) for day in range(2, 7)))
    report = simulate(declarations, [trq(**overrides)])
    first = only(report, "2026-03-01")
    assert (first.allocated, first.fill_date) == (allocated, fill_date)
    assert (first.rejected_units, first.over_quota_units) == (rejected_units, over_quota_units)
    assert report.outcomes == outcomes


def test_test_pack_without_permits_splits_over_its_rate() -> None:
    """A quota without permits (TEST-SPLIT, 10 a year) fills by splitting, with no synthetic permit."""
    pack = apply_overrides(SPLIT_PATH.read_bytes(), {}, str(SPLIT_PATH))
    declarations = [
        vehicles(f"k{day}", f"2026-03-0{day}", 4, origin="KR") for day in (2, 3, 4)
    ]  # 4 + 4 + 2 in quota, 2 over: filled on 4 March
    report = simulate(declarations, [pack])
    year = only(report, "2026-01-01")
    assert (year.end, year.volume, year.allocated, year.fill_date) == (
        d("2026-12-31"),
        10,
        10,
        d("2026-03-04"),
    )
    assert year.over_quota_units == 2
    assert with_synthetic_permits(declarations[0], [pack]) == (declarations[0], {})


def test_reserve_serves_affordable_vehicles_and_refuses_others_before_the_balance_is_zero() -> None:
    """With 2 of 10 units reserved, general entries stop at 8 and an affordable one takes the reserve first."""
    pack = trq(**{"quota.sub_quotas.affordable.shares.1": "20%"})  # floor(20 x 20%) = 4, 2 a half
    declarations = [
        vehicles("g1", "2026-03-02", 3),  # general 8 -> 5
        vehicles("g2", "2026-03-03", 3),  # general 5 -> 2 (balance 4)
        vehicles("g3", "2026-03-04", 3),  # 3 > 2 general units: refused, though 4 remain
        vehicles("a1", "2026-03-05", 3, fob="30000.00"),  # 2 reserved + 1 general: 1 left
        vehicles("g4", "2026-03-06", 1),  # the last general unit: filled
    ]
    report = simulate(declarations, [pack])
    first = only(report, "2026-03-01")
    assert (first.reserved, first.reserved_used) == ({"affordable": 2}, {"affordable": 2})
    assert (first.allocated, first.fill_date, first.rejected_units) == (10, d("2026-03-06"), 3)
    assert report.outcomes == {"accepted": 4, "rejected": 1, "held": 0}


def test_quarterly_periods_from_an_override_fill_separately() -> None:
    """With four periods a year each quarter holds 5 of 20 units and fills on its own date."""
    pack = trq(**{"quota.periods_per_year": "4"})
    declarations = stream(
        ("2026-03-02", 3),
        ("2026-03-03", 2),  # first quarter: 5 of 5, filled
        ("2026-06-01", 4),  # second quarter opens; nothing to carry
        ("2026-06-02", 1),  # filled
    )
    report = simulate(declarations, [pack])
    first, second = only(report, "2026-03-01"), only(report, "2026-06-01")
    assert (first.end, first.volume, first.fill_date) == (d("2026-05-31"), 5, d("2026-03-03"))
    assert (second.end, second.volume, second.carried_over, second.fill_date) == (
        d("2026-08-31"),
        5,
        0,
        d("2026-06-02"),
    )


def test_repeated_declaration_id_is_simulated_once() -> None:
    """A declaration id that comes again is counted once, as the API's idempotency key makes it."""
    again = vehicles("same", "2026-03-02", 3)
    report = simulate([again, again, vehicles("other", "2026-03-03", 3)], [trq()])
    assert (only(report, "2026-03-01").allocated, report.declarations, report.duplicates) == (
        6,
        2,
        1,
    )


def test_personal_and_uncovered_declarations_touch_no_quota() -> None:
    """Personal imports and lines of another origin are evaluated but reach no quota period."""
    personal = Declaration.model_validate(
        declaration("p1", import_type="personal", accepted_at="2026-03-02T10:00:00-05:00")
    )
    german = vehicles("de1", "2026-03-02", 2, origin="DE")
    report = simulate([personal, german], [trq()])
    assert report.periods == ()
    assert report.outcomes == {"accepted": 2, "rejected": 0, "held": 0}


def test_synthetic_permits_cover_every_commercial_quota_line() -> None:
    """A line without a permit gets a synthetic one; a named permit keeps its number, for all its lines."""
    body = declaration(
        "perm",
        accepted_at="2026-03-02T10:00:00-05:00",
        lines=[{"quantity": "2"}, {"quantity": "3", "permit_number": "GAC-7"}, {"quantity": "1", "permit_number": "GAC-7"}],
    )  # fmt: skip
    permitted, permits = with_synthetic_permits(Declaration.model_validate(body), [trq()])
    assert [line.permit_number for line in permitted.lines] == ["SIMULATED-1", "GAC-7", "GAC-7"]
    assert {number: permit.quantity for number, permit in permits.items()} == {
        "SIMULATED-1": 2,
        "GAC-7": 4,
    }
    permit = permits["GAC-7"]
    assert (permit.measure, permit.business_number) == (TRQ, IMPORTER)
    assert (permit.issued_on, permit.expires_on) == (d("2026-03-02"), d("2026-05-01"))


# --- the in-memory ledger ---------------------------------------------------------------------


RACE = "TEST-JP-EV-TRQ"  # tests/packs/test-race.yaml: halves of 50, 10 reserved in each
H1, H2 = date(2026, 3, 2), date(2026, 8, 3)


@pytest.fixture
def race(catalog: Catalog) -> Measure:
    found = catalog.measure(RACE)
    assert found is not None
    return found[1]


def test_memory_ledger_applies_all_lines_or_none(race: Measure) -> None:
    """A declaration whose second line does not fit consumes nothing, its first line not applied."""
    ledger = MemoryLedger()
    refused = ledger.allocate(
        "both", [request(race, H1, 30, line=1), request(race, H1, 11, line=2)]
    )  # 40 general units: 30 fit, 11 more do not
    assert not refused.applied
    assert [(line.status, line.in_quota) for line in refused.lines] == [
        ("not_applied", 0),
        ("quota_exhausted", 0),
    ]
    assert ledger.periods()[0].allocated == 0
    assert ledger.allocate("both", []) == refused  # the first answer stands


def test_memory_ledger_carries_general_and_reserved_units_separately(race: Measure) -> None:
    """The first half's unused general and reserved units carry into the second half's own pools."""
    ledger = MemoryLedger()
    assert ledger.allocate("h1", [request(race, H1, 35)]).applied  # 5 general + 10 reserved left
    assert not ledger.allocate("h2-big", [request(race, H2, 46)]).applied  # general: 40 + 5
    opened = ledger.period(RACE, "2026-07-01")
    assert opened is not None
    assert (opened.carried, dict(opened.reserved_carried)) == (15, {"affordable": 10})
    assert opened.reserve_left("affordable") == 20
    assert ledger.period(RACE, "2026-01-01") is not None
    assert ledger.periods()[0].status == "closed"
    fitted = ledger.allocate("h2", [request(race, H2, 47, affordable=True)])
    assert [(line.status, line.reserved_used, line.sub_quota) for line in fitted.lines] == [
        ("allocated", 20, "affordable")
    ]


def test_memory_ledger_finds_a_period_closed_once_a_later_one_opened(race: Measure) -> None:
    """An untouched first half carries whole into the second, and a late entry for it finds it closed."""
    ledger = MemoryLedger()
    assert ledger.allocate("h2", [request(race, H2, 1)]).applied
    second = ledger.period(RACE, "2026-07-01")
    assert second is not None and second.carried == 50
    late = ledger.allocate("late", [request(race, H1, 1)])
    assert [line.status for line in late.lines] == ["quota_exhausted"]
    split = ledger.allocate("late-rate", [request(race, H1, 2, over_quota="rate")])
    assert [(line.status, line.over_quota) for line in split.lines] == [("over_quota", 2)]
    assert ledger.period(RACE, "2026-01-01") is None


def test_memory_ledger_counts_a_vin_once_per_quota(race: Measure) -> None:
    """A VIN already allocated refuses a later declaration, and a refused one registers none."""
    ledger = MemoryLedger()
    first = vin(1)
    assert ledger.allocate("a", [request(race, H1, 1, vins=[first])]).applied
    again = ledger.allocate("b", [request(race, H1, 2, vins=[vin(2), first])])
    assert [line.status for line in again.lines] == ["vin_already_used"]
    assert (ledger.vin_owner(RACE, first), ledger.vin_owner(RACE, vin(2))) == ("a", None)


def test_memory_ledger_counts_permits_only_when_given_them(race: Measure) -> None:
    """With a permit registry a permit runs out as in Redis; without one, permits are not counted."""
    counted = MemoryLedger(permits={"P-1": 3})
    assert counted.allocate("a", [request(race, H1, 2, permit="P-1")]).applied
    refused = counted.allocate("b", [request(race, H1, 2, permit="P-1")])
    assert [line.status for line in refused.lines] == ["permit_exhausted"]
    assert counted.permit_used("P-1") == 2
    assert MemoryLedger().allocate("c", [request(race, H1, 9, permit="P-1")]).applied


# --- overrides ---------------------------------------------------------------------------------


@pytest.mark.parametrize("growth", ["10%", "0.10"])
def test_growth_override_takes_a_percentage_or_a_fraction(growth: str) -> None:
    """quota.growth=10% and quota.growth=0.10 both make year 2 hold 20 x 1.10 = 22 units."""
    measure = trq(**{"quota.growth": growth}).measures[0]
    assert measure.quota is not None and measure.quota.growth == Decimal("0.1")
    assert year_volume(measure.quota, 2) == 22
    assert [period.volume for period in periods_of_year(measure, 2)] == [11, 11]


def test_measure_scoped_override_and_several_fields() -> None:
    """MEASURE_ID:quota.… changes one measure; fields, sub-quota shares and prices all reach the model."""
    pack = apply_overrides(
        TRQ_TEXT,
        {
            f"{TRQ}:quota.base_volume": "60000",
            "quota.over_quota": "mfn",
            "quota.critical_threshold": "75%",
            "quota.sub_quotas.affordable.shares.2": "20%",
            "quota.sub_quotas.affordable.shares.6": "60%",
            "quota.sub_quotas.affordable.max_fob_unit_price": "40000.00",
            "quota.permits.validity_days": "30",
        },
    )
    quota = pack.measures[0].quota
    assert quota is not None and quota.permits is not None
    assert (quota.base_volume, quota.over_quota, quota.critical_threshold) == (
        60000,
        "mfn",
        Decimal("0.75"),
    )
    affordable = quota.sub_quotas[0]
    assert (affordable.share(2), affordable.share(6), affordable.max_fob_unit_price) == (
        Decimal("0.2"),
        Decimal("0.6"),
        Decimal("40000.00"),
    )
    assert quota.permits.validity_days == 30
    assert pack.sha256 != parse_pack(TRQ_TEXT, "original").sha256


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("quota.grwth", "10%", ["quota.grwth", "unknown path"]),
        ("rates.mfn.rate", "7%", ["rates.mfn.rate", "unknown path"]),
        ("quota", "1", ["unknown path"]),
        ("quota.sub_quotas.cheap.shares.1", "5%", ["quota.sub_quotas.cheap", "affordable"]),
        ("quota.sub_quotas.affordable.shares.two", "5%", ["shares.two", "not a number"]),
        ("quota.sub_quotas.affordable", "5%", ["quota.sub_quotas.affordable", "whole item"]),
        ("quota.sub_quotas", "none", ["quota.sub_quotas", "not a single value"]),
        ("quota.base_volume.x", "1", ["quota.base_volume.x", "single value"]),
        ("quota.growth", "lots", ["quota.growth", "not a rate"]),
        ("quota.base_volume", "many", ["quota.base_volume", "not a whole number"]),
        ("quota.base_volume", "-5", ["quota.base_volume", "refused", "greater than 0"]),
        ("quota.periods_per_year", "5", ["quota.periods_per_year", "refused"]),
        ("quota.over_quota", "penalty", ["quota.over_quota", "'reject' or the name of a rate"]),
        ("NOPE-1:quota.growth", "10%", ["NOPE-1", "no measure"]),
    ],
)
def test_bad_override_is_an_error_naming_its_path(key: str, value: str, words: list[str]) -> None:
    """An override with an unknown path or a refused value raises an error that names the path."""
    with pytest.raises(OverrideError) as caught:
        apply_overrides(TRQ_TEXT, {key: value})
    assert caught.value.path == key
    for word in words:
        assert word in str(caught.value)


def test_overrides_across_packs_skip_packs_without_a_quota() -> None:
    """Plain quota keys change every pack with a quota and leave the surtax pack as it is."""
    texts = [(SURTAX_PATH.read_bytes(), str(SURTAX_PATH)), (TRQ_TEXT, str(TRQ_PATH))]
    surtax, ev = apply_overrides_to_packs(texts, SMALL)
    assert surtax.sha256 == parse_pack(texts[0][0], "surtax").sha256
    assert ev.measures[0].quota is not None and ev.measures[0].quota.base_volume == 20
    with pytest.raises(OverrideError, match="no measure NOPE-1"):
        apply_overrides_to_packs(texts, {"NOPE-1:quota.growth": "1%"})
    with pytest.raises(OverrideError, match="no measure with a quota"):
        apply_overrides_to_packs(texts[:1], SMALL)
    with pytest.raises(OverrideError, match="no measure of pack"):
        apply_overrides(texts[0][0], SMALL)


# --- the command line ----------------------------------------------------------------------------


def jsonl(path: Path, declarations: Sequence[Declaration]) -> Path:
    path.write_text("".join(item.model_dump_json() + "\n" for item in declarations))
    return path


KNOWN = [("2026-03-02", 3), ("2026-03-03", 3), ("2026-03-04", 3), ("2026-03-05", 1)]


def test_cli_prints_the_table_and_writes_a_png(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`accord simulate` prints one row per period with its fill date and writes a PNG chart."""
    source = jsonl(tmp_path / "stream.jsonl", stream(*KNOWN, ("2026-03-06", 2)))
    chart = tmp_path / "fill.png"
    code = main(
        [str(source), "--pack", str(TRQ_PATH), "--set", "quota.base_volume=20", "--chart", str(chart)]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == [
        "quota", "period", "volume", "carried", "allocated", "utilisation", "fill", "date",
        "rejected", "units", "over", "quota",
    ]  # fmt: skip
    assert lines[1].split() == [
        TRQ, "2026-03-01..2026-08-31", "10", "0", "10", "100.0%", "2026-03-05", "2", "0",
    ]  # fmt: skip
    assert "declarations: 5 (accepted 4, rejected 1, held 0)" in out
    assert chart.read_bytes().startswith(PNG_SIGNATURE)


def test_cli_json_from_stdin_with_the_shipped_packs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """From standard input with the shipped packs, --json prints the report and the chart lands in simulation.png."""
    monkeypatch.chdir(tmp_path)
    text = "".join(item.model_dump_json() + "\n\n" for item in stream(*KNOWN))
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    assert main(["-", "--set", "quota.base_volume=20", "--json"]) == 0
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert report["outcomes"] == {"accepted": 4, "rejected": 0, "held": 0}
    [period] = report["periods"]
    assert (period["start"], period["fill_date"], period["utilisation"]) == (
        "2026-03-01",
        "2026-03-05",
        "1.0000",
    )
    assert (tmp_path / "simulation.png").read_bytes().startswith(PNG_SIGNATURE)


@pytest.mark.parametrize(
    ("content", "extra", "words"),
    [
        (None, [], ["cannot read"]),
        ("{not json\n", [], ["line 1", "not JSON"]),
        ('{"declaration_id": "x"}\n', [], ["line 1", "importer"]),
        ("", ["--set", "quota.grwth=1"], ["quota.grwth", "unknown path"]),
        ("", ["--set", "quota.growth"], ["KEY=VALUE"]),
        ("", ["--pack", "/nonexistent/pack.yaml"], ["/nonexistent/pack.yaml"]),
        ("", ["--pack", str(TEST_PACKS.parent / "conftest.py")], ["conftest.py"]),
        ("", ["--bogus"], []),
    ],
    ids=["missing-file", "bad-json", "bad-declaration", "bad-set", "set-without-value",
         "missing-pack", "not-a-pack", "bad-option"],
)  # fmt: skip
def test_cli_bad_input_exits_2_with_a_message(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str | None,
    extra: list[str],
    words: list[str],
) -> None:
    """A missing or malformed file, a bad --set or pack, or a bad option exits 2 and says why."""
    source = tmp_path / "stream.jsonl"
    if content is not None:
        source.write_text(content)
    chart = tmp_path / "chart.png"
    assert main([str(source), "--chart", str(chart), *extra]) == 2
    err = capsys.readouterr().err
    for word in words:
        assert word in err
    assert not chart.exists()


# --- agreement with the real ledger ----------------------------------------------------------------


RACE_DAYS = (date(2026, 3, 2), date(2026, 8, 3), date(2027, 2, 1), date(2027, 8, 2))
RACE_PERMITS = {"P-0": 6, "P-1": 12, "P-2": 400}
VIN_POOL = tuple(vin(serial) for serial in range(60))


def random_stream(
    measure: Measure, seed: int, over_quota: str
) -> list[tuple[str, list[QuotaRequest]]]:
    """Declarations of 1-3 lines moving through four periods, with late arrivals, affordable
    lines, permits, reused VINs and redeliveries of the same declaration."""
    rng = random.Random(seed)
    declarations: list[tuple[str, list[QuotaRequest]]] = []
    for number in range(100):
        # a short first period leaves units to carry over; the others overflow
        now = sum(number >= start for start in (4, 40, 70))
        day = RACE_DAYS[rng.randrange(now + 1) if rng.random() < 0.1 else now]
        lines = [
            request(
                measure,
                day,
                rng.randint(1, 8),
                line=line,
                affordable=rng.random() < 0.4,
                over_quota=over_quota,
                permit=rng.choice([None, None, None, None, *RACE_PERMITS]),
                vins=rng.sample(VIN_POOL, rng.choice([0, 0, 0, 0, 1, 2])),
            )
            for line in range(1, rng.randint(1, 3) + 1)
        ]
        declarations.append((f"r{seed}-{number}", lines))
        if rng.random() < 0.05:
            declarations.append((f"r{seed}-{number}", lines))
    return declarations


@pytest.mark.parametrize("over_quota", ["reject", "rate"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_memory_ledger_agrees_with_the_redis_ledger(
    store: RedisStore, race: Measure, seed: int, over_quota: str
) -> None:
    """For a seeded random stream, MemoryLedger answers every declaration line by line as allocate.lua does."""
    for number, quantity in RACE_PERMITS.items():
        assert store.add_permit(long_permit(number, quantity, RACE))
    memory = MemoryLedger(permits=RACE_PERMITS)
    reserve_used = False
    statuses: set[str] = set()
    for declaration_id, requests in random_stream(race, seed, over_quota):
        expected = store.allocate(declaration_id, requests)
        got = memory.allocate(declaration_id, requests)
        assert got.applied == expected.applied, declaration_id
        assert len(got.lines) == len(expected.lines), declaration_id
        for mine, real in zip(got.lines, expected.lines, strict=True):
            assert mine == real, declaration_id
        assert got.balances == expected.balances, declaration_id
        statuses.update(line.status for line in expected.lines)
        reserve_used = reserve_used or any(line.reserved_used for line in expected.lines)
    stored = store.quota_periods(RACE)
    assert sorted(stored) == [item.period.key for item in memory.periods()]
    for item in memory.periods():
        fields = stored[item.period.key]
        assert (
            int(fields["volume"]),
            int(fields["carried"]),
            int(fields["allocated"]),
            int(fields["reserved_carried:affordable"]),
            int(fields["reserved_used:affordable"]),
            fields["status"],
        ) == (
            item.period.volume,
            item.carried,
            item.allocated,
            item.reserved_carried["affordable"],
            item.reserved_used["affordable"],
            item.status,
        )
    for number in RACE_PERMITS:
        permit = store.permit(number)
        assert permit is not None and permit.used == memory.permit_used(number)
    # the stream is worth comparing only if it reached the refusals as well as the grants
    assert {"allocated", "not_applied", "permit_exhausted", "vin_already_used"} <= statuses
    assert ("quota_exhausted" if over_quota == "reject" else "split") in statuses
    assert reserve_used and any(item.carried for item in memory.periods())
