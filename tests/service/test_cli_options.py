"""The `accord` command line without a server: global options before or after any verb,
from one definition, and the one renderer every verb prints through (tables by default,
the body unchanged with --json)."""

from __future__ import annotations

import json

import pytest

from cli.declaration_files import CAD_COLUMNS
from cli.main import build_parser, main
from cli.output import Fields, Table, emit, generic, render

VERBS = [
    ["status", "CAD-1"],
    ["cancel", "CAD-1"],
    ["audit", "CAD-1", "--verify"],
    ["submit", "examples/declarations.csv", "--wait"],
    ["quotas", "CA-CN-EV-TRQ-2026", "--as-of", "2026-03-10"],
    ["measures", "--checks"],
    ["decisions", "--rule", "ELIG-EVTRQ-PERMIT-MISSING"],
    ["replay", "CAD-1", "--pack", "2026.2"],
    ["export", "--from", "2026-03-01", "--to", "2026-03-31", "-o", "x.jsonl"],
    ["permits", "apply", "--business-number", "123456789RM0001", "--measure", "M",
     "--quantity", "3"],
    ["permits", "show", "P-1"],
    ["permits", "cancel", "P-1"],
    ["archive", "--older-than", "400"],
    ["simulate", "examples/ev-quota-year.jsonl", "--set", "quota.growth=10%"],
    ["run", "--port", "8001"],
]  # fmt: skip
GLOBAL = ["--api", "http://example.test:9000", "--token", "t0k", "--json"]


@pytest.mark.parametrize("verb", VERBS, ids=lambda verb: " ".join(verb[:2]))
def test_global_options_work_before_or_after_the_verb(verb: list[str]) -> None:
    """`accord --json VERB …` and `accord VERB … --json` read the same, for every verb."""
    parser = build_parser()
    before = parser.parse_args([*GLOBAL, *verb])
    after = parser.parse_args([*verb, *GLOBAL])
    assert before == after
    assert (before.api, before.token, before.json) == ("http://example.test:9000", "t0k", True)


def test_an_option_before_the_verb_is_not_reset_by_the_verbs_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A global option given only before the verb keeps its value; unset ones keep their environment defaults."""
    monkeypatch.setenv("ACCORD_API_URL", "http://from-env:1")
    monkeypatch.delenv("ACCORD_TOKEN", raising=False)
    args = build_parser().parse_args(["--token", "early", "permits", "show", "P-1"])
    assert (args.token, args.api, args.json) == ("early", "http://from-env:1", False)


def test_help_lists_every_verb_and_the_csv_layout(capsys: pytest.CaptureFixture[str]) -> None:
    """`accord --help` names each verb, and `accord submit --help` every CSV column of the layout."""
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for verb in {verb[0] for verb in VERBS}:
        assert f"    {verb} " in out
    assert main(["submit", "--help"]) == 0
    out = capsys.readouterr().out
    for column in CAD_COLUMNS:
        assert column.name in out
    assert main(["simulate", "--help"]) == 0
    assert "examples/ev-quota-year.jsonl" in capsys.readouterr().out


def test_a_bad_option_exits_2_after_the_verb_too(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown option is a usage error (2) wherever it stands."""
    assert main(["status", "CAD-1", "--colour"]) == 2
    assert "--colour" in capsys.readouterr().err


def test_tables_keep_amounts_as_given_and_align_figures_right() -> None:
    """Amounts print as the API wrote them, figures right-aligned, versions and ids left, absent as '-'."""
    text = render(
        [
            Table(
                ["declaration_id", "pack_version", "total_duty", "note"],
                [["CAD-1", "2026.3", "93334.00", None], ["CAD-22", "2026.10", "0.50", "x"]],
            )
        ]
    )
    assert text.splitlines() == [
        "declaration_id  pack_version  total_duty  note",
        "CAD-1           2026.3          93334.00  -",
        "CAD-22          2026.10             0.50  x",
    ]


def test_json_output_is_the_body_unchanged(capsys: pytest.CaptureFixture[str]) -> None:
    """With --json the renderer prints the body itself; without, its fields and tables."""
    body = {"permit_number": "P-1", "held": 2, "rate": "0.061", "events": [{"seq": 1}]}
    emit(body, True)
    assert json.loads(capsys.readouterr().out) == body
    emit(body, False)
    out = capsys.readouterr().out
    assert "permit_number  P-1" in out and "rate           0.061" in out
    assert "events\nseq\n  1" in out


def test_generic_view_nests_objects_as_titled_fields() -> None:
    """A nested object is shown as fields titled with its path, so no value is lost."""
    blocks = generic({"a": 1, "quota": {"quota_id": "Q", "period": "2026-09-01"}})
    assert blocks == [
        Fields([("a", 1)]),
        Fields([("quota_id", "Q"), ("period", "2026-09-01")], "quota"),
    ]
