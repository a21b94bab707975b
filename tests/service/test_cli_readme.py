"""README.md cannot drift from the code: every shell command of its console blocks is
checked. `accord` commands parse with the real parser and name files that exist; the
offline ones (`accord simulate`) run as written, and so do the others whose output the
README shows, against a running stack with the shipped packs and examples/tokens.yaml,
their output compared with the README's (`…` stands for any text, or alone on a line for
any lines); curl commands send an example file that validates, to a route the service
has; `make` commands name a target of the Makefile. The CSV columns table is the layout
the reader uses."""

from __future__ import annotations

import itertools
import json
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import ROOT, Stack, make_stack
from schemas.declaration import Declaration
from schemas.permit import PermitApplication
from schemas.rates import parse_rates
from schemas.webhook import SubscriptionRequest
from service.cli import build_parser
from service.declaration_files import CAD_COLUMNS
from service.simulate import main as simulate

README = ROOT / "README.md"
EXAMPLES = ROOT / "examples"
# programs a README command may start with, and the shell words that only set things up
PROGRAMS = {".venv/bin/accord", ".venv/bin/python", "curl", "make", "cat", "export"}
_ASSIGNMENT = re.compile(r"[A-Z_][A-Z0-9_]*=")


@dataclass(frozen=True)
class Command:
    text: str
    words: tuple[str, ...]  # after the leading VAR=value assignments
    env: dict[str, str]  # those assignments
    output: tuple[str, ...]  # the lines the README shows under it
    line: int

    @property
    def program(self) -> str:
        return self.words[0] if self.words else ""

    def __str__(self) -> str:
        return f"README.md:{self.line}: {self.text}"


def readme_commands() -> list[Command]:
    """Every `$ ` command of README's console blocks, continuation lines joined."""
    commands: list[Command] = []
    lines = README.read_text(encoding="utf-8").splitlines()
    inside = False
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if line.startswith("```"):
            inside = line.strip() == "```console"
            continue
        if not inside or not line.startswith("$ "):
            continue
        start = index
        text = line[2:]
        while text.endswith("\\"):
            text = text[:-1] + " " + lines[index].strip()
            index += 1
        heredoc = re.search(r"<<'?(\w+)'?", text)
        if heredoc:
            while lines[index].strip() != heredoc.group(1):
                index += 1
            index += 1
        output = []
        while index < len(lines) and not lines[index].startswith(("$ ", "```")):
            output.append(lines[index])
            index += 1
        while output and not output[-1].strip():
            output.pop()
        words = shlex.split(text, comments=True)
        env = {}
        while words and _ASSIGNMENT.match(words[0]):
            name, _, value = words.pop(0).partition("=")
            env[name] = value
        commands.append(Command(text, tuple(words), env, tuple(output), start))
    return commands


COMMANDS = readme_commands()
ACCORD = [command for command in COMMANDS if command.program == ".venv/bin/accord"]


def test_the_readme_shows_commands_of_every_kind() -> None:
    """The extraction finds the README's accord, curl and make commands (a broken extractor checks nothing)."""
    programs = {command.program for command in COMMANDS}
    assert {".venv/bin/accord", "curl", "make"} <= programs
    assert len(ACCORD) >= 15
    verbs = {command.words[1] for command in ACCORD}
    assert {"submit", "status", "simulate", "permits", "decisions", "export"} <= verbs


@pytest.mark.parametrize("command", COMMANDS, ids=str)
def test_every_readme_command_is_one_the_project_has(command: Command) -> None:
    """Each command parses with the real `accord` parser, names example files that exist, or names a Makefile target."""
    assert command.program in PROGRAMS or not command.words, command
    if command.program == ".venv/bin/accord":
        args = build_parser().parse_args(list(command.words[1:]))
        for name in ("file", "chart", "output"):
            value = getattr(args, name, None)
            if value and value.startswith("examples/"):
                assert (ROOT / value).is_file(), value
    elif command.program == "make":
        targets = re.findall(r"^([a-z-]+):", (ROOT / "Makefile").read_text(), re.MULTILINE)
        assert set(command.words[1:]) <= set(targets)
    elif command.program == "curl":
        method, path, body = curl_request(command)
        assert path.startswith("/v1/")
        if body is not None:
            assert method == "POST"
            if path == "/v1/exchange-rates":
                parse_rates(body)
            else:
                models = {"/v1/permits": PermitApplication, "/v1/webhooks": SubscriptionRequest}
                models.get(path, Declaration).model_validate(body)


