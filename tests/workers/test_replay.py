"""Replay: a stored declaration decided again from its recorded body, permits and
allocation gives the same verdict with the same packs, and the expected differences
under another pack version."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

import helpers
from bench.mix import declarations, issue_permits
from rules import trail
from rules.catalog import Catalog, load_catalog
from rules.loader import SHIPPED_DIR
from schemas.declaration import Declaration
from service.replay import ReplayError, replay_declaration
from store import RedisStore
from tests.helpers import declaration
from workers.evaluation import decide


def decide_all(store: RedisStore, catalog: Catalog, count: int, seed: int) -> list[str]:
    ids = []
    for body in declarations(count, seed=seed, label=f"r{seed}"):
        parsed = Declaration.model_validate(body)
        store.submit(parsed.declaration_id, parsed.canonical_json(), parsed.body_sha256(),
                     parsed.importer.business_number, time.time(), trail.received(parsed, "test"))  # fmt: skip
        ids.append(parsed.declaration_id)
    # half of the quota declarations have their permit; the others are rejected
    issue_permits(store, catalog, range(0, count, 2), f"r{seed}")
    for declaration_id in ids:
        assert decide(store, catalog, declaration_id) == "decided"
    return ids


def test_replaying_1000_random_declarations_with_their_own_packs_changes_nothing(
    store: RedisStore,
) -> None:
    """Every one of 1,000 random decided declarations replays to the very same verdict."""
    catalog = load_catalog()
    ids = decide_all(store, catalog, 1000, seed=11)
    outcomes = set()
    for declaration_id in ids:
        result = replay_declaration(store, catalog, declaration_id)
        assert result["differences"] == [], declaration_id
        assert result["assumed_allocation_lines"] == []
        outcomes.add(result["original"]["outcome"])
    assert outcomes == {"accepted", "rejected"}


def test_a_pack_change_shows_up_as_the_expected_differences(
    store: RedisStore, tmp_path: Path
) -> None:
    """Under a pack version with a 50% EV surtax, surtax lines owe half the surtax (and the GST on it); others do not change."""
    text = (SHIPPED_DIR / "ca-cn-surtax-2024.yaml").read_text()
    changed = text.replace('version: "2026.4"', 'version: "2099.1"').replace(
        'surtax: {rate: "100%", source: SOR-2024-187}',
        'surtax: {rate: "50%", source: SOR-2024-187}',
    )
    assert changed.count("2099.1") == 1 and '"50%"' in changed
    (tmp_path / "surtax-2099.yaml").write_text(changed)
    original = load_catalog()
    ids = decide_all(store, original, 40, seed=12)
    replayer = load_catalog([tmp_path])
    surtax_lines = 0
    for declaration_id in ids:
        result = replay_declaration(store, replayer, declaration_id, "CA-CN-SURTAX-2024@2099.1")
        before = result["original"]
        surtaxed = [
            line
            for line in before["lines"]
            if line["treatment"] == "surtax" and "CA-CN-SUR-2024-EV" in line["measures"]
        ]
        fields = {item["field"] for item in result["differences"]}
        if surtaxed:
            surtax_lines += 1
            line = surtaxed[0]
            value = sum(float(duty["base"]) for duty in line["duties"] if duty["type"] == "surtax")
            assert f"lines[{line['line']}].duties" in fields
            # half the surtax, and the GST (5%) on that half, each line rounded to the cent
            assert float(result["replayed"]["total_duty"]) == pytest.approx(
                float(before["total_duty"]) - value / 2 * 1.05, abs=0.01 * len(before["lines"])
            )
        else:
            assert fields <= {"findings"}  # only the surtax pack's bound-rate message may differ
    assert surtax_lines > 0


def test_replay_refuses_what_it_cannot_replay(store: RedisStore, catalog: Catalog) -> None:
    """An unknown declaration or pack version is a ReplayError, not a crash."""
    with pytest.raises(ReplayError):
        replay_declaration(store, catalog, "nope")
    ids = decide_all(store, catalog, 2, seed=13)
    with pytest.raises(ReplayError, match="no loaded pack has version"):
        replay_declaration(store, catalog, ids[0], "1999.9")


def test_a_personal_ev_decided_under_quota_2026_3_replays_rejected_under_2026_4(
    store: RedisStore,
) -> None:
    """A personal EV in 87.03 without a permit, decided by the worker under CA-CN-EV-TRQ-2026
    2026.3 (exempt, 9,334.00 CAD), replays under 2026.4 as refused for want of a permit, and
    the replay says so field by field."""
    loaded = load_catalog()
    old = loaded.by_version("CA-CN-EV-TRQ-2026", "2026.3")
    assert old is not None
    then = Catalog(
        packs=loaded.packs,
        current=tuple(old if pack.id == old.id else pack for pack in loaded.current),
        arrangements=loaded.arrangements,
    )
    parsed = Declaration.model_validate(
        helpers.declaration("PER-OLD", import_type="personal",
                            accepted_at="2026-03-10T10:00:00-04:00")
    )  # fmt: skip
    store.submit(parsed.declaration_id, parsed.canonical_json(), parsed.body_sha256(),
                 parsed.importer.business_number, time.time(), trail.received(parsed, "test"))  # fmt: skip
    assert decide(store, then, parsed.declaration_id) == "decided"
    result = replay_declaration(store, loaded, parsed.declaration_id, "CA-CN-EV-TRQ-2026@2026.4")
    assert (result["original"]["outcome"], result["original"]["total_duty"]) == (
        "accepted",
        "9334.00",
    )
    assert result["replayed"]["outcome"] == "rejected"
    changed = {item["field"]: item for item in result["differences"] if item["field"] != "findings"}
    assert changed["outcome"]["replayed"] == "rejected"
    assert (
        changed["lines[1].treatment"]["original"],
        changed["lines[1].treatment"]["replayed"],
    ) == (
        "exempt",
        "no_permit",
    )
    added = [
        item["replayed"]["rule"]
        for item in result["differences"]
        if item["field"] == "findings" and item["original"] is None
    ]
    assert "ELIG-EVTRQ-PERMIT-MISSING" in added


def test_replay_shows_what_changed_for_steel_decided_under_the_old_surtax_pack(
    store: RedisStore,
) -> None:
    """Steel remitted under the 2026.2 surtax pack's placeholder item, replayed under 2026.3, owes the surtax, and the differences name each change."""
    current = load_catalog()
    old_pack = next(
        p for p in current.packs if p.id == "CA-CN-SURTAX-2024" and p.version == "2026.2"
    )
    under_old = dataclasses.replace(
        current,
        current=tuple(old_pack if p.id == old_pack.id else p for p in current.current),
    )
    body = declaration(
        "CAD-REPLAY-STEEL",
        lines=[{"tariff_item": "7208.51.00.00", "description": "Hot-rolled steel plate",
                "unit": "KGM", "quantity": "12000", "value_for_duty": "10000.00",
                "remission_claim": "SOR/2025-12 item 1"}],
        accepted_at="2026-06-01T10:00:00-04:00",
    )  # fmt: skip
    parsed = Declaration.model_validate(body)
    store.submit(parsed.declaration_id, parsed.canonical_json(), parsed.body_sha256(),
                 parsed.importer.business_number, time.time(), trail.received(parsed, "test"))  # fmt: skip
    assert decide(store, under_old, parsed.declaration_id) == "decided"
    same = replay_declaration(store, current, parsed.declaration_id)
    assert same["differences"] == []  # its own recorded pack, 2026.2, found by hash
    result = replay_declaration(store, current, parsed.declaration_id, "CA-CN-SURTAX-2024@2026.3")
    changes = {
        item["field"]: (item["original"], item["replayed"]) for item in result["differences"]
    }
    # 2026.2 remitted it (GST 5% of 10,000.00); 2026.3 does not know item 1: surtax 25% =
    # 2,500.00 and GST 5% of 12,500.00 = 625.00
    assert changes["total_duty"] == ("500.00", "3125.00")
    assert changes["lines[1].treatment"] == ("exempt", "surtax")
    findings = [item for item in result["differences"] if item["field"] == "findings"]
    assert {"rule": "ELIG-SUR-STAL-REMISSION", "line": 1, "severity": "warning"} in [
        item["original"] for item in findings
    ]
    assert {"rule": "ELIG-SUR-STAL-REMISSION-UNKNOWN", "line": 1, "severity": "warning"} in [
        item["replayed"] for item in findings
    ]
