"""The strict rule-pack loader: broken packs are refused with an error naming the file
and the key; the shipped and test packs load; content hashes, versions and overlaps.

Each file in broken/ starts with `# expect: <words>`: the words the PackError message
must contain (usually the key path and the problem).
"""

from __future__ import annotations

import hashlib
from datetime import date
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from rules.catalog import load_catalog
from rules.errors import PackError, RulesError
from rules.loader import (
    SHIPPED_DIR,
    check_counterparts,
    check_no_overlap,
    load_pack,
    load_packs,
    parse_pack,
)
from rules.pack import Pack, current_packs
from rules.values import Effective

BROKEN = Path(__file__).parent / "broken"
TEST_PACKS = Path(__file__).resolve().parent.parent / "packs"
SURTAX_FILE = SHIPPED_DIR / "ca-cn-surtax-2024.yaml"
TRQ_FILE = SHIPPED_DIR / "ca-cn-ev-trq-2026.yaml"
SPLIT_FILE = TEST_PACKS / "test-split.yaml"
BROKEN_FILES = sorted(BROKEN.glob("*.yaml"))


def expected_words(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name} must start with '# expect: <words>'"
    return first.removeprefix("# expect: ")


def edited(path: Path, old: str, new: str, name: str | None = None) -> Pack:
    """The pack in `path` with one piece of text replaced, parsed under another name."""
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} is not in {path.name} exactly once"
    return parse_pack(text.replace(old, new).encode(), name or f"edited-{path.name}")


# --- broken packs ----------------------------------------------------------------------


def test_there_are_broken_packs_to_check() -> None:
    """The broken/ directory holds the deliberately broken packs the next test loads."""
    assert len(BROKEN_FILES) >= 20


@pytest.mark.parametrize("path", BROKEN_FILES, ids=[path.stem for path in BROKEN_FILES])
def test_broken_pack_is_refused_naming_file_and_key(path: Path) -> None:
    """A broken pack raises PackError whose message names the file and contains the expected words."""
    words = expected_words(path)
    with pytest.raises(PackError) as raised:
        load_pack(path)
    error = raised.value
    assert words in str(error)
    assert error.file == str(path)
    assert str(error).startswith(f"{path}: ")
    assert isinstance(error, RulesError)


def test_broken_pack_in_a_directory_stops_loading_the_directory(tmp_path: Path) -> None:
    """Loading a directory that holds one broken pack fails on that file."""
    (tmp_path / "a-good.yaml").write_bytes(SPLIT_FILE.read_bytes())
    broken = tmp_path / "b-broken.yaml"
    broken.write_bytes((BROKEN / "to-before-from.yaml").read_bytes())
    with pytest.raises(PackError) as raised:
        load_packs([tmp_path])
    assert raised.value.file == str(broken)
    assert raised.value.key == "measures[BROKEN-M].effective"


def test_pack_error_keeps_file_key_and_problem_apart() -> None:
    """PackError exposes the file, the key and the problem separately."""
    error = PackError("packs/x.yaml", "measures[M].effective", "'to' is before 'from'")
    assert (error.file, error.key, error.problem) == (
        "packs/x.yaml",
        "measures[M].effective",
        "'to' is before 'from'",
    )
    assert str(error) == "packs/x.yaml: measures[M].effective: 'to' is before 'from'"


def test_adjacent_effective_ranges_of_one_measure_load() -> None:
    """One measure may have two ranges in one pack when the second starts the day after the first ends."""
    text = (BROKEN / "overlap.yaml").read_text().replace("{from: 2026-12-31}", "{from: 2027-01-01}")
    pack = parse_pack(text.encode(), "adjacent.yaml")
    assert [measure.effective.start for measure in pack.measures] == [
        date(2026, 1, 1),
        date(2027, 1, 1),
    ]


# --- the shipped and test packs --------------------------------------------------------


