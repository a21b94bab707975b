"""The dashboard's words in its reader's language: English, French or Chinese.

The English text in the templates and in this package is the message id; the French and
Chinese texts are gettext catalogues beside this file (`locale/fr.po`, `locale/zh.po`),
read once. Numbers, amounts and dates are written by Babel for the language's locale
(formatting.py), never by hand. The values a page shows from the record (ids, codes,
tariff items, business numbers) are never translated; the words around them are.

Which language a page is in: the reader's choice from the switch in the header, kept
beside the session (sessions.py); else the browser's Accept-Language; else English."""

from __future__ import annotations

import gettext
import io
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from rules.languages import SOURCE
from rules.translations import BABEL_LOCALES, LANGUAGES, Language

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
ENGLISH: Language = SOURCE


# The switch in the header: each language named in itself.
SWITCH: tuple[tuple[Language, str], ...] = (("en", "EN"), ("fr", "FR"), ("zh", "中文"))


def N_(message: str) -> str:
    """Marks a word for the catalogues where it is defined and translated later."""
    return message


# The values of the record that pages show as words (outcomes, statuses, severities,
# event types, treatments, quota modes): the template translates them with `term`, and
# a value not listed here shows as it is stored.
TERMS = (
    # outcomes, filters and statuses of declarations
    N_("all"), N_("accepted"), N_("rejected"), N_("held"), N_("pending"), N_("failed"),
    N_("cancelled"), N_("queued"), N_("evaluating"), N_("pending allocation"), N_("decided"),
    # severities
    N_("error"), N_("warning"), N_("info"),
    # periods and ledger events
    N_("scheduled"), N_("open"), N_("critical"), N_("exhausted"), N_("closed"), N_("opened"),
    N_("carried over"), N_("allocated"), N_("returned"), N_("lapsed"), N_("reopened"),
    N_("account allocated"), N_("account transferred"),
    # treatments and duties
    N_("in quota"), N_("over quota"), N_("split"), N_("not covered"), N_("exempt"),
    N_("surtax"), N_("no permit"), N_("customs duty"), N_("additional tariff"),
    N_("anti dumping"), N_("anti dumping deposit"), N_("excise tax"), N_("gst"),
    N_("import vat"),
    # quota modes and draws, import types, a measure's state on a day
    N_("fcfs"), N_("daily pro rata"), N_("importer allocation"), N_("declaration"),
    N_("permit"), N_("commercial"), N_("personal"), N_("not yet"), N_("in force"),
    # roles
    N_("admin"), N_("auditor"), N_("submitter"),
    # audit events
    N_("received"), N_("evaluated"), N_("rule decision"), N_("measure checks"), N_("duties"),
    N_("verdict"), N_("quota allocation"),
)  # fmt: skip


@dataclass(frozen=True)
class Words:
    """One language's catalogue and locale: `gettext`/`ngettext` for the templates and
    the page models, `term` for a stored value shown as a word."""

    language: Language
    locale: Locale
    catalogue: gettext.NullTranslations

    @property
    def babel_locale(self) -> str:
        return BABEL_LOCALES[self.language]

    def gettext(self, message: str, **values: object) -> str:
        text = self.catalogue.gettext(message)
        return text % values if values else text

    def ngettext(self, singular: str, plural: str, count: int, **values: object) -> str:
        text = self.catalogue.ngettext(singular, plural, count)
        return text % {"num": count, **values}

    def term(self, value: object) -> str:
        """A stored value (`pending_allocation`) as a word of the page's language."""
        text = str(value).replace("_", " ")
        return self.catalogue.gettext(text) if text else text


def catalogue(directory: Path, language: Language) -> gettext.NullTranslations:
    """The gettext catalogue `<directory>/<language>.po`, read with Babel (plurals too);
    none for English, whose words are the message ids."""
    path = directory / f"{language}.po"
    if language == ENGLISH or not path.exists():
        return gettext.NullTranslations()
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)


def words_in(directory: Path, language: Language) -> Words:
    """The words of the catalogues in `directory` (this package's, or the CLI's) in
    `language`, English for a language Accord does not have."""
    chosen: Language = language if language in LANGUAGES else ENGLISH
    return Words(chosen, Locale.parse(BABEL_LOCALES[chosen]), catalogue(directory, chosen))


@cache
def words(language: Language = ENGLISH) -> Words:
    return words_in(LOCALE_DIR, language)


# --- the catalogues' upkeep -------------------------------------------------------------

SOURCES = Path(__file__).resolve().parent.parent
METHODS = [
    ("templates/dashboard/**.html", "jinja2.ext:babel_extract"),
    ("dashboard/**.py", "python"),
    ("arrangement_timeline.py", "python"),
    ("routes/dashboard.py", "python"),
]
JINJA_OPTIONS = {"trim_blocks": "true", "lstrip_blocks": "true"}


Methods = list[tuple[str, str]]


def messages(
    methods: Methods = METHODS, base: Path = SOURCES
) -> dict[str | tuple[str, str], list[str]]:
    """Every message the templates and this package say (or the files `methods` name,
    under `base`), with where: a singular id, or a (singular, plural) pair; the
    catalogues must translate each one."""
    from babel.messages.extract import extract_from_dir

    found: dict[str | tuple[str, str], list[str]] = {}
    options = {"templates/dashboard/**.html": JINJA_OPTIONS}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(base), methods, options
    ):
        key = message if isinstance(message, str) else (message[0], message[1])
        where = (base / filename).relative_to(SOURCES.parent)
        found.setdefault(key, []).append(f"{where}:{lineno}")
    return found


def update(
    language: Language,
    directory: Path = LOCALE_DIR,
    methods: Methods = METHODS,
    base: Path = SOURCES,
) -> int:
    """Adds the messages `language`'s catalogue lacks (empty, flagged unofficial, for a
    translator to fill) and drops those no page says any more; answers how many it added."""
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import write_po

    path = directory / f"{language}.po"
    if path.exists():
        with path.open("rb") as handle:
            catalog = read_po(handle, locale=language)
    else:
        catalog = Catalog(locale=language, project="Accord dashboard")
    wanted = messages(methods, base)
    added = 0
    for key, where in wanted.items():
        locations = [(item.rsplit(":", 1)[0], int(item.rsplit(":", 1)[1])) for item in where]
        if key not in catalog:
            catalog.add(key, "" if isinstance(key, str) else ("", ""), flags=["unofficial"])
            added += 1
        catalog[key].locations = locations
    for message in list(catalog):
        if message.id and message.id not in wanted:
            catalog.delete(message.id)
    directory.mkdir(exist_ok=True)
    with path.open("wb") as handle:
        write_po(handle, catalog, width=100, sort_output=False, omit_header=False)
    return added


if __name__ == "__main__":  # python -m service.dashboard.words: the catalogues brought up to date
    for name in LANGUAGES:
        if name != ENGLISH:
            print(f"{name}: {update(name)} messages added")
