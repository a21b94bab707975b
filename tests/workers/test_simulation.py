"""The what-if simulator: known streams with hand-computed fill dates through
the shipped EV quota shrunk with overrides, carry-over, refusals and over-quota rates,
the affordable reserve, every allocation mode on the same stream, override errors, the
`accord simulate` command line, and agreement of the report with the ledger's read model
of a store that went through the same stream. Each simulation runs the ledger's own
scripts on a private embedded Redis of its own.

Most streams run on CA-CN-EV-TRQ-2026 with `quota.base_volume=20`: quota year 1 holds 20
vehicles, 10 in each half (1 March-31 August, 1 September-28 February), drawn when GAC
issues a permit, and no affordable reserve in year 1 unless an override sets one.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from cli.main import main as accord
from conftest import Accord, HttpServer, in_process
from helpers import IMPORTER, declaration
from rules.catalog import Catalog
from rules.loader import SHIPPED_DIR, parse_pack
from rules.pack import Pack
from rules.quota import periods_of_year, terms_of, terms_on, year_volume
from rules.simulation import (
    AccountShare,
    OverrideError,
    PeriodReport,
    SimulationReport,
    apply_overrides,
    apply_overrides_to_packs,
)
from schemas.declaration import Declaration
from schemas.permit import PermitApplication
from store import RedisStore
from workers import allocation, permits, submission
from workers.evaluation import decide_many
from workers.simulation import run_stream, simulate

TRQ_PATH = SHIPPED_DIR / "ca-cn-ev-trq-2026.yaml"
TRQ_TEXT = TRQ_PATH.read_bytes()
SURTAX_PATH = SHIPPED_DIR / "ca-cn-surtax-2024.yaml"
TEST_PACKS = Path(__file__).resolve().parent.parent / "packs"
SPLIT_PATH = TEST_PACKS / "test-split.yaml"
MODES_PATH = TEST_PACKS / "test-modes.yaml"
TRQ = "CA-CN-EV-TRQ-2026"
SMALL = {"quota.base_volume": "20"}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SECOND_IMPORTER = "987654321RM0001"
THIRD_IMPORTER = "555555555RM0001"


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
    importer: str = IMPORTER,
) -> Declaration:
    """A commercial declaration of `quantity` Chinese EVs (not affordable unless `fob` says)."""
    line = {
        "quantity": str(quantity),
        "value_for_duty": f"{40000 * quantity}.00",
        "fob_unit_price": fob,
        "origin": origin,
    }
    return Declaration.model_validate(
        declaration(
            label,
            lines=[line],
            accepted_at=f"{day}{at}",
            importer={"business_number": importer, "name": f"Importer {importer[:3]}"},
        )
    )


def stream(*entries: tuple[str, int]) -> list[Declaration]:
    return [vehicles(f"d{number}", day, units) for number, (day, units) in enumerate(entries)]


def only(report: SimulationReport, start: str) -> PeriodReport:
    found = [period for period in report.periods if period.start == date.fromisoformat(start)]
    assert len(found) == 1, report.periods
    return found[0]


def d(text: str) -> date:
    return date.fromisoformat(text)


# --- known streams, hand-computed -----------------------------------------------------------


def test_first_half_fills_on_the_date_its_last_permit_is_issued() -> None:
    """Ten vehicles fill the half on the day the last permit is issued, dated in accepted_at's own offset, and refused applications count as rejected units."""
    declarations = [
        vehicles("d1", "2026-03-02", 3),  # 7 left
        vehicles("d2", "2026-03-03", 3),  # 4 left
        vehicles("d3", "2026-03-04", 3),  # 1 left
        vehicles("d4", "2026-03-05", 3),  # 3 > 1: the permit is refused, nothing drawn
        vehicles("d5", "2026-03-06", 1, at="T23:30:00-05:00"),  # 0 left: 7 March in UTC
        vehicles("d6", "2026-03-09", 2),  # refused
    ]
    report = simulate(declarations, [trq()])
    first = only(report, "2026-03-01")
    assert (first.end, first.volume, first.carried_over, first.allocated, first.remaining) == (
        d("2026-08-31"),
        10,
        0,
        10,
        0,
    )
    assert (first.as_of, first.fill_date, first.utilisation) == (
        d("2026-03-09"),
        d("2026-03-06"),
        Decimal("1.0000"),
    )
    assert (first.rejected_declarations, first.rejected_units, first.over_quota_units) == (2, 5, 0)
    assert first.status == "exhausted"
    assert first.permits is not None and first.permits.model_dump() == {
        "issued": 10,
        "used": 10,
        "returned": 0,
        "outstanding": 0,
        "lapsed": 0,
    }
    assert first.timeline == (
        (d("2026-03-02"), 3),
        (d("2026-03-03"), 6),
        (d("2026-03-04"), 9),
        (d("2026-03-06"), 10),
    )
    assert report.outcomes == {"accepted": 4, "rejected": 2, "held": 0}
    assert len(report.periods) == 1


