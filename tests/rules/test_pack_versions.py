"""What the December 2026 corrections change, shown as replay shows it: a declaration
decided under the superseded versions (CA-CN-EV-TRQ-2026 2026.3, CA-TAXES 2026.1) and
decided again under the current ones gives the differences an auditor would read in
`accord replay`. In-process, the ledger's answer recorded as the worker would record it.

Rule ids exercised only here (2026.3's, gone from 2026.4): ELIG-EVTRQ-PERSONAL,
DUTY-EVTRQ-PERSONAL.
"""

from __future__ import annotations

import json
from typing import Any

from helpers import IMPORTER, declaration
from rules import engine
from rules.catalog import Catalog
from rules.pack import Pack
from rules.replay import differences, replay
from schemas.declaration import Declaration
from schemas.permit import Permit
from schemas.quota import NO_ALLOCATION, Allocation

OLD = {"CA-CN-EV-TRQ-2026": "2026.3", "CA-TAXES": "2026.1"}


def old_packs(catalog: Catalog) -> list[Pack]:
    """The current packs with the EV quota and the taxes at their superseded versions."""
    chosen = [catalog.by_version(pack_id, version) for pack_id, version in OLD.items()]
    assert all(pack is not None for pack in chosen)
    return [
        *(pack for pack in chosen if pack is not None),
        *(pack for pack in catalog.current if pack.id not in OLD),
    ]


def decided_under(
    packs: list[Pack], body: dict[str, Any], permits: dict[str, Permit], allocation: Allocation
) -> dict[str, Any]:
    parsed = Declaration.model_validate(body)
    evaluation = engine.evaluate(parsed, packs, permits)
    verdict = engine.finalize(evaluation, allocation if evaluation.requests else NO_ALLOCATION)
    decided: dict[str, Any] = json.loads(verdict.model_dump_json())
    return decided


def replayed(
    catalog: Catalog,
    body: dict[str, Any],
    permits: dict[str, Permit] | None = None,
    allocation: Allocation | None = None,
) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """(the verdict under the old versions, under the current ones, their differences)."""
    permits = permits or {}
    original = decided_under(old_packs(catalog), body, permits, allocation or NO_ALLOCATION)
    parsed = Declaration.model_validate(body)
    verdict, _ = replay(parsed, list(catalog.current), permits, allocation)
    again: dict[str, Any] = json.loads(verdict.model_dump_json())
    return original, again, differences(original, again)


def rules(verdict: dict[str, Any]) -> set[str]:
    return {item["rule"] for item in verdict["findings"]}


def test_a_personal_importation_exempt_under_2026_3_needs_a_permit_under_2026_4(
    catalog: Catalog,
) -> None:
    """A personal EV in 87.03 without a permit: exempt at MFN under 2026.3, no_permit and
    rejected under 2026.4, and replay lists exactly that."""
    body = declaration("PER-1", import_type="personal", accepted_at="2026-03-10T10:00:00-04:00")
    original, again, changed = replayed(catalog, body)
    assert original["outcome"] == "accepted" and original["total_duty"] == "9334.00"
    assert {"ELIG-EVTRQ-PERSONAL", "DUTY-EVTRQ-PERSONAL"} <= rules(original)
    assert again["outcome"] == "rejected" and again["total_duty"] == "0.00"
    assert "ELIG-EVTRQ-PERMIT-MISSING" in rules(again)
    fields = {item["field"]: item for item in changed}
    assert fields["outcome"] == {"field": "outcome", "original": "accepted", "replayed": "rejected"}
    assert fields["lines[1].treatment"]["original"] == "exempt"
    assert fields["lines[1].treatment"]["replayed"] == "no_permit"
    gone = {item["original"]["rule"] for item in changed if item["replayed"] is None}
    added = {item["replayed"]["rule"] for item in changed if item["original"] is None}
    assert {"ELIG-EVTRQ-PERSONAL", "DUTY-EVTRQ-PERSONAL"} <= gone
    assert "ELIG-EVTRQ-PERMIT-MISSING" in added


