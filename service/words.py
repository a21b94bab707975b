"""The service's own words in French and Chinese: error messages, what a good value looks
like, validation problems. English is the source: the English text in the code is the
message id of the gettext catalogues service/locale/{fr,zh}.po, marked with `_()` where
it is written (with `_invalid` and the `*_WORDS` constants in schemas/, and pydantic's own
message templates). Translation happens on the way out, when an answer is written: the
English text is matched against the catalogue's ids, the values it carries (field names,
numbers, what was given) are put as they are into the translation, and a value that is
itself a message (what a BN15 looks like) is translated too. Text the catalogue does not
know stays English."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rules.translations import Language, read_catalogue

LOCALE = Path(__file__).parent / "locale"
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


@dataclass(frozen=True)
class Words:
    """One language's catalogue: exact messages, and templates tried most literal first."""

    exact: Mapping[str, str]
    templates: tuple[Template, ...]

    @classmethod
    def of(cls, entries: Mapping[str, str]) -> Words:
        exact = {msgid: text for msgid, text in entries.items() if not PLACEHOLDER.search(msgid)}
        templates = sorted(
            (Template.of(msgid, text) for msgid, text in entries.items() if msgid not in exact),
            key=lambda template: -len(PLACEHOLDER.sub("", template.msgid)),
        )
        return cls(exact, tuple(templates))

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
                out = out.replace(placeholder, value if inner is None else inner)
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
    return Words.of(entries(language))


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
