"""The gettext catalogues of a packs directory, read: `<packs dir>/locale/fr.po` and `zh.po`.

A catalogue's msgids are the packs' English texts exactly as YAML parses them; each entry
says what its translation is: `#. official: <citation with URL>` when it is the text as an
official source publishes it, else the flag `#, unofficial` (docs/rule-packs.md,
"Translations"). Reading says what a file has; what it must have is rules/text_check.py's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from babel.messages.pofile import PoFileError, read_po

from rules.errors import PackError
from rules.languages import TRANSLATED, Language

LOCALE_DIR = "locale"
OFFICIAL = "official:"
UNOFFICIAL = "unofficial"
FUZZY = "fuzzy"


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


Catalogues = Mapping[Language, Sequence[Catalogue]]


def read_catalogues(directories: Iterable[Path]) -> dict[Language, list[Catalogue]]:
    """Each language's catalogues of the directories, in their order."""
    directories = list(directories)
    return {
        lang: [read_catalogue(catalogue_path(directory, lang)) for directory in directories]
        for lang in TRANSLATED
    }
