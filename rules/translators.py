"""The translators' command: `python -m rules.translations check|update <packs dir>`.

`check` lists every problem the loader's check finds in a packs directory's catalogues,
one a line; `update` adds to them the texts they lack, empty for a translator to fill, and
names the entries no text uses any more (docs/rule-packs.md, "Translations").
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from io import BytesIO
from pathlib import Path
from typing import cast

from babel.messages.catalog import Catalog as PoCatalog
from babel.messages.pofile import read_po, write_po

from rules.arrangement import SHIPPED_ARRANGEMENTS, load_arrangements
from rules.catalogues import Catalogue, catalogue_path, read_catalogue, read_catalogues
from rules.errors import PackError
from rules.languages import LANGUAGE_NAMES, TRANSLATED, Language
from rules.loader import SHIPPED_DIR, load_packs
from rules.text_check import Text, arrangement_texts, check_template, check_text, pack_texts


def _chain(directory: Path) -> list[Path]:
    """Where the texts of a directory's packs are looked up: the shipped packs' catalogues,
    then the directory's own."""
    shipped = SHIPPED_DIR.resolve()
    own = directory.resolve()
    return [shipped] if own == shipped else [shipped, own]


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
    catalogues = read_catalogues(_chain(directory))
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
