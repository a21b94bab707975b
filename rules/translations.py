"""The packs' texts in French and Chinese: gettext catalogues beside the packs.

A pack is written in English. The texts a user reads in it (`TEXTS`, rules/text_check.py)
are translated in two catalogues beside the pack files, `<packs dir>/locale/fr.po` and
`zh.po`, whose msgids are the English texts exactly as YAML parses them: a text several
pack versions share is translated once, and the pack files, their hashes, the verdicts
that name them and the audit chain do not change with a translation. Translation is
presentation.

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

This module is the public face of the packs' translations; the work is done beside it:
rules/languages.py (the languages), rules/catalogues.py (reading a `.po` file),
rules/templates.py (a message read back and rendered again), rules/text_check.py (which
texts are translated, and the check) and rules/translators.py (the translators' command,
`python -m rules.translations check|update <packs dir>`, docs/rule-packs.md
"Translations").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from rules.arrangement import Arrangement, load_arrangements
from rules.catalogues import Catalogue, Entry, catalogue_path, read_catalogue, read_catalogues
from rules.languages import (
    BABEL_LOCALES,
    LANGUAGE_NAMES,
    LANGUAGES,
    TRANSLATED,
    Language,
    language_named,
)
from rules.loader import SHIPPED_DIR
from rules.pack import Pack
from rules.templates import parsed
from rules.text_check import Text, arrangement_texts, check_texts, pack_texts

__all__ = [
    "BABEL_LOCALES",
    "LANGUAGES",
    "LANGUAGE_NAMES",
    "TRANSLATED",
    "Catalogue",
    "Entry",
    "Language",
    "PackTexts",
    "Text",
    "arrangement_texts",
    "catalogue_path",
    "language_named",
    "load_texts",
    "pack_texts",
    "read_catalogue",
]

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
        template = parsed(english)
        values = None if template is None else template.values(stored)
        if template is None or values is None or template.render(values) != stored:
            return stored, "en"
        translated = parsed(entry.text)
        if translated is None or translated.signature() != template.signature():
            return stored, "en"  # a PackTexts made without the check
        return translated.render(values), lang


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
    catalogues = read_catalogues(directories)
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


if __name__ == "__main__":
    # the translators' command keeps its documented name
    from rules.translators import main

    raise SystemExit(main())
