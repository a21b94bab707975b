"""The service's own words have French and Chinese: every message the code marks (with
`_()` in service/, `_invalid` and `ValueError` in schemas/, the `*_WORDS` descriptions of
a good value) and every pydantic error template is in service/locale/{fr,zh}.po with the
same placeholders, and marked official or unofficial. The ids are read from the code
itself, so a message added without its translations fails here."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic_core._pydantic_core import list_all_errors

from conftest import ROOT
from rules.translations import Language, read_catalogue
from service.language import LANGUAGES
from service.words import LOCALE, PLACEHOLDER, Words, entries, translate

# pydantic's plural suffix ("character{expected_plural}") has no place in Chinese
OPTIONAL_PLACEHOLDERS = frozenset({"{expected_plural}"})


def _template(node: ast.expr) -> str | None:
    """A literal's text, or an f-string's with each field as its placeholder `{expr}`."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if not isinstance(node, ast.JoinedStr):
        return None
    out = ""
    for part in node.values:
        if isinstance(part, ast.Constant):
            out += str(part.value)
            continue
        assert isinstance(part, ast.FormattedValue)
        field = ast.unparse(part.value)
        if part.conversion != -1:
            field += "!" + chr(part.conversion)
        if part.format_spec is not None:
            field += ":" + (_template(part.format_spec) or "")
        out += "{" + field + "}"
    return out


def _marked(path: Path, calls: dict[str, int]) -> Iterator[str]:
    """The messages of one module: the argument at `calls[name]` of each call of `name`,
    and the value of each `*_WORDS` constant."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            position = calls.get(node.func.id)
            if position is not None and len(node.args) > position:
                text = _template(node.args[position])
                # `_()` is given its text as written; a schema's message built of parts is
                # left English
                assert text is not None or node.func.id != "_", f"{path}:{node.lineno}"
                if text is not None:
                    yield text
        elif isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id.endswith("_WORDS") for target in node.targets
        ):
            value = node.value
            if isinstance(value, ast.Call) and value.args:  # _("...")
                value = value.args[0]
            text = _template(value)
            if text is not None:
                yield text


def service_msgids() -> set[str]:
    found: set[str] = set()
    for path in sorted((ROOT / "service").rglob("*.py")):
        found.update(_marked(path, {"_": 0}))
    for path in sorted((ROOT / "schemas").rglob("*.py")):
        found.update(_marked(path, {"_invalid": 1, "ValueError": 0}))
    # the workflows' refusals, whose words the API answers with
    for path in sorted((ROOT / "workers").rglob("*.py")):
        found.update(_marked(path, {"NotCancellable": 1, "PermitRefused": 1, "TargetRefused": 0}))
    found.update(error["message_template_python"] for error in list_all_errors())
    return found


MSGIDS = sorted(service_msgids())


def test_the_code_marks_messages() -> None:
    """The extraction finds the messages it should (a guard against finding none)."""
    assert "send Authorization: Bearer TOKEN" in MSGIDS
    assert "must be {words}, got {given!r}" in MSGIDS
    assert "Field required" in MSGIDS
    assert any(msgid.startswith("a BN15: the 9-digit business number") for msgid in MSGIDS)


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != "en"])
def test_every_message_has_its_translation_with_the_same_placeholders(
    language: Language,
) -> None:
    known = entries(language)
    missing = [msgid for msgid in MSGIDS if msgid not in known]
    assert not missing, f"{language}.po lacks {len(missing)}: {missing[:10]}"
    for msgid in MSGIDS:
        wanted = set(PLACEHOLDER.findall(msgid))
        given = set(PLACEHOLDER.findall(known[msgid]))
        assert wanted - OPTIONAL_PLACEHOLDERS <= given <= wanted, (language, msgid, known[msgid])
    unused = sorted(set(known) - set(MSGIDS))
    assert not unused, f"{language}.po has messages the code no longer writes: {unused[:10]}"


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != "en"])
def test_every_translation_says_whether_it_is_official(language: Language) -> None:
    catalogue = read_catalogue(LOCALE / f"{language}.po")
    assert catalogue.entries
    for msgid, entry in catalogue.entries.items():
        assert entry.marked and not entry.fuzzy, msgid


def test_a_message_inside_a_message_is_translated_and_values_stay() -> None:
    """What a BN15 looks like is translated inside "must be …, got …"; what was given
    stays as it was given."""
    from schemas.declaration import BN15_WORDS

    english = f"must be {BN15_WORDS}, got '12345'"
    french = translate(english, "fr")
    assert french != english and "'12345'" in french and "123456789RM0001" in french
    assert translate(BN15_WORDS, "fr") in french
    assert translate("nothing the catalogue knows", "zh") == "nothing the catalogue knows"


def test_the_most_literal_template_wins() -> None:
    words = Words.of({"must be {w}": "doit être {w}", "must be {w}, got {g}": "{w} ; reçu {g}"})
    assert words.translate("must be X, got 'y'") == "X ; reçu 'y'"
    assert words.translate("must be X") == "doit être X"