def test_a_licensed_importer_paid_the_excise_under_2026_1_and_owes_none_at_import_now(
    catalog: Catalog,
) -> None:
    """A licensed importer's 2 EVs of 2025-12-01: 200.00 excise and 10.00 of GST on it under
    CA-TAXES 2026.1, neither under 2026.2 (93,334.00 -> 93,124.00 CAD)."""
    body = declaration(
        "CAD-LIC-1",
        importer={
            "business_number": IMPORTER,
            "name": "Maple Motors Inc.",
            "excise_licensed": True,
        },
    )
    original, again, changed = replayed(catalog, body)
    assert (original["total_duty"], again["total_duty"]) == ("93334.00", "93124.00")
    assert {"field": "total_duty", "original": "93334.00", "replayed": "93124.00"} in changed
    assert "ELIG-TAX-EXCISE-AC-LICENSED" in rules(again)
    assert again["not_assessed"] == [
        {
            "tax": "Luxury tax on subject vehicles",
            "reference": "Select Luxury Items Tax Act; CBSA Memorandum D18-4-1",
            "reason": again["not_assessed"][0]["reason"],
        }
    ]
    assert "not_assessed" not in original or original["not_assessed"] == []
    assert {
        "field": "not_assessed",
        "original": [],
        "replayed": ["Luxury tax on subject vehicles"],
    } in changed


def test_the_fob_tolerance_has_no_legal_source_only_its_assumption(catalog: Catalog) -> None:
    """The FOB-versus-value control is Accord's own: its rule and its parameter name no
    source, only the assumption FOB-VALUE-TOLERANCE."""
    pack = next(pack for pack in catalog.current if pack.id == "CA-CN-EV-TRQ-2026")
    rule = next(
        rule
        for measure in pack.measures
        for rule in measure.rules
        if rule.id == "ELIG-EVTRQ-FOB-VALUE-GAP"
    )
    assert (rule.source, rule.assumption) == (None, "FOB-VALUE-TOLERANCE")
    values = pack.body.parameters["FOB-VALUE-TOLERANCE-BP"].values.values()
    assert [(entry.source, entry.assumption) for entry in values] == [(None, "FOB-VALUE-TOLERANCE")]


def _attached(pack: Pack) -> set[str]:
    """Every assumption name a pack attaches to something its findings can rest on."""
    names: set[str] = set()
    for parameter in pack.body.parameters.values():
        names.update(entry.assumption for entry in parameter.values.values() if entry.assumption)
    for measure in pack.measures:
        names.update(filter(None, [measure.scope.assumption]))
        names.update(spec.assumption for spec in measure.rates.values() if spec.assumption)
        for rule in measure.rules:
            names.update(filter(None, [rule.assumption, *rule.assumptions]))
        quota = measure.quota
        if quota is not None:
            names.update(quota.all_assumptions())
            names.update(sub.assumption for sub in quota.sub_quotas if sub.assumption)
            if quota.permits is not None:
                names.update(quota.permits.all_assumptions())
        arrangement = measure.arrangement
        if arrangement is not None:
            names.update(
                filter(
                    None,
                    [
                        arrangement.classification_assumption,
                        arrangement.bound_rate_assumption,
                        arrangement.counterparts_assumption,
                    ],
                )
            )
    table = pack.body.exchange_rates  # an older version's own table of rates
    if table is not None and table.assumption:
        names.add(table.assumption)
    conversion = pack.body.currency_conversion
    if conversion is not None:
        names.update(filter(None, [conversion.assumption, conversion.date_assumption]))
    return names


def test_every_assumption_of_the_quota_and_taxes_packs_is_attached(catalog: Catalog) -> None:
    """No assumption of the current EV quota or taxes pack is declared and left unattached:
    each qualifies a value, a rule, the quota, its permits or the arrangement."""
    for pack_id in OLD:
        pack = next(pack for pack in catalog.current if pack.id == pack_id)
        assert sorted(set(pack.body.assumptions) - _attached(pack)) == [], pack_id
