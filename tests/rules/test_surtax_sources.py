"""The surtax pack holds only what the public record gives: no placeholder in a shipped
pack, remission items bound to their schedule (and, for company items, their importer),
surtaxes described as unilateral measures, and a version change that replay reports."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rules import engine
from rules.catalog import load_catalog
from rules.errors import PackError
from rules.loader import SHIPPED_DIR, load_pack, parse_pack
from rules.pack import Pack
from rules.replay import differences, replay
from schemas.declaration import Declaration
from schemas.quota import Allocation
from tests.helpers import declaration

SURTAX_FILE = SHIPPED_DIR / "ca-cn-surtax-2024.yaml"
OLD_SURTAX_FILE = SHIPPED_DIR / "ca-cn-surtax-2024@2026.2.yaml"


def _current() -> tuple[Pack, ...]:
    return load_catalog().current


def test_no_current_shipped_pack_holds_a_placeholder() -> None:
    """No assumption of a current shipped pack says it stands in for a value (a placeholder); older versions stay only for replay."""
    for pack in _current():
        for name, assumption in pack.body.assumptions.items():
            assert "placeholder" not in assumption.text.lower(), f"{pack.id} {name}"


def test_every_remission_item_shipped_names_its_schedule_goods_and_source() -> None:
    """Each scheduled item of a current pack names its schedule, its goods, and a source that is the amending order."""
    found = 0
    for pack in _current():
        for measure in pack.measures:
            for item in measure.remission.items if measure.remission else ():
                found += 1
                assert item.schedule in (1, 2) and item.description, item.item
                assert "SOR/" in pack.body.sources[item.source].title, item.source
    assert found > 0


def test_the_old_version_is_kept_byte_for_byte_for_replay() -> None:
    """Version 2026.2 still loads from its own file, with its placeholder items, and is not current."""
    old = load_pack(OLD_SURTAX_FILE)
    assert old.version == "2026.2"
    assert "REMISSION-SCHEDULE" in old.body.assumptions
    assert all(pack.sha256 != old.sha256 for pack in _current())


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ("      measure_kind: unilateral_surtax\n      partner: CN\n      bound_rate: \"6.1%\"",
         "      measure_kind: unilateral_surtax\n      classification: sectoral_arrangement\n"
         "      partner: CN\n      bound_rate: \"6.1%\"",
         "a unilateral surtax is not an arrangement"),
        ("      measure_kind: arrangement\n      classification: sectoral_arrangement\n",
         "      measure_kind: arrangement\n",
         "an arrangement needs a classification"),
    ],
)  # fmt: skip
def test_the_kind_of_measure_decides_whether_it_is_classified(
    old: str, new: str, words: str
) -> None:
    """A unilateral surtax carrying an arrangement's classification, or an arrangement without one, is refused naming the key."""
    text = SURTAX_FILE.read_text()
    assert text.count(old) == 1
    with pytest.raises(PackError) as raised:
        parse_pack(text.replace(old, new), "edited.yaml")
    assert words in str(raised.value)
    assert ".arrangement" in raised.value.key


def _decide(body: dict[str, Any], packs: list[Pack]) -> dict[str, Any]:
    evaluation = engine.evaluate(Declaration.model_validate(body), packs, {})
    verdict = engine.finalize(evaluation, Allocation(applied=True))
    decided: dict[str, Any] = json.loads(verdict.model_dump_json())
    return decided


def test_replay_now_shows_what_changed_for_steel_decided_under_2026_2() -> None:
    """Steel remitted under 2026.2's placeholder item 1 is, replayed under the current version, charged the surtax, and the differences say so."""
    others = [pack for pack in _current() if pack.id != "CA-CN-SURTAX-2024"]
    old = [load_pack(OLD_SURTAX_FILE), *others]
    new = [load_pack(SURTAX_FILE), *others]
    body = declaration(
        "CAD-REPLAY-1",
        lines=[{"tariff_item": "7208.51.00.00", "description": "Hot-rolled steel plate",
                "unit": "KGM", "quantity": "12000", "value_for_duty": "10000.00",
                "remission_claim": "SOR/2025-12 item 1"}],
        accepted_at="2026-06-01T10:00:00-04:00",
    )  # fmt: skip
    original = _decide(body, old)
    # 2026.2 remitted it: GST 5% of 10,000.00 only
    assert original["total_duty"] == "500.00"
    verdict, assumed = replay(Declaration.model_validate(body), new, {}, None, new)
    replayed = json.loads(verdict.model_dump_json())
    assert assumed == []
    changes = {(item["field"], json.dumps(item["original"]), json.dumps(item["replayed"]))
               for item in differences(original, replayed)}  # fmt: skip
    # now: surtax 25% = 2,500.00, GST 5% of 12,500.00 = 625.00 -> 3,125.00
    assert ("total_duty", '"500.00"', '"3125.00"') in changes
    assert ("lines[1].treatment", '"exempt"', '"surtax"') in changes
    gone = {"rule": "ELIG-SUR-STAL-REMISSION", "line": 1, "severity": "warning"}
    came = {"rule": "ELIG-SUR-STAL-REMISSION-UNKNOWN", "line": 1, "severity": "warning"}
    assert ("findings", json.dumps(gone), "null") in changes
    assert ("findings", "null", json.dumps(came)) in changes


@pytest.mark.parametrize(
    ("tariff_item", "underlying", "rule", "assumption"),
    [
        ("9903.00.00.00", "7208.51.00.00", "DUTY-SUR-STAL-SURTAX-CHAPTER-99", "CH99-REPAIR-ITEMS"),
        ("9899.00.00.00", "7208.51.00.00", "DUTY-SUR-STAL-SURTAX-CHAPTER-98-PROHIBITED",
         "CH98-PROHIBITED"),
        ("9993.00.00.00", "8703.80.00.10", "DUTY-SUR-EV-SURTAX-CHAPTER-99", "CH99-REPAIR-ITEMS"),
        ("9899.00.00.00", "8703.80.00.10", "DUTY-SUR-EV-SURTAX-CHAPTER-98-PROHIBITED",
         "CH98-PROHIBITED"),
    ],
)  # fmt: skip
def test_a_surtax_charged_on_a_chapter_98_or_99_line_lists_the_reading_it_rests_on(
    tariff_item: str, underlying: str, rule: str, assumption: str
) -> None:
    """The surtax on a Chapter 99 line that is not a repair item, or on a prohibited Chapter 98 good, shows the assumption that decided it, as the relief findings do."""
    body = declaration(
        "CAD-CH99-1",
        lines=[{"tariff_item": tariff_item, "underlying_tariff_item": underlying,
                "description": "Goods under a special classification", "unit": "NMB",
                "quantity": "1", "value_for_duty": "10000.00"}],
        accepted_at="2025-06-16T10:00:00-04:00",
    )  # fmt: skip
    decided = _decide(body, list(_current()))
    (finding,) = [item for item in decided["findings"] if item["rule"] == rule]
    assert assumption in finding["assumptions"]
    assert decided["lines"][0]["treatment"] == "surtax"