def test_shipped_packs_load() -> None:
    """The shipped packs load, the highest versions current, with their measures, and hash to
    the SHA-256 of their bytes."""
    current = {
        ("CA-CN-EV-TRQ-2026", "2026.4"),
        ("CA-CN-SURTAX-2024", "2026.4"),
        ("CA-TAXES", "2026.2"),
        ("CN-CA-COUNTERMEASURES-2025", "2026.3"),
        ("CN-CA-IMPORT-TAXES", "2026.2"),
        ("CN-CA-RAPESEED-2025", "2026.3"),
        ("CN-CUSTOMS-VALUE", "2026.1"),
    }
    every = load_packs([SHIPPED_DIR])
    assert {(pack.id, pack.version) for pack in current_packs(every)} == current
    packs = [pack for pack in every if (pack.id, pack.version) in current]
    assert [pack.id for pack in packs] == [
        "CA-CN-EV-TRQ-2026", "CA-CN-SURTAX-2024", "CA-TAXES",
        "CN-CA-COUNTERMEASURES-2025", "CN-CA-IMPORT-TAXES", "CN-CA-RAPESEED-2025",
        "CN-CUSTOMS-VALUE",
    ]  # fmt: skip
    measures = {measure.id for pack in packs for measure in pack.measures}
    assert measures == {
        "CA-CN-EV-TRQ-2026",
        "CA-CN-SUR-2024-EV",
        "CA-CN-SUR-2024-STEEL-AL",
        "CA-CN-STAL-REMISSION-2026",
        "CA-EXCISE-AC",
        "CA-GST-IMPORTS",
        "CN-MFN-RAPESEED",
        "CN-AD-RAPESEED-DEPOSIT",
        "CN-AD-RAPESEED-FINAL",
        "CN-ADT-2025-100",
        "CN-ADT-2025-25",
        "CN-ADT-SUSP-2026",
        "CN-CUSTOMS-VALUE-CNY",
        "CN-MFN-OILCAKE",
        "CN-MFN-DRIED-PEAS",
        "CN-MFN-SEED-PEAS",
        "CN-MFN-NOT-ASSESSED",
        "CN-VAT-IMPORT",
        "CN-PERSONAL-NOT-ASSESSED",
    }
    for pack in packs:
        assert pack.sha256 == hashlib.sha256(Path(pack.path).read_bytes()).hexdigest()


def test_older_versions_stay_loadable_byte_for_byte() -> None:
    """The superseded versions 2026.1 (surtax, taxes), 2026.2 and 2026.3 (quota) are still
    shipped, so a verdict decided under them finds its pack by hash."""
    versions = {(pack.id, pack.version) for pack in load_packs([SHIPPED_DIR])}
    assert {
        ("CA-CN-SURTAX-2024", "2026.1"),
        ("CA-CN-EV-TRQ-2026", "2026.2"),
        ("CA-CN-EV-TRQ-2026", "2026.3"),
        ("CA-TAXES", "2026.1"),
    } <= versions


def test_shipped_measures_carry_the_spec_numbers() -> None:
    """The shipped packs hold the SPEC's dates, rates and quota parameters as data."""
    packs = {pack.id: pack for pack in load_packs([SHIPPED_DIR])}
    measures = {measure.id: measure for pack in packs.values() for measure in pack.measures}
    ev = measures["CA-CN-SUR-2024-EV"]
    assert (ev.effective.start, ev.effective.end) == (date(2024, 10, 1), date(2026, 2, 28))
    assert ev.rates["surtax"].rate == Decimal("1")
    assert ev.rates["mfn"].rate == Decimal("0.061")
    assert len(ev.scope.tariff_items) == 23
    steel = measures["CA-CN-SUR-2024-STEEL-AL"]
    assert (steel.effective.start, steel.effective.end) == (date(2024, 10, 22), None)
    assert steel.rates["surtax"].rate == Decimal("0.25")
    assert "mfn" not in steel.rates
    trq = measures["CA-CN-EV-TRQ-2026"]
    assert trq.quota is not None
    assert (trq.quota.base_volume, trq.quota.growth) == (49000, Decimal("0.065"))
    assert trq.quota.over_quota == "reject"
    assert trq.scope.tariff_items == ev.scope.tariff_items