def test_unused_units_carry_into_the_second_half_which_fills_later() -> None:
    """The first half's unused unit carries into the second, and a late first-half application finds it used there."""
    declarations = stream(
        ("2026-03-02", 3),
        ("2026-03-03", 3),
        ("2026-03-04", 3),  # first half: 9 of 10 used, 1 unused
        ("2026-09-01", 3),  # the second half: 10 + 1 carried = 11; 8 left
        ("2026-09-02", 3),  # 5 left
        ("2026-09-03", 3),  # 2 left
        ("2026-09-04", 2),  # 0 left: filled
        ("2026-08-31", 1),  # late: the first half's unit was carried and used since
    )
    report = simulate(declarations, [trq()])
    first, second = only(report, "2026-03-01"), only(report, "2026-09-01")
    assert (first.as_of, first.allocated, first.utilisation) == (
        d("2026-08-31"),
        9,
        Decimal("0.9000"),
    )
    assert first.fill_date is None  # nothing exhausted it within its own dates
    assert (first.rejected_declarations, first.rejected_units) == (1, 1)
    assert (second.end, second.volume, second.carried_over, second.allocated) == (
        d("2027-02-28"),
        10,
        1,
        11,
    )
    assert (second.as_of, second.fill_date, second.utilisation, second.status) == (
        d("2026-09-04"),
        d("2026-09-04"),
        Decimal("1.0000"),
        "exhausted",
    )
    assert report.outcomes == {"accepted": 7, "rejected": 1, "held": 0}


@pytest.mark.parametrize(
    ("overrides", "allocated", "fill_date", "rejected_units", "over_quota_units", "outcomes"),
    [
        # at permit issuance: the 4th application (3 > 1 left) is refused, and so is the 5th
        ({}, 9, None, 6, 0, {"accepted": 3, "rejected": 2, "held": 0}),
        # at declarations with a rate: the 4th is split, 1 in quota and 2 over, which fills
        # the half; the 5th is all over
        ({"quota.drawn_at": "declaration", "quota.over_quota": "mfn"}, 10, d("2026-03-05"), 0, 5,
         {"accepted": 5, "rejected": 0, "held": 0}),
    ],
    ids=["permit-reject", "declaration-rate"],
)  # fmt: skip
def test_refused_permits_reject_and_a_rate_splits(
    overrides: dict[str, str],
    allocated: int,
    fill_date: date | None,
    rejected_units: int,
    over_quota_units: int,
    outcomes: dict[str, int],
) -> None:
    """Over quota, a refused permit rejects the declaration while a rate at declarations splits the line that crosses zero."""
    declarations = stream(*((f"2026-03-0{day}", 3) for day in range(2, 7)))
    report = simulate(declarations, [trq(**overrides)])
    first = only(report, "2026-03-01")
    assert (first.allocated, first.fill_date) == (allocated, fill_date)
    assert (first.rejected_units, first.over_quota_units) == (rejected_units, over_quota_units)
    assert report.outcomes == outcomes


def test_test_pack_without_permits_splits_over_its_rate() -> None:
    """A quota without permits (TEST-SPLIT, 10 a year) fills by splitting, and no permit is applied for."""
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
    assert (year.over_quota_units, year.permits) == (2, None)
    assert report.outcomes == {"accepted": 3, "rejected": 0, "held": 0}


def test_reserve_serves_affordable_vehicles_and_refuses_others_before_the_balance_is_zero() -> None:
    """With 2 of 10 units reserved, general permits stop at 8 and an affordable one takes the reserve first."""
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
        ("2026-06-01", 4),  # second quarter; nothing to carry
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


