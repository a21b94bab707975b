"""The service's own words in French and Chinese: error messages, what a good value looks
like, validation problems. English is the source: the English text in the code is the
message id of the gettext catalogues service/locale/{fr,zh}.po, marked with `_()` where
it is written (with `invalid` and the `*_WORDS` constants in schemas/, and pydantic's own
message templates). Translation happens on the way out, when an answer is written: the
English text is matched against the catalogue's ids, the values it carries (field names,
numbers, what was given) are put as they are into the translation, and a value that is
itself a message (what a BN15 looks like) is translated too. Text the catalogue does not
know stays English.

`python -m service.words check` lists the messages the code writes that a catalogue lacks
or translates with other placeholders; `update` adds the missing ones, empty, for a
translator to fill (docs/languages.md)."""

from __future__ import annotations

import ast
import functools
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po, write_po
from babel.numbers import format_decimal

# every error type with its template (what pydantic builds its own error docs from)
from pydantic_core._pydantic_core import list_all_errors

from rules.translations import BABEL_LOCALES, TRANSLATED, Language, Text, read_catalogue

LOCALE = Path(__file__).parent / "locale"
ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER = re.compile(r"\{[^{}]*\}")
_DEPTH = 3  # a message inside a message inside a message, at most


def _(text: str) -> str:
    """Marks an English text (a literal or an f-string) as a message of the catalogues:
    its id is the text as written, an f-string's fields being its placeholders."""
    return text


@dataclass(frozen=True)
class Template:
    """A message id with placeholders, as a pattern that finds their values in a text."""

    msgid: str
    translation: str
    pattern: re.Pattern[str]
    placeholders: tuple[str, ...]
    head: str  # the literal text before the first placeholder

    @classmethod
    def of(cls, msgid: str, translation: str) -> Template:
        literals = PLACEHOLDER.split(msgid)
        placeholders = tuple(PLACEHOLDER.findall(msgid))
        pattern = "(.+?)".join(re.escape(literal) for literal in literals)
        return cls(msgid, translation, re.compile(pattern, re.DOTALL), placeholders, literals[0])


# a figure the code wrote with its thousands grouped (`{asked:,}`): 30,000 or 1,234.5
GROUPED = re.compile(r"-?\d{1,3}(?:,\d{3})*(?:\.\d+)?")


@dataclass(frozen=True)
class Words:
    """One language's catalogue: exact messages, and templates tried most literal first.
    `locale` (Babel's name) writes a grouped figure again as the language groups it:
    30,000 reads as thirty in French, which writes 30 000."""

    exact: Mapping[str, str]
    templates: tuple[Template, ...]
    locale: str | None = None

    @classmethod
    def of(cls, entries: Mapping[str, str], locale: str | None = None) -> Words:
        exact = {msgid: text for msgid, text in entries.items() if not PLACEHOLDER.search(msgid)}
        templates = sorted(
            (Template.of(msgid, text) for msgid, text in entries.items() if msgid not in exact),
            key=lambda template: -len(PLACEHOLDER.sub("", template.msgid)),
        )
        return cls(exact, tuple(templates), locale)

    def figure(self, placeholder: str, value: str) -> str:
        """A value as the translation shows it: a figure the code grouped (a `,` in the
        placeholder's format) grouped for the locale, the decimals kept; else as given."""
        if self.locale is None or "," not in placeholder.partition(":")[2]:
            return value
        if not GROUPED.fullmatch(value):
            return value
        number = Decimal(value.replace(",", ""))
        places = max(0, -int(number.as_tuple().exponent))
        return format_decimal(number, format="#,##0." + "0" * places, locale=self.locale)

    def translate(self, text: str, depth: int = _DEPTH) -> str | None:
        """The translation of `text`, or None when no message of the catalogue reads so."""
        found = self.exact.get(text)
        if found is not None:
            return found
        if depth == 0:
            return None
        for template in self.templates:
            if not text.startswith(template.head):
                continue
            match = template.pattern.fullmatch(text)
            if match is None:
                continue
            out = template.translation
            for placeholder, value in zip(template.placeholders, match.groups(), strict=True):
                inner = self.translate(value, depth - 1)
                shown = self.figure(placeholder, value) if inner is None else inner
                out = out.replace(placeholder, shown)
            return out
        return None


def entries(language: Language) -> dict[str, str]:
    """The catalogue of `language` as English id -> translation (the ids without a
    translation one may show left out)."""
    catalogue = read_catalogue(LOCALE / f"{language}.po")
    found = (catalogue.get(msgid) for msgid in catalogue.entries)
    return {
        msgid: entry.text
        for msgid, entry in zip(catalogue.entries, found, strict=True)
        if entry is not None
    }


@functools.cache
def words(language: Language) -> Words:
    return Words.of(entries(language), BABEL_LOCALES[language])


def translate(text: str, language: Language) -> str:
    """`text` in `language`: the English as it is when the catalogue has no such message."""
    if language == "en":
        return text
    return words(language).translate(text) or text


