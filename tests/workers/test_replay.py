"""Replay: a stored declaration decided again from its recorded body, permits and
allocation gives the same verdict with the same packs, and the expected differences
under another pack version."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bench.mix import declarations, issue_permits
from rules import trail
from rules.catalog import Catalog, load_catalog
from rules.pack import SHIPPED_DIR
from schemas.declaration import Declaration
from service.replay import ReplayError, replay_declaration
from store.redis_store import RedisStore
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
    changed = text.replace('version: "2026.3"', 'version: "2099.1"').replace(
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
