"""Which texts of a pack and of an arrangement are translated, and the loader's check of them.

The texts a user reads (`TEXTS`, `ARRANGEMENT_TEXTS`) must each have a translation in every
language of `TRANSLATED`, not empty, not fuzzy, marked official (with a URL) or unofficial,
and a message's translation must have the English placeholders; a message's placeholders
must be separated by literal text. Each refusal is a `PackError` naming the file, the field
and the language.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from rules.arrangement import Arrangement
from rules.catalogues import OFFICIAL, UNOFFICIAL, Catalogue, Catalogues, Entry
from rules.errors import PackError
from rules.languages import LANGUAGE_NAMES, TRANSLATED, Language
from rules.pack import Pack
from rules.templates import Template, shown


@dataclass(frozen=True)
class Text:
    """One text a user reads: the file and the field it is in, and its English wording.
    `template` for a finding's message (its placeholders are checked and re-rendered)."""

    file: str
    key: str
    english: str
    template: bool = False

    @property
    def location(self) -> str:
        """How a catalogue's `#:` comment names it: file name and field path."""
        return f"{Path(self.file).name}#{self.key}"


# The fields of a pack a user reads as prose: the API, the dashboard and the CLI show them.
# A field read only in the pack file (a parameter's description, a notification's `what`,
# a remission item's description) and every id, reference, citation, URL and code stays
# English; a field that starts being shown joins this list.
TEXTS = (
    "title",
    "sources.*.title",
    "assumptions.*.text",
    "not_assessed[*].tax",
    "not_assessed[*].reason",
    "measures[*].title",
    "measures[*].rules[*].message",
)
ARRANGEMENT_TEXTS = ("title", "sources.*.title", "sides[*].party")


def pack_texts(pack: Pack) -> Iterator[Text]:
    """Every text of `TEXTS` in a pack, in file order."""
    body, path = pack.body, pack.path
    yield Text(path, "title", body.title)
    for key, source in body.sources.items():
        yield Text(path, f"sources.{key}.title", source.title)
    for key, assumption in body.assumptions.items():
        yield Text(path, f"assumptions.{key}.text", assumption.text)
    for index, charge in enumerate(body.not_assessed):
        yield Text(path, f"not_assessed[{index}].tax", charge.tax)
        yield Text(path, f"not_assessed[{index}].reason", charge.reason)
    for measure in body.measures:
        where = f"measures[{measure.id}]"
        yield Text(path, f"{where}.title", measure.title)
        for rule in measure.rules:
            yield Text(path, f"{where}.rules[{rule.id}].message", rule.message, template=True)


def arrangement_texts(arrangement: Arrangement, path: str) -> Iterator[Text]:
    """Every text of `ARRANGEMENT_TEXTS` in an arrangement, in file order."""
    yield Text(path, "title", arrangement.title)
    for key, source in arrangement.sources.items():
        yield Text(path, f"sources.{key}.title", source.title)
    for index, side in enumerate(arrangement.sides):
        yield Text(path, f"sides[{index}].party", side.party)


def check_text(text: Text, lang: Language, catalogues: Sequence[Catalogue]) -> Entry:
    """The entry translating `text`: the first of `catalogues` that has one (as readers
    find it; the last is the one beside the pack). PackError naming the file, the field and
    the language when none has it, or the entry is empty or fuzzy, is marked neither
    official nor unofficial (or both), or changes a message's placeholders."""
    where = f"{LANGUAGE_NAMES[lang]} ({lang})"

    def fail(problem: str) -> PackError:
        return PackError(text.file, text.key, f"{where}: {problem}")

    found = next(
        (
            (catalogue, entry)
            for catalogue in catalogues
            if (entry := catalogue.entry(text.english)) is not None
        ),
        None,
    )
    if found is None:
        own = catalogues[-1]
        missing = "" if own.exists else ", which does not exist"
        raise fail(f"no translation in {own.path}{missing}")
    catalogue, entry = found
    if not entry.text:
        raise fail(f"the translation in {catalogue.path} is empty")
    if entry.fuzzy:
        raise fail(f"the translation in {catalogue.path} is marked fuzzy (not reviewed)")
    if entry.official is not None and entry.unofficial:
        raise fail(f"the translation in {catalogue.path} is marked both official and unofficial")
    if not entry.marked:
        raise fail(
            f"the translation in {catalogue.path} is marked neither "
            f"'#. {OFFICIAL} <citation with URL>' nor '#, {UNOFFICIAL}'"
        )
    if entry.official is not None and "://" not in entry.official:
        raise fail(f"the official citation in {catalogue.path} gives no URL")
    if text.template:
        english = Template.parse(text.english)
        try:
            translated = Template.parse(entry.text)
        except ValueError as exc:
            raise fail(f"the translation is not a readable template: {exc}") from None
        if translated.signature() != english.signature():
            raise fail(
                f"the translation's placeholders ({shown(translated.placeholders)}) differ "
                f"from the English ones ({shown(english.placeholders)})"
            )
    return entry


def check_template(text: Text) -> None:
    """A message's placeholders are separated by literal text, so that a stored finding
    reads back into its values."""
    pair = Template.parse(text.english).adjacent()
    if pair is not None:
        raise PackError(
            text.file,
            text.key,
            f"placeholders {shown(pair[:1])} and {shown(pair[1:])} are not separated by "
            "text, so a stored finding could not be read in another language",
        )


def check_texts(texts: Iterable[Text], catalogues: Catalogues) -> None:
    for text in texts:
        if text.template:
            check_template(text)
        for lang in TRANSLATED:
            check_text(text, lang, catalogues[lang])
