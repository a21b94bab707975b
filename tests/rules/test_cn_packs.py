"""China's packs as a whole: every line a CN measure covers owes import VAT, and a
declaration decided under the packs' 2026.1 versions replays under the current ones with
the changes shown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rules import engine, replay
from rules.catalog import load_catalog
from rules.errors import EngineError
from rules.pack import Pack
from schemas.declaration import Declaration
from schemas.quota import NO_ALLOCATION

EXAMPLE = Path(__file__).resolve().parent.parent.parent / "examples" / "cn-2026-0001.json"


def _decided(packs: list[Pack]) -> dict[str, object]:
    declaration = Declaration.model_validate_json(EXAMPLE.read_bytes())
    verdict = engine.finalize(engine.evaluate(declaration, packs, {}), NO_ALLOCATION)
    return dict(json.loads(verdict.model_dump_json()))


def test_every_line_a_cn_measure_covers_is_in_the_vat_scope() -> None:
    """The VAT measure's scope holds every tariff line of every other current CN measure
    that charges a duty (the conversion of foreign-currency values, scoped to every chapter
    and charging nothing, is not one)."""
    catalog = load_catalog()
    found = catalog.measure("CN-VAT-IMPORT")
    assert found is not None
    vat = set(found[1].scope.prefixes())
    for pack in catalog.current:
        if pack.body.jurisdiction != "CN":
            continue
        for measure in pack.measures:
            if measure.scope.currency == "foreign":
                continue
            for prefix in measure.scope.prefixes():
                assert any(prefix.startswith(item) for item in vat), (measure.id, prefix)


def test_the_example_replayed_under_the_current_packs_shows_vat_and_the_meal_mfn() -> None:
    """Decided under the 2026.1 packs the example owed 149,000.00 CNY; the current packs add
    VAT on both lines and the meal's MFN: 454,710.00, each change listed."""
    catalog = load_catalog()
    old = [
        catalog.by_version("CN-CA-RAPESEED-2025", "2026.1"),
        catalog.by_version("CN-CA-COUNTERMEASURES-2025", "2026.1"),
    ]
    assert all(pack is not None for pack in old)
    before = _decided([pack for pack in old if pack is not None])
    after = _decided(list(catalog.current))
    assert (before["total_duty"], after["total_duty"]) == ("149000.00", "454710.00")
    fields = {item["field"] for item in replay.differences(before, after)}
    assert {"total_duty", "lines[1].duties", "lines[2].duties"} <= fields


def test_a_deposit_without_the_vat_it_is_grossed_up_by_is_an_engine_error() -> None:
    """The rapeseed pack alone, on a deposit day, cannot compute the deposit: the engine says
    which rule lacks which duty rather than charging 75.8% without the VAT factor."""
    catalog = load_catalog()
    rapeseed = catalog.by_version("CN-CA-RAPESEED-2025", "2026.2")
    assert rapeseed is not None
    body = json.loads(EXAMPLE.read_text())
    body["accepted_at"] = "2025-10-01T10:00:00+08:00"
    declaration = Declaration.model_validate(body)
    with pytest.raises(EngineError, match=r"DUTY-CN-AD-RAPESEED-DEPOSIT .* import_vat"):
        engine.finalize(engine.evaluate(declaration, [rapeseed], {}), NO_ALLOCATION)


# the SHA-256 of each superseded version of China's packs as it was shipped: a verdict
# decided under one records this hash and replays only if the file is unchanged
SUPERSEDED = {
    ("CN-CA-RAPESEED-2025", "2026.1"): "68451dd10fdff9f36b5c829bd40b883bf7c6f58a5c81c037e1357f6e7aa6a5ec",
    ("CN-CA-RAPESEED-2025", "2026.2"): "a430431f286d35a43f376f5c754c1f3c09a1518cecbb78ebf9b4da100c8e7ad0",
    ("CN-CA-COUNTERMEASURES-2025", "2026.1"): "8f1c390c9e7f3ff53a24bf444912471c4813608dcaf86fecf0e6e6689264ea58",
    ("CN-CA-COUNTERMEASURES-2025", "2026.2"): "0e0b4f93a42d27730bfb0779e4389ca86c8f5d1c8ada8e2eb188a9e53eff46e4",
    ("CN-CA-IMPORT-TAXES", "2026.1"): "f39f2d0dbdaf8c9a8a8002e88510f160aaf8399f1ef6fd48784ab5acb68351d0",
}  # fmt: skip


@pytest.mark.parametrize(("pack_id", "version"), sorted(SUPERSEDED))
def test_a_superseded_cn_version_is_shipped_byte_for_byte(pack_id: str, version: str) -> None:
    """Each superseded version of China's packs is still loaded, with the hash it shipped with,
    and is not the current one."""
    catalog = load_catalog()
    pack = catalog.by_version(pack_id, version)
    assert pack is not None
    assert pack.sha256 == SUPERSEDED[(pack_id, version)]
    assert catalog.by_sha(pack.sha256) is pack
    assert pack not in catalog.current
