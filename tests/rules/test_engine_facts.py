"""The engine states line and allocation facts without pydantic's round trip
(`rules.declaration_facts.stated`); what it states must be exactly what the stage models would:
the same names, in the same order, with the same values."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import pytest
from test_engine_projection import allocation_for, random_inputs

from rules import declaration_facts, engine, trail
from rules.catalog import Catalog
from rules.facts import AllocationFacts, LineFacts, StatedFacts


def test_stated_facts_are_the_models_statement_over_random_declarations(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every line and allocation fact of random declarations equals the model's own dump."""
    seen: dict[str, int] = {}
    fast = declaration_facts.stated

    def checked(
        model: type[StatedFacts], data: Mapping[str, Any], derived: Mapping[str, Any] = {}
    ) -> dict[str, Any]:
        facts = fast(model, data, derived)
        expected = model.model_validate(data).stated(derived)
        assert list(facts.items()) == list(expected.items())
        seen[model.STAGE] = seen.get(model.STAGE, 0) + 1
        return facts

    monkeypatch.setattr(declaration_facts, "stated", checked)
    for parsed, permits, mode in random_inputs(600, seed=99):
        evaluation = engine.evaluate(parsed, catalog.current, permits)
        trail.conclude(evaluation, allocation_for(evaluation, mode), permits)
    assert seen[LineFacts.STAGE] > 500
    assert seen[AllocationFacts.STAGE] > 20


def test_dates_are_stated_as_day_numbers_and_absent_facts_left_out() -> None:
    """A date becomes YYYYMMDD, None is left out, and derived facts come last."""
    facts = declaration_facts.stated(
        AllocationFacts,
        {"measure": "M", "line": 2, "allocation": "allocated", "accepted_on": date(2026, 3, 1),
         "quantity": 3, "in_quota_quantity": 3, "over_quota_quantity": 0, "period": None},
        {"extra": True},
    )  # fmt: skip
    assert list(facts.items()) == [
        ("stage", "allocation"), ("measure", "M"), ("line", 2), ("allocation", "allocated"),
        ("accepted_on", 20260301), ("quantity", 3), ("in_quota_quantity", 3),
        ("over_quota_quantity", 0), ("extra", True),
    ]  # fmt: skip
