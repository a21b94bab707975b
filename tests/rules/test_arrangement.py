"""The arrangements as data: loaded strictly, each measure named by a pack of its side."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from rules.arrangement import SHIPPED_ARRANGEMENTS, check_arrangement, parse_arrangement
from rules.catalog import load_catalog
from rules.errors import PackError
from rules.loader import check_counterparts, parse_pack
from rules.measure_checks import counterparts_on, measure_checks, measure_facts
from rules.pack import Pack

SHIPPED = SHIPPED_ARRANGEMENTS / "ca-cn-2026.yaml"


def _edited(old: str, new: str) -> bytes:
    text = SHIPPED.read_text()
    assert text.count(old) == 1
    return text.replace(old, new).encode()


def test_the_shipped_arrangement_groups_both_sides() -> None:
    """CA-CN-2026 names Canada's quota and China's suspension, each on its own side."""
    arrangement = load_catalog().arrangement("CA-CN-2026")
    assert arrangement is not None
    sides = {side.jurisdiction: side.measures for side in arrangement.sides}
    assert "CA-CN-EV-TRQ-2026" in sides["CA"]
    assert "CN-ADT-SUSP-2026" in sides["CN"]
    assert (arrangement.timeline.start.year, arrangement.timeline.end.year) == (2024, 2027)


@pytest.mark.parametrize(
    ("old", "new", "key", "words"),
    [
        ("concluded_on: 2026-01-15", "concluded_on: 15-01-2026", "concluded_on", ""),
        ("source: ROADMAP-2026-01-15", "source: PMO-NONE", "source", "unknown source"),
        ("announced_on: 2026-01-16", "announced_on: 2026-01-14", "announced_on", "before"),
        (
            "awaited: [CA-CN-STAL-REMISSION-2026]",
            "awaited: [CA-CN-EV-TRQ-2026]",
            "sides[0].awaited",
            "named twice",
        ),
        ("    party: China\n", "    party: China\n    partie: China\n", "sides[1].partie", ""),
        ("CA-CN-SUR-2024-EV,", "CA-CN-EV-TRQ-2026,", "sides[0].measures", "named twice"),
    ],
)
def test_a_broken_arrangement_is_refused_naming_the_key(
    old: str, new: str, key: str, words: str
) -> None:
    """Bad dates, unknown sources, unknown keys and repeated measures name file and key."""
    with pytest.raises(PackError) as raised:
        parse_arrangement(_edited(old, new), "edited.yaml")
    assert raised.value.key == key
    assert words in raised.value.problem


def test_a_measure_no_pack_of_its_side_defines_is_refused() -> None:
    """A side names only measures its own jurisdiction's packs define."""
    arrangement = parse_arrangement(
        _edited("CN-MFN-RAPESEED,", "CA-CN-SUR-2024-EV-X,"), str(Path("edited.yaml"))
    )
    with pytest.raises(PackError) as raised:
        check_arrangement(arrangement, "edited.yaml", load_catalog().current)
    assert raised.value.key == "sides[1].measures"
    assert "no CN pack defines a measure 'CA-CN-SUR-2024-EV-X'" in raised.value.problem


# --- the dates of the arrangement (F05) ------------------------------------------------------

AWAITED = "CA-CN-STAL-REMISSION-2026"


def test_the_arrangement_records_its_signature_and_its_announcement() -> None:
    """Signed on 15 January 2026, announced on 16 January; China's packs use the signature."""
    catalog = load_catalog()
    arrangement = catalog.arrangement("CA-CN-2026")
    assert arrangement is not None
    assert (arrangement.concluded_on, arrangement.announced_on) == (
        date(2026, 1, 15),
        date(2026, 1, 16),
    )
    cn_packs = [pack for pack in catalog.current if pack.body.jurisdiction == "CN"]
    signed = {
        measure.id: measure.arrangement.signed_on
        for pack in cn_packs
        for measure in pack.measures
        if measure.arrangement is not None
    }
    assert signed == {
        "CN-AD-RAPESEED-FINAL": date(2026, 1, 15),
        "CN-ADT-SUSP-2026": date(2026, 1, 15),
    }
    links = [
        rule.reference
        for pack in cn_packs
        for measure in pack.measures
        for rule in measure.rules
        if rule.id.startswith("LINK-") and "arrangement" in rule.reference
    ]
    assert links and all("15 January 2026" in text for text in links)
    assert not any("16 January" in text for text in links)


def test_an_awaited_measure_another_jurisdiction_defines_is_refused() -> None:
    """A side may await only a measure of its own party."""
    arrangement = parse_arrangement(
        _edited(f"awaited: [{AWAITED}]", "awaited: [CN-MFN-RAPESEED-X]"), "edited.yaml"
    )
    check_arrangement(arrangement, "edited.yaml", load_catalog().current)  # defined nowhere: fine
    arrangement = parse_arrangement(
        _edited(f"awaited: [{AWAITED}]", "awaited: [CN-VAT-IMPORT]"), "edited.yaml"
    )
    with pytest.raises(PackError) as raised:
        check_arrangement(arrangement, "edited.yaml", load_catalog().current)
    assert raised.value.key == "sides[0].awaited"
    assert "another jurisdiction" in raised.value.problem


# --- the steel and aluminium adjustment as a counterpart (F18), both directions ---------------


def _without_awaited(packs: tuple[Pack, ...]) -> list[Pack]:
    """The packs, less any that defines the awaited measure (a pack of Canada's may)."""
    return [pack for pack in packs if AWAITED not in {measure.id for measure in pack.measures}]


