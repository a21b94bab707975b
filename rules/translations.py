"""The packs' texts in French and Chinese: gettext catalogues beside the packs.

A pack is written in English. The texts a user reads in it (see `TEXTS`) are translated
in two catalogues beside the pack files, `<packs dir>/locale/fr.po` and `zh.po`, whose
msgids are the English texts exactly as YAML parses them: a text several pack versions
share is translated once, and the pack files, their hashes, the verdicts that name them
and the audit chain do not change with a translation. Translation is presentation.

Each entry says what its translation is: `#. official: <citation with URL>` when it is the
text as an official source publishes it (a French title in the Canada Gazette, a Chinese
title of a MOFCOM announcement), else the flag `#, unofficial`. The catalog refuses a pack
one of whose texts a catalogue lacks or leaves empty, a translated message whose
placeholders are not the English ones, an entry marked neither way, and a message whose
placeholders are not separated by literal text (a stored finding could not be read back
into its values).

A stored finding holds its message in English. `PackTexts.message` reads it in another
language: it matches the stored text against the rule's English template, takes the
placeholders' values and puts them in the translated template; a message that does not
match (stored under older wording) is given in English, and the caller is told so.

The catalog checks the loaded packs' texts and holds them: `load_catalog().texts` is the
`PackTexts` readers ask (`text`, `is_official`, `message`).

`python -m rules.translations check|update <packs dir>` checks the catalogues of a packs
directory, or adds the texts they lack (docs/rule-packs.md, "Translations").
"""

from __future__ import annotations

import functools
import re
import string
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Literal, cast

from babel.messages.catalog import Catalog as PoCatalog
from babel.messages.pofile import PoFileError, read_po, write_po

from rules.arrangement import SHIPPED_ARRANGEMENTS, Arrangement, load_arrangements
from rules.errors import PackError
from rules.loader import SHIPPED_DIR, load_packs
from rules.pack import Pack

Language = Literal["en", "fr", "zh"]
LANGUAGES: tuple[Language, ...] = ("en", "fr", "zh")
# the languages a pack is translated into (English is the packs' own)
TRANSLATED: tuple[Language, ...] = ("fr", "zh")
LANGUAGE_NAMES: Mapping[Language, str] = {"en": "English", "fr": "French", "zh": "Chinese"}
# The locale (Babel's name) each language's numbers and dates are written for: Canada's
# English and French, and the Simplified Chinese of the People's Republic.
BABEL_LOCALES: Mapping[Language, str] = {"en": "en_CA", "fr": "fr_CA", "zh": "zh_Hans_CN"}
LOCALE_DIR = "locale"
OFFICIAL = "official:"
UNOFFICIAL = "unofficial"
FUZZY = "fuzzy"


def language_named(tag: str) -> Language | None:
    """The language a tag names by its primary subtag: an HTTP language tag (fr-CA,
    zh-Hans-CN) or a locale (fr_CA.UTF-8, zh_CN@pinyin); None for one Accord does not have."""
    primary = re.split(r"[-_.@]", tag.strip(), maxsplit=1)[0].lower()
    return next((language for language in LANGUAGES if language == primary), None)


# --- catalogues -------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One translation: its text, and the citation of the official text it is (None for a
    translation of Accord's own, flagged unofficial)."""

    text: str
    official: str | None
    # how the entry is marked, as the catalogue says it (the check reads these)
    unofficial: bool = False
    fuzzy: bool = False
    locations: tuple[str, ...] = ()

    @property
    def marked(self) -> bool:
        """Marked exactly one way: official with a citation, or unofficial."""
        return (self.official is not None) != self.unofficial


@dataclass(frozen=True)
class Catalogue:
    """A gettext catalogue read whole: English text -> its entry. `get` answers only a
    translation one may show (not empty, not fuzzy); `entry` any entry the file has."""

    path: str
    entries: Mapping[str, Entry] = field(default_factory=dict)
    exists: bool = True

    def get(self, english: str) -> Entry | None:
        entry = self.entries.get(english)
        if entry is None or not entry.text or entry.fuzzy:
            return None
        return entry

    def entry(self, english: str) -> Entry | None:
        return self.entries.get(english)


def _official(comments: Sequence[str]) -> str | None:
    """The citation of `#. official: …` (its lines joined), None if the entry has none."""
    for index, comment in enumerate(comments):
        if comment.startswith(OFFICIAL):
            text = " ".join([comment[len(OFFICIAL) :], *comments[index + 1 :]])
            return " ".join(text.split())
    return None