def test_test_packs_load_with_the_shipped_ones() -> None:
    """The catalog of shipped and test packs loads, with no measure defined twice for a day."""
    catalog = load_catalog([TEST_PACKS])
    ids = [pack.id for pack in catalog.current]
    assert ids == sorted(ids)
    assert set(ids) >= {
        "CA-CN-EV-TRQ-2026",
        "CA-CN-SURTAX-2024",
        "TEST-HELD",
        "TEST-RACE",
        "TEST-SPLIT",
    }
    found = catalog.measure("TEST-KR-EV-TRQ")
    assert found is not None and found[0].id == "TEST-SPLIT"
    assert catalog.measure("NO-SUCH-MEASURE") is None


def test_catalog_finds_a_pack_by_hash_and_by_version() -> None:
    """Every loaded pack is reachable by its content hash and by id and version."""
    catalog = load_catalog()
    for pack in catalog.packs:
        assert catalog.by_sha(pack.sha256) is pack
        assert catalog.by_version(pack.id, pack.version) is pack
    assert catalog.by_sha("0" * 64) is None
    assert catalog.by_version("CA-CN-SURTAX-2024", "1999.1") is None


# --- content hash ----------------------------------------------------------------------


def test_content_hash_is_the_same_for_the_same_bytes() -> None:
    """Parsing the same bytes twice gives the same content hash."""
    data = SURTAX_FILE.read_bytes()
    assert parse_pack(data, "a").sha256 == parse_pack(data, "b").sha256


def test_content_hash_changes_when_one_byte_changes() -> None:
    """Changing a single byte, even in a comment, changes the content hash."""
    data = SURTAX_FILE.read_bytes()
    assert data[0:1] == b"#"
    index = data.index(b"China Surtax Order (2024)")
    changed = data[:index] + b"c" + data[index + 1 :]
    assert len(changed) == len(data)
    original, edited_pack = parse_pack(data, "a"), parse_pack(changed, "b")
    assert original.sha256 != edited_pack.sha256
    assert original.body == edited_pack.body  # a comment changed: same rules, other hash


def test_content_hash_changes_when_a_rate_changes() -> None:
    """A changed rate gives another content hash and another parsed rate."""
    pack = edited(SURTAX_FILE, 'rate: "25%"', 'rate: "26%"')
    assert pack.sha256 != load_pack(SURTAX_FILE).sha256
    steel = next(m for m in pack.measures if m.id == "CA-CN-SUR-2024-STEEL-AL")
    assert steel.rates["surtax"].rate == Decimal("0.26")


# --- versions --------------------------------------------------------------------------


def test_current_packs_picks_the_highest_version_numerically() -> None:
    """Of versions 2026.1, 2026.2 and 2026.10 of one pack, 2026.10 is current."""
    versions = [
        edited(SURTAX_FILE, 'version: "2026.4"', f'version: "{version}"', f"surtax-{version}.yaml")
        for version in ("2026.2", "2026.10", "2026.1")
    ]
    split = load_pack(SPLIT_FILE)
    current = current_packs([*versions, split])
    assert [(pack.id, pack.version) for pack in current] == [
        ("CA-CN-SURTAX-2024", "2026.10"),
        ("TEST-SPLIT", "1"),
    ]


def test_a_new_version_may_redefine_a_measure_of_the_old_one() -> None:
    """A later version of the same pack redefining a measure is not an overlap: only it is current."""
    old = load_pack(SURTAX_FILE)
    new = edited(SURTAX_FILE, 'version: "2026.4"', 'version: "2026.5"', "surtax-2026.5.yaml")
    current = current_packs([old, new])
    assert current == [new]
    check_no_overlap(current)


