"""Replay a stored declaration with the packs it used, or another version of them, from
what its audit trail recorded. Read-only: nothing is allocated, nothing is written.
Only the API replays (`POST /v1/replay`), so this lives beside its route, above the
workers; the decision itself is rules/replay.py's."""

from __future__ import annotations

import json
from typing import Any

from rules.catalog import Catalog
from rules.pack import Pack, parse_pack
from rules.replay import differences, replay
from schemas.declaration import Declaration
from schemas.permit import Permit
from schemas.rates import RateQuote
from service.words import _
from store.packs import PackRecords
from store.redis_store import RedisStore


class ReplayError(Exception):
    """The declaration cannot be replayed (not decided, a pack version unknown)."""


def _pack_by_sha(store: PackRecords, catalog: Catalog, sha256: str) -> Pack:
    pack = catalog.by_sha(sha256)
    if pack is not None:
        return pack
    text = store.pack_text(sha256)
    if text is None:
        raise ReplayError(_(f"pack version {sha256[:12]} is neither loaded nor stored"))
    return parse_pack(text, f"stored pack {sha256[:12]}")


def _packs_for(
    store: PackRecords, catalog: Catalog, verdict: dict[str, Any], version: str | None
) -> list[Pack]:
    if version is None:
        return [_pack_by_sha(store, catalog, ref["sha256"]) for ref in verdict["rule_packs"]]
    pack_id, _at, wanted = version.rpartition("@")
    chosen = [
        pack
        for pack in catalog.packs
        if pack.version == wanted and (not pack_id or pack.id == pack_id)
    ]
    if not chosen:
        raise ReplayError(_(f"no loaded pack has version {version!r}"))
    replaced = {pack.id for pack in chosen}
    return [*chosen, *(pack for pack in catalog.current if pack.id not in replaced)]


def replay_declaration(
    store: RedisStore, catalog: Catalog, declaration_id: str, pack_version: str | None = None
) -> dict[str, Any]:
    """The verdict as stored and as decided again, in the JSON form of
    schemas/responses.py's Replay, which the route validates it against."""
    record = store.get(declaration_id)
    if record is None or record.verdict is None:
        raise ReplayError(_(f"declaration {declaration_id} has no verdict to replay"))
    original = json.loads(record.verdict)
    events = store.audit(declaration_id)
    evaluated = next((event for event in events if event.type == "evaluated"), None)
    permits = {
        number: Permit.model_validate(data)
        for number, data in (evaluated.data.get("permits", {}) if evaluated else {}).items()
    }
    # the exchange rates it was handed, as loaded then (a later load changes no replay)
    rates = [
        RateQuote.model_validate(data)
        for data in (evaluated.data.get("exchange_rates", []) if evaluated else [])
    ]
    declaration = Declaration.model_validate_json(record.body)
    packs = _packs_for(store, catalog, original, pack_version)
    allocation = store.allocation(declaration_id)
    # the linkage checks find a measure's counterparts among the loaded packs too
    verdict, assumed = replay(declaration, packs, permits, allocation, catalog.current, rates)
    replayed = json.loads(verdict.model_dump_json())
    original.pop("as_of", None)
    replayed.pop("as_of", None)
    return {
        "declaration_id": declaration_id,
        "pack_version": pack_version,
        "original": original,
        "replayed": replayed,
        "assumed_allocation_lines": assumed,
        "differences": differences(original, replayed),
    }
