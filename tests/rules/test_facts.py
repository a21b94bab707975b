"""The declared facts, dated parameters and the assumptions findings rest on.

The engine states facts through the stage models of `rules.facts`, so what it states is
what packs may name; the docs' reference table is generated from the same models; a
parameter's dated values and a rate read from a parameter follow the declaration's date;
a finding lists the assumptions of the values its rule reads.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from helpers import BASE, BASE_LINE
from rules import engine
from rules.catalog import load_catalog
from rules.declaration_facts import line_facts
from rules.errors import PackError
from rules.facts import DOC, STAGE_MODELS, StatedFacts, declared_facts, model_facts, with_table
from rules.loader import SHIPPED_DIR, parse_pack
from rules.measure_checks import measure_facts
from rules.pack import Pack
from schemas.declaration import Declaration
from schemas.quota import Allocation, LineAllocationStatus
from schemas.verdict import Finding

# the parameter mechanism is exercised on version 2026.1, whose remission used dated
# parameters (2026.2 holds remission to the order's schedule instead)
SURTAX_FILE = SHIPPED_DIR / "ca-cn-surtax-2024@2026.1.yaml"
EST = timezone(timedelta(hours=-5))
STEEL = {"tariff_item": "7208.10.00.00", "unit": "KGM", "value_for_duty": "1000.00"}


def _declaration(day: date, **line: Any) -> Declaration:
    return Declaration.model_validate(
        {
            **BASE,
            "accepted_at": datetime.combine(day, time(10), EST).isoformat(),
            "lines": [{**BASE_LINE, **line}],
        }
    )


def _edited(*replacements: tuple[str, str]) -> Pack:
    text = SURTAX_FILE.read_text()
    for old, new in replacements:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return parse_pack(text.encode(), "edited-surtax.yaml")


def _verdict_findings(pack: Pack, day: date, **line: Any) -> dict[str, Finding]:
    evaluation = engine.evaluate(_declaration(day, **line), [pack], {})
    verdict = engine.finalize(evaluation, Allocation(applied=True))
    return {finding.rule: finding for finding in verdict.findings}


def test_docs_fact_table_is_generated_from_the_models() -> None:
    """docs/rule-packs.md's facts table is what `python -m rules.facts --markdown` writes."""
    text = DOC.read_text()
    assert with_table(text) == text, "run: python -m rules.facts --markdown"


def test_every_declared_fact_is_described() -> None:
    """Each fact of each stage model has a description and a type."""
    for model in STAGE_MODELS.values():
        for fact in model_facts(model):
            assert fact.description, f"{model.__name__}.{fact.name}"


def test_allocation_values_are_the_ledger_statuses() -> None:
    """The `allocation` fact's values are the statuses the quota ledger answers with."""
    facts = {fact.name: fact for fact in model_facts(STAGE_MODELS["allocation"])}
    assert set(facts["allocation"].values) == set(LineAllocationStatus.__args__)  # type: ignore[attr-defined]


def test_the_engine_states_only_declared_facts() -> None:
    """Every key of every fact the engine states for the shipped and test packs is declared for its stage and measure."""
    catalog = load_catalog()
    bookkeeping = {"stage", *StatedFacts.BOOKKEEPING}
    for pack in catalog.current:
        for measure in pack.measures:
            day = measure.effective.start
            item = measure.scope.prefixes()[0].ljust(10, "0")
            tariff = f"{item[:4]}.{item[4:6]}.{item[6:8]}.{item[8:10]}"
            declaration = _declaration(
                day, tariff_item=tariff, origin=measure.scope.origins[0], permit_number="X-1",
                remission_claim="SOR/2025-12", fob_unit_price="20000.00",
            )  # fmt: skip
            stated = line_facts(declaration, declaration.lines[0], measure, {}, {})
            assert set(stated) - bookkeeping <= set(declared_facts("line", measure))
            if measure.arrangement is not None:
                stated = measure_facts(measure, day)
                assert set(stated) - bookkeeping <= set(declared_facts("measure", measure))


def test_a_parameter_value_applies_from_its_date() -> None:
    """With the remission's last day moved by a second dated value, declarations follow the value in force on their date."""
    pack = _edited(
        (
            "      2024-10-22: {value: 2026-12-31, source: SOR-2025-12}\n",
            "      2024-10-22: {value: 2025-06-30, source: SOR-2025-12}\n"
            "      2025-09-01: {value: 2026-12-31, source: SOR-2025-12}\n",
        )
    )
    claimed = {**STEEL, "remission_claim": "SOR/2025-12"}
    # the first value ends remission on 2025-06-30; the gap until the second value starts
    for day, remitted in [
        (date(2025, 6, 30), True),
        (date(2025, 7, 1), False),
        (date(2025, 8, 31), False),
        (date(2025, 9, 1), True),
        (date(2026, 12, 31), True),
        (date(2027, 1, 1), False),
    ]:
        findings = _verdict_findings(pack, day, **claimed)
        assert ("ELIG-SUR-STAL-REMISSION" in findings) is remitted, day
        assert ("DUTY-SUR-STAL-SURTAX" in findings) is not remitted, day