def test_uncovered_declarations_touch_no_quota() -> None:
    """Lines of another origin, and personal importations under Chapter 98, are evaluated
    but reach no quota period."""
    chapter_98 = Declaration.model_validate(
        declaration(
            "p98",
            import_type="personal",
            accepted_at="2026-03-02T10:00:00-05:00",
            lines=[{"tariff_item": "9804.10.00.00", "quantity": "1"}],
        )
    )
    german = vehicles("de1", "2026-03-02", 2, origin="DE")
    report = simulate([chapter_98, german], [trq()])
    assert report.periods == ()
    assert report.outcomes == {"accepted": 2, "rejected": 0, "held": 0}


def test_personal_importations_apply_for_their_permits_and_draw_the_quota() -> None:
    """A personal importation of an EV in 87.03 applies for its permit like a commercial
    one: its vehicles are drawn from the period and it is accepted."""
    personal = Declaration.model_validate(
        declaration("p1", import_type="personal", accepted_at="2026-03-02T10:00:00-05:00")
    )
    report = simulate([personal], [trq()])
    assert only(report, "2026-03-01").allocated == 2
    assert report.outcomes == {"accepted": 1, "rejected": 0, "held": 0}


def test_the_private_redis_and_its_directory_are_gone_afterwards(tmp_path: Path) -> None:
    """A simulation leaves nothing behind in the directory it ran in."""
    simulate(stream(("2026-03-02", 1)), [trq()], directory=tmp_path)
    assert list(tmp_path.iterdir()) == []


# --- allocation modes -------------------------------------------------------------------------


# one period of 20 a year; A and B ask 12 each on the same day, C asks 6 the next day
MODES_STREAM = (
    ("a", "2026-03-02", 12, IMPORTER),
    ("b", "2026-03-02", 12, SECOND_IMPORTER),
    ("c", "2026-03-03", 6, THIRD_IMPORTER),
)


@pytest.mark.parametrize(
    ("mode", "allocated", "rejected", "outcomes", "permit_figures", "timeline"),
    [
        # A's permit takes 12; B's asks 12 of 8 and is refused; C's takes 6
        ("fcfs", 18, (1, 12), {"accepted": 2, "rejected": 1, "held": 0},
         {"issued": 18, "used": 18, "returned": 0, "outstanding": 0},
         ((d("2026-03-02"), 12), (d("2026-03-03"), 18))),
        # the run of 2 March shares 20 between 12 and 12: 10 each, too few for either
        # shipment; C's run of 3 March finds nothing left
        ("daily_pro_rata", 20, (3, 30), {"accepted": 0, "rejected": 3, "held": 0},
         {"issued": 20, "used": 0, "returned": 0, "outstanding": 20},
         ((d("2026-03-02"), 20),)),
        # equal shares of 20 among three importers: 7, 7, 6; A and B ask more than theirs
        ("importer_allocation", 6, (2, 24), {"accepted": 1, "rejected": 2, "held": 0},
         {"issued": 6, "used": 6, "returned": 0, "outstanding": 0},
         ((d("2026-03-03"), 6),)),
    ],
)  # fmt: skip
def test_the_same_stream_gives_each_allocation_mode_its_own_result(
    mode: str,
    allocated: int,
    rejected: tuple[int, int],
    outcomes: dict[str, int],
    permit_figures: dict[str, int],
    timeline: tuple[tuple[date, int], ...],
) -> None:
    """quota.mode changes the simulation: first come first served, the daily pro-rata run and importer allocations answer the same stream differently."""
    pack = trq(**{"quota.periods_per_year": "1", "quota.mode": mode})
    declarations = [
        vehicles(label, day, units, importer=importer)
        for label, day, units, importer in MODES_STREAM
    ]
    report = simulate(declarations, [pack])
    year = only(report, "2026-03-01")
    assert (year.volume, year.allocated) == (20, allocated)
    assert (year.rejected_declarations, year.rejected_units) == rejected
    assert year.permits is not None and year.permits.model_dump() == {**permit_figures, "lapsed": 0}
    assert year.timeline == timeline
    assert report.outcomes == outcomes
    shares = [(item.business_number, item.initial) for item in report.accounts]
    if mode == "importer_allocation":
        assert shares == [(IMPORTER, 7), (SECOND_IMPORTER, 7), (THIRD_IMPORTER, 6)]
    else:
        assert shares == []