# --- overlaps across packs -------------------------------------------------------------


def test_check_no_overlap_refuses_one_measure_in_two_packs() -> None:
    """Two packs defining the same measure for overlapping dates are refused, naming both files."""
    surtax = load_pack(SURTAX_FILE)
    rival = edited(SURTAX_FILE, "pack: CA-CN-SURTAX-2024", "pack: CA-CN-SURTAX-RIVAL", "rival.yaml")
    with pytest.raises(PackError) as raised:
        check_no_overlap([surtax, rival])
    assert raised.value.file == "rival.yaml"
    assert raised.value.key == "measures[CA-CN-SUR-2024-EV].effective"
    assert f"overlaps the same measure in {surtax.path}" in str(raised.value)


def test_check_no_overlap_refuses_a_one_day_overlap() -> None:
    """A second pack extending the EV surtax from its last day (2026-02-28) overlaps it."""
    text = TRQ_FILE.read_text().replace("pack: CA-CN-EV-TRQ-2026", "pack: EV-SURTAX-SEQUEL")
    text = text.replace("  - id: CA-CN-EV-TRQ-2026\n", "  - id: CA-CN-SUR-2024-EV\n")
    sequel = parse_pack(text.replace("{from: 2026-03-01}", "{from: 2026-02-28}").encode(), "s.yaml")
    with pytest.raises(PackError, match="overlaps the same measure"):
        check_no_overlap([load_pack(SURTAX_FILE), sequel])


def test_check_no_overlap_accepts_consecutive_ranges_in_two_packs() -> None:
    """A second pack taking over a measure the day after the first pack's range ends is fine."""
    text = TRQ_FILE.read_text().replace("pack: CA-CN-EV-TRQ-2026", "pack: EV-SURTAX-SEQUEL")
    text = text.replace("  - id: CA-CN-EV-TRQ-2026\n", "  - id: CA-CN-SUR-2024-EV\n")
    sequel = parse_pack(text.encode(), "sequel.yaml")
    check_no_overlap([load_pack(SURTAX_FILE), sequel])


def test_check_no_overlap_accepts_different_measures() -> None:
    """The current shipped packs and the test packs define different measures and pass together
    (older versions of a pack redefine its measures and are kept only for replay)."""
    check_no_overlap(current_packs(load_packs([SHIPPED_DIR, TEST_PACKS])))


# --- the model -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "day", "inside"),
    [
        ("2024-10-01", "2026-02-28", "2024-09-30", False),
        ("2024-10-01", "2026-02-28", "2024-10-01", True),
        ("2024-10-01", "2026-02-28", "2026-02-28", True),
        ("2024-10-01", "2026-02-28", "2026-03-01", False),
        ("2024-10-22", None, "2099-12-31", True),
    ],
)
def test_effective_range_includes_both_ends(
    start: str, end: str | None, day: str, inside: bool
) -> None:
    """An effective range contains its first and its last day and nothing outside them."""
    effective = Effective.model_validate(
        {"from": date.fromisoformat(start), "to": date.fromisoformat(end) if end else None}
    )
    assert effective.contains(date.fromisoformat(day)) is inside


def test_rule_outcomes_follow_severity_stage_and_then() -> None:
    """Line errors reject, measure-stage errors only hold when they say so, infos never block."""
    trq = load_pack(TRQ_FILE).measures[0]
    rules = {rule.id: rule for rule in trq.rules}
    assert rules["ELIG-EVTRQ-PERMIT-MISSING"].outcome == "reject"
    assert rules["QUOTA-EVTRQ-PERMIT-EXHAUSTED"].outcome == "reject"
    assert rules["NOTIF-US-PRIOR-MISSING"].outcome == "hold"
    assert rules["WTO-EVTRQ-XIII-1"].outcome is None
    assert rules["QUOTA-EVTRQ-CLAIM"].outcome is None