def curl_request(command: Command) -> tuple[str, str, Any]:
    """A README curl command's method, path and body (from the example file it sends)."""
    words = list(command.words[1:])
    method, body, url = "GET", None, None
    while words:
        word = words.pop(0)
        if word == "-X":
            method = words.pop(0)
        elif word == "-H":
            words.pop(0)
        elif word == "-d":
            data = words.pop(0)
            assert data.startswith("@examples/"), f"{command}: send an example file"
            body = json.loads((ROOT / data[1:]).read_text())
        elif word == "|":  # what follows is another program (`| tee FILE`)
            break
        elif not word.startswith("-"):
            url = word
    assert url is not None, command
    return method, httpx.URL(f"http://{url}").path, body


def curl_headers(command: Command) -> dict[str, str]:
    """The headers a README curl command sends with -H (its Authorization is `$TOKEN`)."""
    words = list(command.words[1:])
    return dict(
        (name.strip(), value.strip())
        for flag, header in itertools.pairwise(words)
        if flag == "-H"
        for name, _, value in [header.partition(":")]
        if name.strip().lower() != "authorization"
    )


def test_the_readme_csv_columns_are_the_readers_layout() -> None:
    """The README's table of CSV columns lists the reader's columns, in order, with their fields."""
    text = README.read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([a-z_]+)` \| [^|]+ \| `([a-z_.]+)` \|", text, re.MULTILINE)
    assert rows == [(column.name, column.field) for column in CAD_COLUMNS]


def matches(shown: tuple[str, ...], actual: str) -> bool:
    """Whether output matches what the README shows: `…` alone on a line stands for any
    lines, within a line for any text; trailing spaces do not count."""
    pattern = ""
    for line in shown:
        if line.strip() == "…":
            pattern += r"(?:[^\n]*\n)*?"
        else:
            pattern += ".*".join(re.escape(part) for part in line.rstrip().split("…")) + r"\n"
    text = "".join(
        line.rstrip() + "\n" for line in actual.replace("\r", "").strip("\n").splitlines()
    )
    return re.fullmatch(pattern, text) is not None


def _answer_pattern(parts: list[str]) -> str:
    return ".*".join(r"\s*".join(re.escape(piece) for piece in part.split()) for part in parts)


def answer_matches(shown: tuple[str, ...], actual: str) -> bool:
    """Whether a JSON answer is what the README shows of it: `…` stands for the fields it
    leaves out (any text), white space where the README wraps a line may be absent."""
    parts = " ".join(line.strip() for line in shown).split("…")
    return re.fullmatch(_answer_pattern(parts), actual.strip(), re.DOTALL) is not None


def answer_mismatch(shown: tuple[str, ...], actual: str) -> str:
    """The first piece of the README's answer (between two `…`) the actual one lacks."""
    parts = " ".join(line.strip() for line in shown).split("…")
    for count in range(1, len(parts) + 1):
        if not re.match(_answer_pattern(parts[:count]), actual.strip(), re.DOTALL):
            return f"the answer lacks {parts[count - 1]!r} where the README shows it"
    return "the answer goes on where the README's ends"


def test_readme_answer_elisions_stand_for_fields_left_out() -> None:
    """An answer that leaves a field out without `…` does not match; one with it does."""
    actual = '{"a":1,"b":"x y","c":3}'
    assert answer_matches(('{"a":1, …,"c":3}',), actual)
    assert answer_matches(('{"a":1,"b":"x', '  y","c":3}'), actual)
    assert not answer_matches(('{"a":1,"c":3}',), actual)


def test_readme_output_wildcards_match_lines_and_text() -> None:
    """The comparison accepts `…` for lines and for text, and refuses a changed figure."""
    assert matches(("a  1", "…", "z"), "a  1\nb\nc\nz\n")
    assert matches(("row …", "end"), "row 42 x\nend\n")
    assert not matches(("total 93334.00",), "total 93335.00\n")


@pytest.mark.parametrize(
    "command", [c for c in ACCORD if c.words[1] == "simulate"], ids=str
)  # fmt: skip
def test_readme_simulate_commands_run_offline_as_shown(
    command: Command,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`accord simulate` as the README writes it runs from a fresh clone's folder without a server, and prints what the README shows."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "examples").symlink_to(EXAMPLES)
    assert simulate(list(command.words[2:])) == 0
    out = capsys.readouterr().out
    assert matches(command.output, out), out
    chart = build_parser().parse_args(list(command.words[1:])).chart
    assert (tmp_path / chart).read_bytes().startswith(b"\x89PNG")


# --- against a running stack -----------------------------------------------------------------


@pytest.fixture(scope="module")
def readme_stack(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack of this module's own with the shipped packs only and examples/tokens.yaml,
    as `ACCORD_TOKENS_FILE=examples/tokens.yaml make run` starts it."""
    directory = tmp_path_factory.mktemp("readme-stack")
    no_extra_packs = directory / "packs"
    no_extra_packs.mkdir()
    running = make_stack(
        redis_url,
        directory,
        ACCORD_TOKENS_FILE=str(EXAMPLES / "tokens.yaml"),
        ACCORD_RULES_DIR=str(no_extra_packs),
        # the "Every verb" block subscribes a receiver on this machine, as the README's
        # webhooks section starts the service for
        ACCORD_WEBHOOK_ALLOW_PRIVATE="1",
    )
    try:
        running.start_worker()
        running.start_api()
        yield running
    finally:
        running.stop()


@pytest.mark.stack
def test_readme_curl_commands_reach_routes_of_the_service(readme_stack: Stack) -> None:
    """Each curl command of the README calls a method and path the running service's OpenAPI document has."""
    paths = httpx.get(f"{readme_stack.url}/openapi.json", timeout=30).json()["paths"]
    templates = [
        (re.compile(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$"), methods)
        for path, methods in paths.items()
    ]
    for command in COMMANDS:
        if command.program != "curl":
            continue
        method, path, _ = curl_request(command)
        assert any(
            pattern.match(path) and method.lower() in methods for pattern, methods in templates
        ), command


# the exit codes the README gives for its commands, where not 0: the broker's file has a
# declaration the service rejects ("some were not [accepted] (4)")
# a file with a declaration not accepted (the CSV's personal EV without its permit) exits 4
EXIT_CODES = {
    "submit examples/declarations.jsonl --wait": 4,
    "submit examples/declarations.csv --wait": 4,
}
ADMIN_TOKEN = "admin-token-change-me-00001"  # examples/tokens.yaml's; `$TOKEN` in the curl session


def every_verb_block() -> list[Command]:
    """The commands of the console block that follows the README's "Every verb" sentence."""
    lines = README.read_text(encoding="utf-8").splitlines()
    sentence = next(index for index, line in enumerate(lines) if line.startswith("Every verb ("))
    opening = lines.index("```console", sentence)
    closing = lines.index("```", opening)
    # a command's `line` is the 1-based number of its `$ ` line
    return [command for command in COMMANDS if opening + 1 < command.line <= closing]