@pytest.mark.parametrize(
    ("measure", "origin", "in_quota", "over_quota", "timeline"),
    [
        # TW, pro rata with a 35% rate (500 a year, shrunk to 10): the run of 2 March
        # grants the 6 and 4 asked; the run of 3 March finds nothing left for 2
        ("TEST-TW-EV-PRORATA", "TW", 10, 2, ((d("2026-03-02"), 10),)),
        # TH, importer allocations (10 a year, 5 each), over quota refused: A's 6 is
        # refused, B's 4 fits its share, A's 2 on 3 March fits the rest of its share
        ("TEST-TH-EV-ALLOC", "TH", 6, 0, ((d("2026-03-02"), 4), (d("2026-03-03"), 6))),
    ],
)  # fmt: skip
def test_modes_at_declarations_run_on_the_test_packs(
    measure: str,
    origin: str,
    in_quota: int,
    over_quota: int,
    timeline: tuple[tuple[date, int], ...],
) -> None:
    """Quotas drawn at declarations wait for their day's pro-rata run, or draw on the importer's assumed share."""
    pack = apply_overrides(
        MODES_PATH.read_bytes(), {f"{measure}:quota.base_volume": "10"}, str(MODES_PATH)
    )
    declarations = [
        vehicles("a", "2026-03-02", 6, origin=origin),
        vehicles("b", "2026-03-02", 4, origin=origin, importer=SECOND_IMPORTER),
        vehicles("c", "2026-03-03", 2, origin=origin),
    ]
    report = simulate(declarations, [pack])
    year = only(report, "2026-01-01")
    assert (year.quota_id, year.allocated, year.over_quota_units) == (measure, in_quota, over_quota)
    assert year.timeline == timeline
    assert report.outcomes["held"] == 0 and "pending_allocation" not in report.outcomes


# --- agreement with the ledger of a store that went through the same stream -------------------


def _by_hand(store: RedisStore, catalog: Catalog, declarations: Sequence[Declaration]) -> None:
    """The stream as the API and the workers would take it, through their workflows:
    each importer applies for a permit where one is needed, each declaration is
    submitted and decided, and each pro-rata day is run once the next day begins (and at
    the end)."""

    def decide(declaration_ids: list[str]) -> None:
        decide_many(store, catalog, declaration_ids)

    last: date | None = None
    for parsed in declarations:
        day = parsed.accepted_on
        if last is None or day > last:
            allocation.run_due(store, catalog, day, decide)
            last = day
        if parsed.lines[0].origin == "CN":
            number = f"P-{parsed.declaration_id}"
            application = PermitApplication(
                permit_number=number,
                business_number=parsed.importer.business_number,
                measure=TRQ,
                quantity=int(parsed.lines[0].quantity),
                issued_on=day,
            )
            permits.apply(store, catalog, application, day)
            line = parsed.lines[0].model_copy(update={"permit_number": number})
            parsed = parsed.model_copy(update={"lines": (line,)})
        created: list[str] = []  # decided here, not by `submit`, which logs a failed send
        submission.submit(store, [parsed], "test", created.extend, parsed.accepted_at)
        decide(created)
    allocation.run_due(store, catalog, None, decide)


