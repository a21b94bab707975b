"""`accord` in French and Chinese through the real command: `--lang`, or by default the
locale of the environment (LC_ALL, then LANG); its labels, headers and messages in the
language, figures and timestamps as the locale writes them, Chinese columns aligned by
the width a terminal gives them, and `--json` the same in every language."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from cli.language import from_environment
from conftest import Stack, unique_id
from helpers import declaration

pytestmark = pytest.mark.stack


def accord(
    stack: Stack, *args: str, locale: str = "C.UTF-8", **environ: str
) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("LC_")}
    env.update(ACCORD_API_URL=stack.url, ACCORD_TOKEN=stack.tokens["admin"], LANG=locale)
    env.update(environ)
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip


def width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


@pytest.fixture(scope="module")
def decided(stack: Stack) -> str:
    body = declaration(unique_id("LANG"))
    with stack.client("admin") as client:
        assert client.post("/v1/declarations", json=body).status_code == 202
        answer = client.get(f"/v1/declarations/{body['declaration_id']}", params={"wait": 30})
        assert answer.json()["status"] == "decided"
    return str(body["declaration_id"])


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"LANG": "fr_CA.UTF-8"}, "fr"),
        ({"LANG": "zh_CN.UTF-8"}, "zh"),
        ({"LANG": "en_CA.UTF-8"}, "en"),
        ({"LANG": "de_DE.UTF-8"}, "en"),
        ({"LANG": "C.UTF-8"}, "en"),
        ({}, "en"),
        ({"LANG": "fr_CA.UTF-8", "LC_ALL": "zh_CN.UTF-8"}, "zh"),
        ({"LANG": "zh_CN.UTF-8", "LC_MESSAGES": "fr_FR.UTF-8"}, "fr"),
    ],
)
def test_the_default_language_is_the_environments_locale(
    environ: dict[str, str], expected: str
) -> None:
    assert from_environment(environ) == expected


def test_status_in_french_with_lang(stack: Stack, decided: str) -> None:
    """`--lang fr`: French labels and headers, the duty as fr_CA writes an amount, the
    decision's time as fr_CA writes it; the ids and codes as stored."""
    english = accord(stack, "status", decided)
    french = accord(stack, "--lang", "fr", "status", decided)
    assert english.returncode == 0 and french.returncode == 0, french.stderr
    head = dict(line.split(None, 1) for line in french.stdout.split("\n\n")[0].splitlines())
    assert head["déclaration"] == decided
    assert head["statut"] == "decided"  # a code, as the service answers it
    total = json.loads(accord(stack, "--json", "status", decided).stdout)["total_duty"]
    whole, cents = total.split(".")
    grouped = f"{int(whole):,}".replace(",", "\u00a0")
    assert head["droits_totaux"] == f"{grouped},{cents} CAD"
    assert " h " in head["décidée_le"] and "UTC" in head["décidée_le"]
    assert "ligne" in french.stdout.split("\n\n")[1].splitlines()[1]
    assert "decided_at" in english.stdout and "décidée_le" not in english.stdout


def test_quotas_in_chinese_from_the_locale_align_by_display_width(stack: Stack) -> None:
    """With LANG=zh_CN.UTF-8 and no --lang, `accord quotas` speaks Chinese; its columns
    line up on a terminal, where a Chinese character is two columns wide."""
    shown = accord(stack, "quotas", "CA-CN-EV-TRQ-2026", "--as-of", "2026-11-30",
                   locale="zh_CN.UTF-8")  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert "配额年度" in shown.stdout and "quota_year" not in shown.stdout
    block = next(part for part in shown.stdout.split("\n\n") if part.startswith("各期间"))
    header, *rows = block.splitlines()[1:]
    assert rows
    columns = header.split()
    assert columns[:3] == ["期间", "总量", "结转转入"]
    # each header word ends where its right-aligned figures end (or starts with its text)
    volume_end = width(header[: header.index("总量") + len("总量")])
    for row in rows:
        cells = row.split()
        end = width(row[: row.index(cells[1], len(cells[0])) + len(cells[1])])
        assert end == volume_end, (header, row)


def test_messages_and_json_in_each_language(stack: Stack, decided: str) -> None:
    """The CLI's own message is in the language; `--json` is the service's JSON, the same
    whatever the language (the record does not change with it)."""
    missing = accord(stack, "--lang", "zh", "status", decided, ACCORD_TOKEN="")
    assert missing.returncode == 2
    assert missing.stderr.strip() == "accord: 没有令牌：请使用 --token 或设置 ACCORD_TOKEN"
    french = accord(stack, "status", decided, locale="fr_CA.UTF-8", ACCORD_TOKEN="")
    assert "aucun jeton" in french.stderr
    bodies = [
        json.loads(accord(stack, "--json", "--lang", lang, "audit", decided).stdout)
        for lang in ("en", "fr", "zh")
    ]
    assert bodies[0]["head"] == bodies[1]["head"] == bodies[2]["head"]
    assert bodies[0]["verified"] and bodies[1]["verified"] and bodies[2]["verified"]
    assert [body["events"] for body in bodies[1:]] == [bodies[0]["events"]] * 2


def test_findings_come_in_the_language_asked(stack: Stack) -> None:
    """The packs' texts (a finding's message) reach `accord` in its language: the command
    asks the service in it (tests/packs/locale has the test pack's Chinese)."""
    body = declaration(unique_id("HELDZH"), accepted_at="2026-03-10T10:00:00-05:00",
                       lines=[{"origin": "VN"}])  # fmt: skip
    with stack.client("admin") as client:
        assert client.post("/v1/declarations", json=body).status_code == 202
        answer = client.get(f"/v1/declarations/{body['declaration_id']}", params={"wait": 30})
        assert answer.json()["outcome"] == "held"
    chinese = accord(stack, "--lang", "zh", "status", str(body["declaration_id"]))
    english = accord(stack, "status", str(body["declaration_id"]))
    assert chinese.returncode == 0, chinese.stderr
    assert "之前未向美国通报。" in chinese.stdout and "NOTIF-TEST-HELD-MISSING" in chinese.stdout
    assert "No notification to the United States before" in english.stdout


def test_submit_counts_its_outcomes_in_the_language(stack: Stack, tmp_path: Path) -> None:
    """`accord --lang fr submit --wait` heads its table and counts its outcomes in French."""
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(declaration(unique_id("SUBFR"))) + "\n", encoding="utf-8")
    shown = accord(stack, "--lang", "fr", "submit", str(path), "--wait")
    assert shown.returncode == 0, shown.stderr
    table, summary = shown.stdout.strip().split("\n\n")[-2:]
    assert table.splitlines()[0].split() == ["déclaration", "statut", "résultat", "droits_totaux"]
    assert summary == "acceptée: 1"
