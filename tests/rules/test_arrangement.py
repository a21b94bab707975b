"""The arrangements as data: loaded strictly, each measure named by a pack of its side."""

from __future__ import annotations

from pathlib import Path

import pytest

from rules.arrangement import SHIPPED_ARRANGEMENTS, check_arrangement, parse_arrangement
from rules.catalog import load_catalog
from rules.errors import PackError

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
        ("concluded_on: 2026-01-16", "concluded_on: 16-01-2026", "concluded_on", ""),
        ("source: PMO-2026-01-16", "source: PMO-NONE", "source", "unknown source"),
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