@pytest.mark.parametrize(
    ("pack_path", "overrides", "quota_id", "origin"),
    [
        (TRQ_PATH, SMALL, TRQ, "CN"),
        (MODES_PATH, {"TEST-TW-EV-PRORATA:quota.base_volume": "10"}, "TEST-TW-EV-PRORATA", "TW"),
    ],
    ids=["permit-fcfs", "declaration-pro-rata"],
)
def test_report_figures_are_the_ledgers_own(
    store: RedisStore,
    tmp_path: Path,
    pack_path: Path,
    overrides: dict[str, str],
    quota_id: str,
    origin: str,
) -> None:
    """Every figure the report takes from the ledger equals `store.ledger.view` of a store that went through the same stream by the API's and the workers' paths."""
    pack = apply_overrides(pack_path.read_bytes(), overrides, str(pack_path))
    declarations = [
        vehicles(f"s{number}", day, units, origin=origin, importer=importer)
        for number, (day, units, importer) in enumerate(
            [
                ("2026-03-02", 4, IMPORTER),
                ("2026-03-02", 4, SECOND_IMPORTER),
                ("2026-03-03", 3, IMPORTER),
                ("2026-09-01", 2, SECOND_IMPORTER),
                ("2026-09-02", 5, IMPORTER),
            ]
        )
    ]
    report = simulate(declarations, [pack])
    catalog = Catalog(packs=(pack,), current=(pack,))
    _by_hand(store, catalog, declarations)
    found = catalog.measure(quota_id)
    assert found is not None and report.periods
    for period in report.periods:
        assert period.quota_id == quota_id
        view = store.ledger.view(terms_on(found[1], period.start), period.as_of)
        figures = next(item for item in view.periods if item.start == period.start)
        assert (
            period.volume,
            period.carried_over,
            period.allocated,
            period.returned,
            period.remaining,
            period.available,
            period.net_used,
            period.status,
            period.reserved,
            period.reserved_used,
            period.permits,
        ) == (
            figures.volume,
            figures.carried_over,
            figures.used,
            figures.returned,
            figures.remaining,
            figures.available,
            figures.net_used,
            figures.status,
            {sub.name: sub.reserved for sub in figures.sub_quotas},
            {sub.name: sub.used for sub in figures.sub_quotas},
            figures.permits,
        )
    outcomes = {"accepted": 0, "rejected": 0, "held": 0}
    for record in store.get_many([item.declaration_id for item in declarations]):
        assert record.verdict is not None, record.status
        outcomes[json.loads(record.verdict)["outcome"]] += 1
    assert report.outcomes == outcomes


# --- one stream, through `accord simulate` and through the running API ------------------------

# (pack, overrides, quota id, origin): a quota drawn at permit issuance and shared pro rata
# at its day's run; one drawn at declarations and shared pro rata; importer allocations.
ONE_PATH = {
    "permit-pro-rata": (TRQ_PATH, {**SMALL, "quota.mode": "daily_pro_rata"}, TRQ, "CN"),
    "declaration-pro-rata": (
        MODES_PATH, {"TEST-TW-EV-PRORATA:quota.base_volume": "10"}, "TEST-TW-EV-PRORATA", "TW",
    ),
    "importer-allocation": (
        MODES_PATH, {"TEST-TH-EV-ALLOC:quota.base_volume": "10"}, "TEST-TH-EV-ALLOC", "TH",
    ),
}  # fmt: skip
ONE_PATH_STREAM = [  # day, units, importer: each day asks more than its share
    ("2026-03-02", 6, IMPORTER),
    ("2026-03-02", 4, SECOND_IMPORTER),
    ("2026-03-03", 3, IMPORTER),
    ("2026-03-03", 5, SECOND_IMPORTER),
    ("2026-09-02", 2, IMPORTER),
]


def _steady(verdict: str) -> dict[str, Any]:
    """A stored verdict without the time it was made at."""
    body: dict[str, Any] = json.loads(verdict)
    body.pop("as_of")
    return body


def _through_the_api(
    api: Accord, store: RedisStore, quota_id: str, declarations: Sequence[Declaration],
    accounts: Sequence[AccountShare],
) -> None:  # fmt: skip
    """The stream as an administrator and importers give it to a running API: the
    accounts set first; then day by day, each pro-rata day with requests waiting run once
    the next day begins, each permit applied for (and its day run, so that it is issued
    before its declaration is decided), each declaration submitted and decided by the
    workers; and the last days run at the end."""
    with api.client("admin") as client:

        def settled(declaration_id: str, statuses: tuple[str, ...]) -> None:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                answer = client.get(f"/v1/declarations/{declaration_id}", params={"wait": 5})
                if answer.json()["status"] in statuses:
                    return
                time.sleep(0.02)
            raise AssertionError(f"{declaration_id} did not become {' or '.join(statuses)}")

        def run_pending(before: date | None) -> None:
            for day in store.ledger.pro_rata_days(quota_id):
                if before is None or day < before:
                    answer = client.post(f"/v1/quotas/{quota_id}/runs", json={"date": str(day)})
                    assert answer.status_code == 200, answer.text
                    for declaration_id in answer.json()["declarations"]:
                        settled(declaration_id, ("decided",))

        for share in accounts:
            answer = client.post(f"/v1/quotas/{quota_id}/allocations", json={
                "quota_year": share.quota_year, "business_number": share.business_number,
                "initial": share.initial,
            })  # fmt: skip
            assert answer.status_code == 200, answer.text
        for day in sorted({item.accepted_on for item in declarations}):
            run_pending(day)
            of_the_day = [item for item in declarations if item.accepted_on == day]
            for item in of_the_day:
                for line in item.lines:
                    if line.permit_number is None:
                        continue
                    answer = client.post("/v1/permits", json={
                        "permit_number": line.permit_number, "measure": quota_id,
                        "business_number": item.importer.business_number,
                        "quantity": int(line.quantity), "issued_on": str(day),
                    })  # fmt: skip
                    assert answer.status_code in (201, 202, 409), answer.text
            if any(line.permit_number for item in of_the_day for line in item.lines):
                run_pending(day + timedelta(days=1))
            for item in of_the_day:
                body = json.loads(item.canonical_json())
                assert client.post("/v1/declarations", json=body).status_code == 202
                settled(item.declaration_id, ("decided", "pending_allocation"))
        run_pending(None)