def test_a_rate_read_from_a_parameter_follows_the_date() -> None:
    """A rate given as `param:` charges the value in force on the acceptance date."""
    pack = _edited(
        (
            'surtax: {rate: "25%", source: SOR-2024-202, assumption: STEEL-MFN-FREE}',
            "surtax: {param: STEEL-SURTAX}",
        ),
        (
            "\nmeasures:\n",
            "\n  STEEL-SURTAX:\n"
            "    description: Surtax on steel and aluminium\n"
            "    type: rate\n"
            "    values:\n"
            '      2024-10-22: {value: "25%", source: SOR-2024-202, assumption: STEEL-MFN-FREE}\n'
            '      2026-07-01: {value: "30%", source: SOR-2024-202}\n'
            "\nmeasures:\n",
        ),
    )
    for day, amount in [(date(2026, 6, 30), "250.00"), (date(2026, 7, 1), "300.00")]:
        evaluation = engine.evaluate(_declaration(day, **STEEL), [pack], {})
        verdict = engine.finalize(evaluation, Allocation(applied=True))
        assert str(verdict.total_duty) == amount
        surtax = {f.rule: f for f in verdict.findings}["DUTY-SUR-STAL-SURTAX"]
        assert ("STEEL-MFN-FREE" in surtax.assumptions) is (day < date(2026, 7, 1))


def test_findings_list_the_assumptions_they_rest_on() -> None:
    """A finding lists its rule's assumption and those of the measure's dates, scope, schedule, parameter and rate values it reads; settled law lists none."""
    pack = next(p for p in load_catalog().current if p.id == "CA-CN-SURTAX-2024")
    rebar = {**STEEL, "tariff_item": "7222.11.00.10"}
    refused = _verdict_findings(
        pack, date(2025, 6, 16), **rebar, remission_claim="SOR/2025-12 schedule 2 item 9.01"
    )
    scheduled = (
        "STAL-SCOPE-PROPOSAL",
        "REMISSION-CLAIM-FORM",
        "REMISSION-IMPORTER-COLUMN",
        "REMISSION-SCHEDULE-READ",
    )
    assert refused["ELIG-SUR-STAL-REMISSION-OTHER-IMPORTER"].assumptions == scheduled
    assert refused["DUTY-SUR-STAL-SURTAX"].assumptions == (*scheduled, "STEEL-MFN-FREE")
    charged = _verdict_findings(pack, date(2026, 7, 5), **STEEL)
    assert charged["DUTY-SUR-STAL-SURTAX"].assumptions == (
        "STAL-SCOPE-PROPOSAL",
        "REMISSION-CLAIM-FORM",
        "STEEL-MFN-FREE",
    )
    ev = _verdict_findings(pack, date(2025, 1, 5))
    # the repeal date no Gazette text read settles rests under every EV surtax finding
    assert ev["DUTY-SUR-EV-MFN"].assumptions == ("EV-SURTAX-REPEAL-DATE",)
    assert ev["DUTY-SUR-EV-SURTAX"].assumptions == ("EV-SURTAX-REPEAL-DATE",)
    assert "BOUND-RATE-8703" in ev["WTO-SUR-EV-BOUND-RATE"].assumptions
    mfn = _verdict_findings(pack, date(2025, 1, 5), tariff_item="8703.80.00.10")
    assert "EV-SURTAX-REPEAL-DATE" in mfn["DUTY-SUR-EV-MFN"].assumptions


def test_a_finding_stored_without_assumptions_still_reads() -> None:
    """A finding recorded before findings listed assumptions reads back with none."""
    stored = {
        "rule": "DUTY-SUR-EV-MFN", "severity": "info", "line": 1, "message": "m",
        "reference": "r", "measure": "CA-CN-SUR-2024-EV", "pack": "CA-CN-SURTAX-2024",
        "pack_version": "2026.1",
    }  # fmt: skip
    assert Finding.model_validate(stored).assumptions == ()


def test_a_pack_in_the_rules_dir_is_held_to_the_declared_facts(tmp_path: Path) -> None:
    """A pack dropped into ACCORD_RULES_DIR with a misspelt fact stops the catalog from loading, naming file and key."""
    broken = Path(__file__).parent / "broken" / "unknown-fact.yaml"
    (tmp_path / "mine.yaml").write_bytes(broken.read_bytes())
    with pytest.raises(PackError) as raised:
        load_catalog([tmp_path])
    assert raised.value.file == str(tmp_path / "mine.yaml")
    assert raised.value.key == "measures[BROKEN-M].rules[DUTY-BROKEN-MFN].when.import_typ"


TREATMENT_PACK = """
pack: TREATMENT-TEST
version: "1"
title: A rule on the declared tariff treatment
jurisdiction: CA
sources:
  TEST: {title: Test source (no legal effect)}
measures:
  - id: TREATMENT-M
    title: General Tariff claimed on a Chinese EV
    source: TEST
    effective: {from: 2026-01-01}
    scope: {origins: [CN], tariff_items: [8703.80.00]}
    rates:
      mfn: {rate: "6.1%", source: TEST}
    rules:
      # durable-rules crashes the process when no rule of a ruleset matches a fact (see
      # docs/engine.md): an unconditional rule keeps every fact matched
      - id: DUTY-TEST-TREATMENT-MFN
        severity: info
        then: {duties: [{type: customs_duty, rate: mfn}]}
        message: "MFN at {rate_mfn}."
        source: TEST
        reference: Test reference
      - id: ELIG-TEST-TREATMENT
        severity: warning
        when: {tariff_treatment: {not: "02"}}
        message: "Tariff treatment {tariff_treatment} claimed; goods of China take MFN (02)."
        source: TEST
        reference: Test reference
"""


def test_tariff_treatment_is_a_fact_rules_may_test() -> None:
    """A line's tariff treatment code is stated (MFN, 02, when the line names none) and a condition may test it."""
    pack = parse_pack(TREATMENT_PACK.encode(), "treatment.yaml")
    day = date(2026, 6, 1)
    assert "ELIG-TEST-TREATMENT" not in _verdict_findings(pack, day)
    assert "ELIG-TEST-TREATMENT" not in _verdict_findings(pack, day, tariff_treatment="02")
    flagged = _verdict_findings(pack, day, tariff_treatment="03")["ELIG-TEST-TREATMENT"]
    assert flagged.message == "Tariff treatment 03 claimed; goods of China take MFN (02)."