def test_the_every_verb_block_names_every_client_verb() -> None:
    """The "Every verb" block sets the token it needs and uses each verb of `accord` that
    talks to the service (a verb missing from it would go untested below)."""
    block = every_verb_block()
    assert block[0].program == "export" and block[0].words[1].startswith("ACCORD_TOKEN=")
    verbs = {" ".join(command.words[1:3]) if command.words[1] == "permits" else command.words[1]
             for command in block if command.program == ".venv/bin/accord"}  # fmt: skip
    assert verbs == {
        "submit", "status", "audit", "permits apply", "permits show", "permits cancel", "quotas",
        "measures", "decisions", "rates", "cancel", "replay", "export", "archive", "webhooks",
    }  # fmt: skip


@pytest.mark.stack
def test_the_readme_runs_in_order_as_written(readme_stack: Stack, tmp_path: Path) -> None:
    """Every command of the README up to the end of its "Every verb" block, in the README's
    order, against a running stack: the curl session, the broker's and the auditor's
    commands, then the block with the token it sets; each exits with the code the README
    gives (0 unless it says otherwise) and prints what the README shows; the export holds
    what was just decided, and the replay under the older pack version shows a difference.
    A subscription id (`wh_…`) the service makes at random stands for the one `webhooks add`
    printed."""
    (tmp_path / "examples").symlink_to(EXAMPLES)  # a clone's folder, without its files
    env = {**readme_stack.env, "ACCORD_API_URL": readme_stack.url, "PYTHONPATH": str(ROOT)}
    env.pop("ACCORD_TOKEN", None)
    block = {command.line for command in every_verb_block()}
    ran: dict[int, subprocess.CompletedProcess[str]] = {}
    subscription = None
    for command in COMMANDS:
        if command.line > max(block):
            break  # the sections after it start services of their own (webhook receivers)
        if command.program == "export":
            name, _, value = command.words[1].partition("=")
            env[name] = value
            continue
        if command.program == "curl":
            method, path, body = curl_request(command)
            query = httpx.URL(f"http://{next(w for w in command.words[1:] if 'localhost' in w)}")
            response = httpx.request(
                method, f"{readme_stack.url}{path}", params=query.params, json=body,
                headers={**curl_headers(command), "Authorization": f"Bearer {ADMIN_TOKEN}"},
                timeout=30,
            )  # fmt: skip
            # a refusal only where the README shows one
            refusal = command.output[:1] and command.output[0].startswith('{"error"')
            assert response.status_code < 300 or refusal, f"{command}\n{response.text}"
            if command.output:  # the answer as the README shows it, fields left out as `…`
                assert answer_matches(command.output, response.text), (
                    f"{command}: {answer_mismatch(command.output, response.text)}"
                )
            continue
        if command.program != ".venv/bin/accord" or command.words[1] in ("simulate", "run"):
            continue  # make, the offline simulations (tested above), starting the service
        words = [
            subscription if subscription and re.fullmatch(r"wh_[0-9a-f]{16}", word) else word
            for word in command.words[1:]
        ]
        result = subprocess.run(
            [sys.executable, "-m", "service.cli", *words],
            env={**env, **command.env}, cwd=tmp_path, capture_output=True, text=True,
            timeout=120, check=False,
        )  # fmt: skip
        if command.words[1:3] == ("webhooks", "add") and result.returncode == 0:
            subscription = re.search(r"\bwh_[0-9a-f]{16}\b", result.stdout).group(0)  # type: ignore[union-attr]
        expected = EXIT_CODES.get(" ".join(command.words[1:]), 0)
        assert result.returncode == expected, f"{command}\n{result.stderr}"
        if command.output:
            shown = result.stderr.replace("\r", "") + result.stdout
            assert matches(command.output, shown), f"{command}\n{shown}"
        ran[command.line] = result
    assert block <= set(ran) | {min(block)}  # every command of the block ran (its export: above)
    by_verb = {COMMAND_AT[line].words[1]: result for line, result in ran.items()
               if line in block}  # fmt: skip
    replayed = fields_of(by_verb["replay"].stdout)
    assert int(replayed["differences"]) > 0
    export = next(COMMAND_AT[line] for line in block if COMMAND_AT[line].words[1:2] == ("export",))
    written = tmp_path / export.words[export.words.index("-o") + 1]
    exported = {json.loads(line)["status"]["declaration_id"]
                for line in written.read_text().splitlines()}  # fmt: skip
    assert {"CAD-2025-0101", "CAD-2026-0102", "CAD-2024-0201", "CAD-2026-0100"} <= exported


COMMAND_AT = {command.line: command for command in COMMANDS}


def fields_of(text: str) -> dict[str, str]:
    """The first block of a CLI view: its labelled values."""
    block = text.split("\n\n", 1)[0]
    return dict(line.split(None, 1) for line in block.splitlines() if len(line.split()) > 1)