def read_catalogue(path: str | Path) -> Catalogue:
    """A `.po` file read with Babel; a file that does not exist reads as an empty
    catalogue (`exists` False). Plural entries are not read (no pack text has plurals)."""
    path = Path(path)
    if not path.is_file():
        return Catalogue(str(path), {}, exists=False)
    with path.open("rb") as handle:
        try:
            catalog = read_po(handle, abort_invalid=True)
        except (PoFileError, ValueError, UnicodeDecodeError) as exc:
            raise PackError(str(path), "document", f"unreadable catalogue: {exc}") from None
    entries: dict[str, Entry] = {}
    for message in catalog:
        if not message.id or not isinstance(message.id, str):
            continue
        text = message.string if isinstance(message.string, str) else ""
        entries[message.id] = Entry(
            text=text,
            official=_official(list(message.auto_comments)),
            unofficial=UNOFFICIAL in message.flags,
            fuzzy=FUZZY in message.flags,
            locations=tuple(name for name, _ in message.locations),
        )
    return Catalogue(str(path), entries)


def catalogue_path(directory: str | Path, lang: Language) -> Path:
    return Path(directory) / LOCALE_DIR / f"{lang}.po"


# --- the texts of a pack ----------------------------------------------------------------


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


# --- templates --------------------------------------------------------------------------

# a placeholder as `string.Formatter().parse` gives it: field name, format spec, conversion
Placeholder = tuple[str, str, str]


@dataclass(frozen=True)
class Template:
    """A message template cut at its placeholders: literals[0] p[0] literals[1] … p[n-1]
    literals[n]."""

    literals: tuple[str, ...]
    placeholders: tuple[Placeholder, ...]

    @classmethod
    def parse(cls, text: str) -> Template:
        """ValueError for a template `str.format` cannot read."""
        literals: list[str] = [""]
        placeholders: list[Placeholder] = []
        for literal, name, spec, conversion in string.Formatter().parse(text):
            literals[-1] += literal
            if name is not None:
                placeholders.append((name, spec or "", conversion or ""))
                literals.append("")
        return cls(tuple(literals), tuple(placeholders))

    def signature(self) -> Counter[Placeholder]:
        return Counter(self.placeholders)

    def adjacent(self) -> tuple[Placeholder, Placeholder] | None:
        """Two placeholders with no literal text between them, if any."""
        for index in range(1, len(self.placeholders)):
            if not self.literals[index]:
                return self.placeholders[index - 1], self.placeholders[index]
        return None

    def render(self, values: Mapping[Placeholder, str]) -> str:
        """The template with each placeholder replaced by its rendered text."""
        parts = [self.literals[0]]
        for placeholder, literal in zip(self.placeholders, self.literals[1:], strict=True):
            parts += [values[placeholder], literal]
        return "".join(parts)

    def values(self, rendered: str) -> dict[Placeholder, str] | None:
        """The rendered text of each placeholder in `rendered`, if exactly one reading of it
        fits the template (a placeholder used twice reads the same both times); None if
        none does or if two do (a value that contains the literal text after it)."""
        first, rest = self.literals[0], self.literals[1:]
        if not rendered.startswith(first):
            return None
        found: list[dict[Placeholder, str]] = []

        def walk(index: int, at: int, values: dict[Placeholder, str]) -> None:
            if len(found) > 1:
                return
            if index == len(self.placeholders):
                if at == len(rendered):
                    found.append(dict(values))
                return
            placeholder, literal = self.placeholders[index], rest[index]
            last = index == len(self.placeholders) - 1
            ends: Iterable[int]
            if last:
                ends = [len(rendered) - len(literal)] if rendered.endswith(literal) else []
            else:
                ends = _occurrences(rendered, literal, at)
            for end in ends:
                if end < at:
                    continue
                value = rendered[at:end]
                if values.get(placeholder, value) != value:
                    continue
                known = placeholder in values
                values[placeholder] = value
                walk(index + 1, end + len(literal), values)
                if not known:
                    del values[placeholder]

        if not self.placeholders:
            return {} if rendered == first else None
        walk(0, len(first), {})
        return found[0] if len(found) == 1 else None


def _occurrences(text: str, literal: str, start: int) -> Iterator[int]:
    at = text.find(literal, start)
    while at != -1:
        yield at
        at = text.find(literal, at + 1)


def _shown(placeholders: Iterable[Placeholder]) -> str:
    def one(item: Placeholder) -> str:
        name, spec, conversion = item
        return (
            "{"
            + name
            + (f"!{conversion}" if conversion else "")
            + (f":{spec}" if spec else "")
            + "}"
        )

    shown = sorted(one(item) for item in placeholders)
    return ", ".join(shown) if shown else "none"