def translate_detail(detail: Any, language: Language) -> Any:
    """An error answer's `detail` with its words in `language`: a sentence, the `message`
    of an object, the `message` of each field problem. Keys, field names and the other
    values (ids, numbers) are left as they are."""
    if language == "en" or detail is None:
        return detail
    if isinstance(detail, str):
        return translate(detail, language)
    if isinstance(detail, dict):
        message = detail.get("message")
        if isinstance(message, str):
            return {**detail, "message": translate(message, language)}
        return detail
    if isinstance(detail, list):
        return [translate_detail(item, language) for item in detail]
    return detail


# --- the messages the code writes -------------------------------------------------------

# Where they are written: in service/, marked `_()`; in schemas/, the validators' messages
# and the ValueErrors pydantic reports; in workers/, the refusals the API answers with. The
# argument at the given position of each call is a message.
MARKERS: Mapping[str, Mapping[str, int]] = {
    "service": {"_": 0},
    "schemas": {"invalid": 1, "ValueError": 0},
    "workers": {"NotCancellable": 1, "PermitRefused": 1, "TargetRefused": 0},
}
# pydantic's plural suffix ("character{expected_plural}") has no place in Chinese
OPTIONAL_PLACEHOLDERS = frozenset({"{expected_plural}"})


def _written(node: ast.expr) -> str | None:
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
            field += ":" + (_written(part.format_spec) or "")
        out += "{" + field + "}"
    return out


def _called(node: ast.AST) -> str | None:
    """The name a call calls, `invalid` of `invalid(…)` and of `identifiers.invalid(…)`."""
    if not isinstance(node, ast.Call):
        return None
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def _module_messages(path: Path, calls: Mapping[str, int]) -> Iterator[Text]:
    """The messages of one module: the argument at `calls[name]` of each call of `name`
    (`_()` must be given its text as written; a schema's message built of parts is left
    English), and the value of each `*_WORDS` constant."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        name = _called(node)
        if isinstance(node, ast.Call) and name is not None:
            position = calls.get(name)
            if position is None or len(node.args) <= position:
                continue
            text = _written(node.args[position])
            if text is None and name == "_":
                raise ValueError(f"{path}:{node.lineno}: _() is given a text as written")
            if text is not None:
                yield Text(str(path), f"line {node.lineno}", text)
        elif isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id.endswith("_WORDS") for target in node.targets
        ):
            value = node.value
            if isinstance(value, ast.Call) and value.args:  # _("...")
                value = value.args[0]
            text = _written(value)
            if text is not None:
                yield Text(str(path), f"line {node.lineno}", text)


def written_messages(root: Path = ROOT) -> list[Text]:
    """Every message the code writes, where it is written, and pydantic's templates."""
    found: list[Text] = []
    for folder, calls in MARKERS.items():
        for path in sorted((root / folder).rglob("*.py")):
            found.extend(_module_messages(path, calls))
    found.extend(
        Text("pydantic_core", str(error["type"]), str(error["message_template_python"]))
        for error in list_all_errors()
    )
    return found


def catalogue_problems(language: Language, messages: Sequence[Text]) -> list[str]:
    """What the catalogue of `language` lacks, or translates with other placeholders."""
    known = entries(language)
    problems = []
    for msgid in sorted({text.english for text in messages}):
        if msgid not in known:
            problems.append(f"{language}.po: no translation of {msgid!r}")
            continue
        wanted = set(PLACEHOLDER.findall(msgid))
        given = set(PLACEHOLDER.findall(known[msgid]))
        if not wanted - OPTIONAL_PLACEHOLDERS <= given <= wanted:
            problems.append(f"{language}.po: placeholders of {msgid!r} differ: {known[msgid]!r}")
    return problems


def update(language: Language, msgids: set[str]) -> tuple[int, list[str]]:
    """Add to the catalogue of `language` every message it lacks, empty for a translator
    to fill (and mark); remove nothing. How many were added, and the ids no longer
    written, for a translator to remove."""
    path = LOCALE / f"{language}.po"
    with path.open("rb") as file:
        catalogue = read_po(file)
    missing = sorted(msgids - {str(message.id) for message in catalogue if message.id})
    for msgid in missing:
        catalogue.add(msgid, "")
    unused = sorted(
        str(message.id) for message in catalogue if message.id and message.id not in msgids
    )
    with path.open("wb") as file:
        write_po(file, catalogue, width=100, sort_output=True, include_lineno=False)
    return len(missing), unused


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args not in (["check"], ["update"]):
        print("usage: python -m service.words check|update", file=sys.stderr)
        return 2
    messages = written_messages()
    if args == ["update"]:
        for language in TRANSLATED:
            added, unused = update(language, {text.english for text in messages})
            print(f"{language}.po: {added} messages added, {len(unused)} no longer written")
            for msgid in unused:
                print(f"  no longer written: {msgid!r}")
        return 0
    problems = [line for lang in TRANSLATED for line in catalogue_problems(lang, messages)]
    for line in problems:
        print(line)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