REMISSION_PACK = f"""
pack: TEST-CA-STAL-REMISSION
version: "1"
title: A test stand-in for Canada's 2026 steel and aluminium adjustment
jurisdiction: CA
sources:
  TEST: {{title: test source}}
assumptions: {{}}
measures:
  - id: {AWAITED}
    title: Remission of the steel and aluminium surtax, 2026 (test stand-in)
    source: TEST
    effective: {{from: 2026-03-01, to: 2026-06-30}}
    scope: {{origins: [CN], tariff_items: ["7208"]}}
    rates: {{}}
    arrangement:
      classification: sectoral_arrangement
      partner: CN
      counterparts: [CN-ADT-SUSP-2026]
    rules: []
"""


def _fired(packs: list[Pack], measure_id: str, day: date) -> dict[str, str]:
    """The linkage findings of one measure on a day, rule id to message."""
    pack, measure = next(
        (pack, measure) for pack in packs for measure in pack.measures if measure.id == measure_id
    )
    return {
        item.rule.id: item.finding.message
        for item in measure_checks(pack, measure, day, packs)
        if item.rule.id.startswith("LINK-")
    }


def test_a_counterpart_no_loaded_pack_defines_is_reported_not_loaded() -> None:
    """The suspension names an awaited counterpart no pack defines: reported as not loaded
    (information), never counted in force."""
    packs = _without_awaited(load_catalog().current)
    with pytest.raises(PackError):
        check_counterparts(packs)  # not awaited: refused at load
    check_counterparts(packs, [AWAITED])
    fired = _fired(packs, "CN-ADT-SUSP-2026", date(2026, 6, 1))
    assert AWAITED in fired["LINK-CN-SUSP-COUNTERPART-NOT-LOADED"]
    assert AWAITED not in fired["LINK-CN-SUSP-COUNTERPART-IN-FORCE"]


def test_both_sides_link_the_steel_and_aluminium_adjustment() -> None:
    """Defined by a pack, the adjustment and the suspension see each other in force, and its
    lapse is a warning on China's side that names it with its own last day."""
    stand_in = parse_pack(REMISSION_PACK.encode(), "test-remission.yaml")
    packs = [stand_in, *_without_awaited(load_catalog().current)]
    check_counterparts(packs)
    in_force = _fired(packs, "CN-ADT-SUSP-2026", date(2026, 6, 1))
    assert AWAITED in in_force["LINK-CN-SUSP-COUNTERPART-IN-FORCE"]
    assert "LINK-CN-SUSP-COUNTERPART-NOT-LOADED" not in in_force
    [canada] = counterparts_on(stand_in.measures[0], date(2026, 6, 1), packs)
    assert (canada.id, canada.status) == ("CN-ADT-SUSP-2026", "in_force")
    lapsed = _fired(packs, "CN-ADT-SUSP-2026", date(2026, 7, 1))
    assert f"{AWAITED} (to 2026-06-30)" in lapsed["LINK-CN-SUSP-COUNTERPART-LAPSED"]


def test_an_awaited_measure_a_pack_defines_joins_its_side() -> None:
    """Once a pack defines the awaited measure, the arrangement lists it among Canada's."""
    shipped = parse_arrangement(SHIPPED.read_bytes(), str(SHIPPED))
    waiting = shipped.resolved(set())
    assert AWAITED not in waiting.measure_ids() and AWAITED in waiting.awaited_ids()
    joined = shipped.resolved({AWAITED})
    canada = next(side for side in joined.sides if side.jurisdiction == "CA")
    assert canada.measures[-1] == AWAITED and canada.awaited == ()


def test_the_catalog_counts_an_awaited_measure_a_pack_defines_as_a_real_counterpart(
    tmp_path: Path,
) -> None:
    """Loaded with a Canadian pack that defines the awaited adjustment, the catalog lists it
    among Canada's measures, awaits nothing, and the suspension's checks see it in force,
    no longer as not loaded."""
    if any(AWAITED in {m.id for m in pack.measures} for pack in load_catalog().current):
        catalog = load_catalog()  # a shipped Canadian pack defines it already
    else:
        (tmp_path / "remission.yaml").write_text(REMISSION_PACK)
        catalog = load_catalog([tmp_path])
    arrangement = catalog.arrangement("CA-CN-2026")
    assert arrangement is not None
    assert AWAITED in arrangement.measure_ids() and arrangement.awaited_ids() == ()
    fired = _fired(list(catalog.current), "CN-ADT-SUSP-2026", date(2026, 6, 1))
    assert AWAITED in fired["LINK-CN-SUSP-COUNTERPART-IN-FORCE"]
    assert "LINK-CN-SUSP-COUNTERPART-NOT-LOADED" not in fired


# --- the expiry of the anti-dumping duty is information (F19) --------------------------------


def test_the_expiry_of_the_anti_dumping_duty_is_not_a_lapsed_concession() -> None:
    """On 2031-03-01 Canada's quota sees the suspension lapsed (with its own date) and the
    anti-dumping duty expired, which is information: its concession was a ceiling."""
    catalog = load_catalog()
    found = catalog.measure_on("CA-CN-EV-TRQ-2026", date(2031, 3, 1))
    assert found is not None
    day = date(2031, 3, 1)
    facts = measure_facts(found[1], day, counterparts_on(found[1], day, catalog.current))
    assert facts["counterparts_lapsed"] == "CN-ADT-SUSP-2026 (to 2026-12-31)"
    assert facts["counterparts_lapsed_count"] == 1
    assert facts["counterparts_expired"] == "CN-AD-RAPESEED-FINAL (to 2031-02-28)"
    assert facts["counterparts_expired_count"] == 1
    fired = _fired(list(catalog.current), "CN-AD-RAPESEED-FINAL", day)
    assert set(fired) == {"LINK-CN-AD-EXPIRED"}
    assert "at most 5.9%" in fired["LINK-CN-AD-EXPIRED"]