# --- the check --------------------------------------------------------------------------


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
                f"the translation's placeholders ({_shown(translated.placeholders)}) differ "
                f"from the English ones ({_shown(english.placeholders)})"
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
            f"placeholders {_shown(pair[:1])} and {_shown(pair[1:])} are not separated by "
            "text, so a stored finding could not be read in another language",
        )


Catalogues = Mapping[Language, Sequence[Catalogue]]


def _catalogues(directories: Iterable[Path]) -> dict[Language, list[Catalogue]]:
    """Each language's catalogues of the directories, in their order."""
    directories = list(directories)
    return {
        lang: [read_catalogue(catalogue_path(directory, lang)) for directory in directories]
        for lang in TRANSLATED
    }


def _chain(directory: Path) -> list[Path]:
    """Where the texts of a directory's packs are looked up: the shipped packs' catalogues,
    then the directory's own."""
    shipped = SHIPPED_DIR.resolve()
    own = directory.resolve()
    return [shipped] if own == shipped else [shipped, own]


def check_texts(texts: Iterable[Text], catalogues: Catalogues) -> None:
    for text in texts:
        if text.template:
            check_template(text)
        for lang in TRANSLATED:
            check_text(text, lang, catalogues[lang])


# --- what readers use -------------------------------------------------------------------


RuleKey = tuple[str, str, str]  # pack id, pack version, rule id


class PackTexts:
    """The translations of every loaded pack (and arrangement), and the English templates
    of their rules' messages by pack id, version and rule id."""

    def __init__(
        self,
        catalogues: Mapping[Language, Sequence[Catalogue]] | None = None,
        templates: Mapping[RuleKey, str] | None = None,
    ) -> None:
        self._catalogues = {lang: tuple((catalogues or {}).get(lang, ())) for lang in TRANSLATED}
        self._templates = dict(templates or {})

    def entry(self, english: str, lang: Language) -> Entry | None:
        """The translation of a text into `lang`, from the first catalogue that has it (the
        shipped packs' first); None for English and for a text no catalogue translates."""
        if lang == "en":
            return None
        for catalogue in self._catalogues.get(lang, ()):
            entry = catalogue.get(english)
            if entry is not None:
                return entry
        return None

    def text(self, english: str, lang: Language) -> str:
        """A pack text in `lang`; the English itself for English and for a text no
        catalogue translates (not a pack text)."""
        entry = self.entry(english, lang)
        return english if entry is None else entry.text

    def is_official(self, english: str, lang: Language) -> bool:
        """Whether the text shown in `lang` is a translation an official source publishes.
        False for English (the pack's own wording, not a translation), for a translation of
        Accord's own and for a text shown in English for want of one."""
        entry = self.entry(english, lang)
        return entry is not None and entry.official is not None

    def official(self, english: str, lang: Language) -> str | None:
        """The citation of the official text a translation is, if it is one."""
        entry = self.entry(english, lang)
        return None if entry is None else entry.official

    def message(
        self, pack: str, version: str, rule: str, stored: str, lang: Language
    ) -> tuple[str, Language]:
        """A stored finding's message in `lang`, and the language it is actually in: the
        stored English read against its rule's template (of the pack version the finding
        names), its values put in the translated template. English when `lang` is, and
        when the stored text does not read back exactly (another wording than the pack
        version's, or a value that contains the template's own text)."""
        if lang == "en":
            return stored, "en"
        english = self._templates.get((pack, version, rule))
        entry = None if english is None else self.entry(english, lang)
        if english is None or entry is None:
            return stored, "en"
        template = _parsed(english)
        values = None if template is None else template.values(stored)
        if template is None or values is None or template.render(values) != stored:
            return stored, "en"
        translated = _parsed(entry.text)
        if translated is None or translated.signature() != template.signature():
            return stored, "en"  # a PackTexts made without the check
        return translated.render(values), lang


@functools.lru_cache(maxsize=4096)
def _parsed(text: str) -> Template | None:
    try:
        return Template.parse(text)
    except ValueError:
        return None


def load_texts(
    packs: Iterable[Pack], arrangements: Iterable[tuple[Arrangement, str]] | None = None
) -> PackTexts:
    """Check every loaded pack's texts, and the arrangements' (the shipped ones unless
    given); the PackTexts of them all. A text is looked up in the shipped packs' catalogues
    first, then in those of the other directories in their order, and must be found in the
    shipped ones or beside its pack. PackError on the first text refused."""
    if arrangements is None:
        arrangements = load_arrangements()
    shipped = SHIPPED_DIR.resolve()
    by_dir: dict[Path, list[Pack]] = {shipped: []}
    for pack in packs:
        by_dir.setdefault(Path(pack.path).parent.resolve(), []).append(pack)
    directories = list(by_dir)
    catalogues = _catalogues(directories)
    templates: dict[RuleKey, str] = {}
    for index, directory in enumerate(directories):
        # as readers look a text up, to the pack's own directory (the shipped one is first)
        chain = {lang: found[: index + 1] for lang, found in catalogues.items()}
        for pack in by_dir[directory]:
            check_texts(pack_texts(pack), chain)
            for measure in pack.measures:
                for rule in measure.rules:
                    templates[(pack.id, pack.version, rule.id)] = rule.message
    shipped_only = {lang: found[:1] for lang, found in catalogues.items()}
    for arrangement, path in arrangements:
        check_texts(arrangement_texts(arrangement, path), shipped_only)
    return PackTexts(catalogues, templates)