@pytest.mark.parametrize("case", ONE_PATH, ids=list(ONE_PATH))
def test_simulation_and_the_api_answer_one_stream_alike(
    case: str, store: RedisStore, http_server: HttpServer, redis_url: str, tmp_path: Path
) -> None:
    """One stream of permits and declarations, simulated and given to a running API, ends in the same verdicts, permits, accounts and ledger: the simulation runs the production workflows (submission, permits, pro-rata runs, allocations)."""
    pack_path, overrides, quota_id, origin = ONE_PATH[case]
    pack = apply_overrides(pack_path.read_bytes(), overrides, str(pack_path))
    catalog = Catalog(packs=(pack,), current=(pack,))
    declarations = []
    for number, (day, units, importer) in enumerate(ONE_PATH_STREAM):
        item = vehicles(f"one-{case}-{number}", day, units, origin=origin, importer=importer)
        if origin == "CN":  # the simulation applies for the permit each line names
            line = item.lines[0].model_copy(update={"permit_number": f"P-{number}"})
            item = item.model_copy(update={"lines": (line,)})
        declarations.append(item)
    report = run_stream(store, catalog, declarations)
    with in_process(http_server, redis_url, tmp_path, catalog) as api:
        assert api.api_store is not None
        production = api.api_store
        _through_the_api(api, production, quota_id, declarations, report.accounts)
        ids = [item.declaration_id for item in declarations]
        simulated = {record.declaration_id: record for record in store.get_many(ids)}
        served = {record.declaration_id: record for record in production.get_many(ids)}
        for declaration_id in ids:
            verdict, answer = simulated[declaration_id].verdict, served[declaration_id].verdict
            assert verdict is not None and answer is not None, declaration_id
            assert _steady(verdict) == _steady(answer), declaration_id
        numbers = [(quota_id, f"P-{number}") for number in range(len(declarations))]
        applied = store.ledger.permits(numbers)
        assert applied == production.ledger.permits(numbers)
        assert bool(applied) == (origin == "CN")
        measure = catalog.measure(quota_id)
        assert measure is not None
        for year in (1, 2):  # the stream's quota year, and the next, which it left alone
            terms = terms_of(measure[1], year)
            holders = store.ledger.account_holders(quota_id, year)
            assert holders == production.ledger.account_holders(quota_id, year)
            simulated_year = store.ledger.view(terms, d("2026-09-02"), accounts=holders)
            served_year = production.ledger.view(terms, d("2026-09-02"), accounts=holders)
            assert simulated_year.model_copy(update={"events": None}) == served_year.model_copy(
                update={"events": None}
            )
            assert simulated_year.periods[0].net_used > 0 or year == 2
            assert [
                (event.type, event.quantity, event.on, event.declaration_id, event.permit_number)
                for event in simulated_year.events.events
            ] == [
                (event.type, event.quantity, event.on, event.declaration_id, event.permit_number)
                for event in served_year.events.events
            ]


# --- overrides ---------------------------------------------------------------------------------


@pytest.mark.parametrize("growth", ["10%", "0.10"])
def test_growth_override_takes_a_percentage_or_a_fraction(growth: str) -> None:
    """quota.growth=10% and quota.growth=0.10 both make year 2 hold 20 x 1.10 = 22 units."""
    measure = trq(**{"quota.growth": growth}).measures[0]
    assert measure.quota is not None and measure.quota.growth == Decimal("0.1")
    assert year_volume(measure.quota, 2) == 22
    assert [period.volume for period in periods_of_year(measure, 2)] == [11, 11]