def test_sub_quota_share_keeps_the_last_listed_year() -> None:
    """The affordable share is 0% in year 1, 10% in year 2 and stays 50% after year 5."""
    quota = load_pack(TRQ_FILE).measures[0].quota
    assert quota is not None
    affordable = quota.sub_quotas[0]
    assert affordable.share(0) == Decimal(0)
    assert affordable.share(1) == Decimal(0)
    assert affordable.share(2) == Decimal("0.10")
    assert affordable.share(3) == Fraction(7, 30)
    assert affordable.share(4) == Fraction(11, 30)
    assert affordable.share(5) == Decimal("0.50")
    assert affordable.share(9) == Decimal("0.50")


@pytest.mark.parametrize(
    ("written", "share"),
    [('"7/30"', Fraction(7, 30)), ('"10%"', Fraction(1, 10)), ('"0/1"', Fraction(0))],
)
def test_a_share_is_a_percentage_or_an_exact_fraction(written: str, share: Fraction) -> None:
    """A sub-quota share reads "10%" or an exact fraction "7/30", kept exact."""
    text = TRQ_FILE.read_text().replace('2: "10%"', f"2: {written}")
    quota = parse_pack(text.encode(), "share.yaml").measures[0].quota
    assert quota is not None
    assert quota.sub_quotas[0].share(2) == share


@pytest.mark.parametrize(
    ("written", "words"),
    [('"7/0"', "not a fraction"), ('"31/30"', "between 0 and 1"), ('"150%"', "at most 100%")],
)
def test_a_share_outside_0_to_1_or_unreadable_is_refused(written: str, words: str) -> None:
    """A share that is no fraction of whole numbers, or is above 1, fails to load, naming it."""
    text = TRQ_FILE.read_text().replace('2: "10%"', f"2: {written}")
    with pytest.raises(PackError) as raised:
        parse_pack(text.encode(), "share.yaml")
    assert "shares.2" in str(raised.value) and words in str(raised.value)


# --- counterparts and suspensions ------------------------------------------------------


def test_a_counterpart_no_loaded_pack_defines_is_refused_naming_the_key() -> None:
    """A measure's arrangement may name a counterpart in another pack, but only one that exists."""
    trq = SHIPPED_DIR / "ca-cn-ev-trq-2026.yaml"
    pack = edited(trq, "counterparts: [CN-ADT-SUSP-2026,", "counterparts: [CN-ADT-SUSP-2099,")
    with pytest.raises(PackError) as raised:
        check_counterparts(
            [pack, *(other for other in load_catalog().current if other.id != pack.id)]
        )
    assert raised.value.key == "measures[CA-CN-EV-TRQ-2026].arrangement.counterparts"
    assert "CN-ADT-SUSP-2099" in raised.value.problem


def test_the_shipped_arrangement_records_counterparts_on_both_sides() -> None:
    """Canada's quota names China's measures as its counterparts, and they name it; China's
    suspension also names Canada's steel and aluminium adjustment, as MOFCOM did."""
    catalog = load_catalog()
    counterparts = {
        measure.id: measure.arrangement.counterparts
        for pack in catalog.current
        for measure in pack.measures
        if measure.arrangement is not None and measure.arrangement.counterparts
    }
    assert {"CN-ADT-SUSP-2026", "CN-AD-RAPESEED-FINAL"} <= set(counterparts["CA-CN-EV-TRQ-2026"])
    assert counterparts["CN-ADT-SUSP-2026"] == ("CA-CN-EV-TRQ-2026", "CA-CN-STAL-REMISSION-2026")
    assert counterparts["CN-AD-RAPESEED-FINAL"] == ("CA-CN-EV-TRQ-2026",)
    assert counterparts["CA-CN-STAL-REMISSION-2026"] == ("CN-ADT-SUSP-2026",)