# --- the translators' command -----------------------------------------------------------


def directory_texts(directory: Path) -> list[Text]:
    """Every text the catalogues of a packs directory translate: its packs' and, for the
    shipped packs, the shipped arrangements'."""
    texts = [text for pack in load_packs([directory]) for text in pack_texts(pack)]
    if directory.resolve() == SHIPPED_DIR.resolve():
        for arrangement, path in load_arrangements(SHIPPED_ARRANGEMENTS):
            texts.extend(arrangement_texts(arrangement, path))
    return texts


def check_directory(directory: Path) -> list[str]:
    """The loader's check of a packs directory: every problem, one line each."""
    catalogues = _catalogues(_chain(directory))
    problems: list[str] = []
    for text in directory_texts(directory):
        try:
            if text.template:
                check_template(text)
        except PackError as exc:
            problems.append(str(exc))
        for lang in TRANSLATED:
            try:
                check_text(text, lang, catalogues[lang])
            except PackError as exc:
                problems.append(str(exc))
    return problems


def update_catalogue(
    path: Path, lang: Language, texts: Sequence[Text], translated: Catalogue | None = None
) -> tuple[int, list[str]]:
    """Add to a catalogue every text it lacks (empty, for a translator to fill) unless
    `translated` (the shipped catalogue, for another directory) has it, and set each of
    its entries' `#:` comments to where it is used; remove nothing. The number of texts
    added, and the msgids no text uses any more (obsolete: for a translator to remove)."""
    if path.is_file():
        with path.open("rb") as handle:
            catalog = read_po(handle)
    else:
        catalog = PoCatalog(
            locale=lang,
            header_comment=(
                f"# {LANGUAGE_NAMES[lang]} texts of the rule packs of this directory: the msgid is\n"
                "# the English text as the pack says it; each entry is marked '#. official:\n"
                "# <citation with URL>' or '#, unofficial' (docs/rule-packs.md, Translations)."
            ),
            project="Accord rule packs",
            version="",
            fuzzy=False,
        )
    used: dict[str, list[str]] = {}
    for text in texts:
        used.setdefault(text.english, [])
        if text.location not in used[text.english]:
            used[text.english].append(text.location)
    added = 0
    for english, locations in used.items():
        message = catalog.get(english)
        if message is None and translated is not None and translated.entry(english):
            continue
        if message is None:
            message = catalog.add(english, "")
            added += 1
        # a location is "file#field", with no line number (Babel reads None for it)
        message.locations = cast("list[tuple[str, int]]", [(name, None) for name in locations])
    for message in catalog:
        # str.format templates, not %-formats: Babel's guess of python-format is noise
        message.flags.discard("python-format")
    obsolete = [message.id for message in catalog if message.id and message.id not in used]
    buffer = BytesIO()
    write_po(buffer, catalog, width=0, include_lineno=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return added, [str(item) for item in obsolete]


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or args[0] not in ("check", "update"):
        print("usage: python -m rules.translations check|update <packs dir>", file=sys.stderr)
        return 2
    command, directory = args[0], Path(args[1])
    if not directory.is_dir():
        print(f"{directory}: not a directory", file=sys.stderr)
        return 2
    try:
        if command == "check":
            problems = check_directory(directory)
            for line in problems:
                print(line)
            texts = directory_texts(directory)
            distinct = len({text.english for text in texts})
            print(
                f"{distinct} texts in {len(texts)} places, {len(problems)} problems",
                file=sys.stderr,
            )
            return 1 if problems else 0
        texts = directory_texts(directory)
        shipped = directory.resolve() == SHIPPED_DIR.resolve()
        for lang in TRANSLATED:
            path = catalogue_path(directory, lang)
            elsewhere = None if shipped else read_catalogue(catalogue_path(SHIPPED_DIR, lang))
            added, obsolete = update_catalogue(path, lang, texts, elsewhere)
            print(f"{path}: {added} texts added, {len(obsolete)} no longer used")
            for english in obsolete:
                print(f"  no longer used: {english!r}")
    except PackError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