@pytest.mark.parametrize(("share", "exact"), [("7/30", (7, 30)), ("25%", (1, 4)), ("0.25", (1, 4))])
def test_share_override_takes_an_exact_fraction_a_percentage_or_a_decimal(
    share: str, exact: tuple[int, int]
) -> None:
    """quota.sub_quotas.affordable.shares.3 takes 7/30 as it is, and 25% or 0.25 as 1/4."""
    quota = trq(**{"quota.sub_quotas.affordable.shares.3": share}).measures[0].quota
    assert quota is not None
    assert quota.sub_quotas[0].share(3) == Fraction(*exact)


def test_measure_scoped_override_and_several_fields() -> None:
    """MEASURE_ID:quota.… changes one measure; fields, sub-quota shares and prices all reach the model, in any order of keys."""
    pack = apply_overrides(
        TRQ_TEXT,
        {
            f"{TRQ}:quota.base_volume": "60000",
            "quota.over_quota": "mfn",  # refused at permit issuance, and the next key
            "quota.drawn_at": "declaration",  # makes the whole set loadable
            "quota.critical_threshold": "75%",
            "quota.mode": "daily_pro_rata",
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
    assert (quota.mode, quota.drawn_at) == ("daily_pro_rata", "declaration")
    affordable = quota.sub_quotas[0]
    assert (affordable.share(2), affordable.share(6), affordable.max_fob_unit_price) == (
        Decimal("0.2"),
        Decimal("0.6"),
        Decimal("40000.00"),
    )
    assert quota.permits.validity_days == 30
    assert pack.sha256 != parse_pack(TRQ_TEXT, "original").sha256
    assert parse_pack(pack.text, "again").sha256 == pack.sha256


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
        ("quota.sub_quotas.affordable.shares.3", "7/0", ["shares.3", "not a fraction"]),
        ("quota.base_volume", "many", ["quota.base_volume", "not a whole number"]),
        ("quota.base_volume", "-5", ["quota.base_volume", "refused", "greater than 0"]),
        ("quota.periods_per_year", "5", ["quota.periods_per_year", "refused"]),
        ("quota.mode", "lottery", ["quota.mode", "refused"]),
        ("quota.over_quota", "mfn", ["quota.over_quota", "refused", "permit issuance"]),
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


def main(argv: Sequence[str]) -> int:
    """`accord simulate ARGV`, as the command line runs it."""
    return accord(["simulate", *argv])


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


def test_cli_mode_override_changes_the_result(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--set quota.mode=importer_allocation` reaches the simulation: the same file answers otherwise."""
    source = jsonl(
        tmp_path / "stream.jsonl",
        [vehicles(label, day, units, importer=bn) for label, day, units, bn in MODES_STREAM],
    )
    reports = {}
    for mode in ("fcfs", "daily_pro_rata", "importer_allocation"):
        args = [str(source), "--pack", str(TRQ_PATH), "--json", "--chart", str(tmp_path / "c.png")]
        sets = ["quota.base_volume=20", "quota.periods_per_year=1", f"quota.mode={mode}"]
        assert main([*args, *(item for each in sets for item in ("--set", each))]) == 0
        reports[mode] = json.loads(capsys.readouterr().out)
    allocated = {mode: report["periods"][0]["allocated"] for mode, report in reports.items()}
    assert allocated == {"fcfs": 18, "daily_pro_rata": 20, "importer_allocation": 6}


def test_cli_json_from_stdin_with_the_shipped_packs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """From standard input with the shipped packs, --json prints the report, and without --chart no file appears in the working directory."""
    monkeypatch.chdir(tmp_path)
    text = "".join(item.model_dump_json() + "\n\n" for item in stream(*KNOWN))
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
    assert main(["-", "--set", "quota.base_volume=20", "--json"]) == 0
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert report["outcomes"] == {"accepted": 4, "rejected": 0, "held": 0}
    [period] = report["periods"]
    assert (period["start"], period["fill_date"], period["utilisation"], period["status"]) == (
        "2026-03-01",
        "2026-03-05",
        "1.0000",
        "exhausted",
    )
    assert "chart" not in report
    assert list(tmp_path.iterdir()) == []


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
