"""The language `accord` prints in: `--lang en|fr|zh`, by default the one the environment's
locale names (LC_ALL, then LC_MESSAGES, then LANG: fr_CA.UTF-8 is French, zh_CN.UTF-8
Chinese, anything else English).

Only the words change. The CLI's own words (field labels, table headers and titles,
its messages) come from a gettext catalogue beside this file (`locale/fr.po`,
`zh.po`) whose msgids are the English words; the packs' texts (findings' messages,
measure titles) come translated from the service, which the CLI asks in the same
language (Accept-Language). In French and Chinese, figures, amounts and timestamps are
written by Babel for the locale; in English they stay exactly as the service sends them
(as scripts and the README have them). Ids, codes, versions, years and `--json` never
change."""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any

from cli import output as cli_output
from cli.output import Block, Fields, cell
from rules.translations import LANGUAGES, Language, language_named
from service.dashboard.formatting import moment
from service.dashboard.words import ENGLISH, N_, Words, update, words_in

HERE = Path(__file__).resolve()
LOCALE_DIR: Path = HERE.parent / "locale"
# where the catalogues' words are said: this file
METHODS: list[tuple[str, str]] = [(HERE.name, "python")]
ENVIRONMENT = ("LC_ALL", "LC_MESSAGES", "LANG")

# the labels, headers and titles the verbs print, each a msgid of the catalogues
WORDS = (
    # declarations, verdicts and their lines
    N_("declaration_id"), N_("status"), N_("outcome"), N_("total_duty"), N_("decided_at"),
    N_("error"), N_("line"), N_("treatment"), N_("in_quota_quantity"), N_("quota"),
    N_("measures"), N_("lines"), N_("duties"), N_("type"), N_("measure"), N_("rate"), N_("per"),
    N_("base"), N_("amount"), N_("findings"), N_("severity"), N_("rule"), N_("message"),
    N_("not assessed"), N_("tax"), N_("reason"), N_("exchange_rate"),
    # the outcomes `submit` counts
    N_("submitted"), N_("accepted"), N_("rejected"), N_("held"), N_("queued"),
    N_("evaluating"), N_("pending_allocation"), N_("failed"), N_("cancelled"),
    # audit trails
    N_("verified"), N_("authenticated"), N_("head"), N_("problem"), N_("events"), N_("seq"),
    N_("at"), N_("hash"), N_("data"),
    # quotas
    N_("quota_id"), N_("mode"), N_("drawn_at"), N_("unit"), N_("critical_threshold"),
    N_("quota_year"), N_("as_of"), N_("period"), N_("volume"), N_("carried_over"),
    N_("drawn"), N_("returned"), N_("granted"), N_("remaining"), N_("carried_forward"),
    N_("lapsed"), N_("issued"), N_("used"), N_("outstanding"), N_("on"), N_("quantity"),
    N_("balance_before"), N_("balance_after"), N_("permit_number"), N_("accounts"),
    N_("remaining = volume + carried_over − drawn + returned"),
    N_("periods (remaining = volume + carried_over − drawn + returned)"),
    N_("permits by period (issued = used + returned + outstanding)"),
    N_("permits by period (issued = used + returned + lapsed + outstanding)"),
    # measures
    N_("id"), N_("from"), N_("to"), N_("rates"), N_("title"),
    # the views' words
    N_("(none)"), N_("yes"), N_("no"),
)  # fmt: skip

# titles that carry a value: their English shape, and the message they are said with
TITLES = (
    (re.compile(r"measures in force on (?P<day>\S+)"), N_("measures in force on %(day)s")),
    (re.compile(r"checks of (?P<measure>\S+)"), N_("checks of %(measure)s")),
    (re.compile(r"events \((?P<count>\d+) in all\)"), N_("events (%(count)s in all)")),
    # the CLI's own messages
    (re.compile(r"no token: pass --token or set ACCORD_TOKEN"),
     N_("no token: pass --token or set ACCORD_TOKEN")),
    (re.compile(r"cannot reach the API at (?P<url>\S+): (?P<error>.*)", re.S),
     N_("cannot reach the API at %(url)s: %(error)s")),
    (re.compile(r"audit trail does not verify: (?P<problem>.*)", re.S),
     N_("audit trail does not verify: %(problem)s")),
)  # fmt: skip
# values never written as figures, whatever they look like
TEXT_LABELS = frozenset(
    {"declaration_id", "permit_number", "quota_year", "version", "pack_version", "seq",
     "line", "id", "hash", "head", "business_number", "number", "tariff_item"}
)  # fmt: skip
_COUNTS = re.compile(r"[a-z_?]+: \d+(?:  [a-z_?]+: \d+)*")  # "accepted: 2  rejected: 1"
_FIGURE = re.compile(r"[+-]?\d+(?:\.\d+)?")
_AMOUNT = re.compile(r"(?P<figure>[+-]?\d+(?:\.\d+)?) (?P<currency>[A-Z]{3})")
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})")


def from_environment(environ: Mapping[str, str] | None = None) -> Language:
    """The language the locale names: the first of LC_ALL, LC_MESSAGES, LANG that is set
    (as the C library reads them); fr_CA.UTF-8 -> fr, zh_CN.UTF-8 -> zh, else en."""
    environ = os.environ if environ is None else environ
    for name in ENVIRONMENT:
        value = environ.get(name)
        if value:
            return language_named(value) or ENGLISH
    return ENGLISH


def add_option(group: argparse._ArgumentGroup, *, top: bool) -> None:
    """`--lang`, a global option: its default (from the environment) on the top parser only."""
    group.add_argument(
        "--lang",
        choices=LANGUAGES,
        default=from_environment() if top else argparse.SUPPRESS,
        help="the language to print in (default from LC_ALL / LC_MESSAGES / LANG: "
        f"{from_environment()})",
    )


@cache
def words(language: Language) -> Words:
    return words_in(LOCALE_DIR, language)


class Printer:
    """The blocks of a view in one language: its words translated, and (in French and
    Chinese) its figures, amounts and timestamps written for the locale."""

    def __init__(self, language: Language) -> None:
        self.said = words(language)
        self.locale = self.said.babel_locale
        self.english = language == ENGLISH

    def word(self, text: str) -> str:
        if _COUNTS.fullmatch(text):
            return "  ".join(
                f"{self.said.gettext(name)}: {count}"
                for name, count in (item.split(": ") for item in text.split("  "))
            )
        for pattern, message in TITLES:
            found = pattern.fullmatch(text)
            if found:
                return self.said.gettext(message, **found.groupdict())
        return self.said.gettext(text)

    def value(self, label: str, value: Any) -> Any:
        if isinstance(value, bool):
            return self.said.gettext("yes") if value else self.said.gettext("no")
        if self.english or label in TEXT_LABELS:
            return value
        text = cell(value)
        if isinstance(value, int | float | Decimal | str) and _FIGURE.fullmatch(text):
            return _decimal(text, self.locale)
        found = _AMOUNT.fullmatch(text)
        if found:
            from babel.numbers import format_currency

            figure = Decimal(found["figure"])
            return format_currency(
                figure, found["currency"], format="#,##0.00 ¤¤", locale=self.locale,
                currency_digits=True,
            )  # fmt: skip
        if _TIMESTAMP.fullmatch(text):
            return moment(text, locale=self.locale)
        return value

    def blocks(self, blocks: Iterable[Block]) -> list[Block]:
        shown: list[Block] = []
        for block in blocks:
            if isinstance(block, str):
                shown.append(self.word(block))
            elif isinstance(block, Fields):
                pairs = [
                    (self.word(label), self.value(label, value)) for label, value in block.pairs
                ]
                title = self.word(block.title) if block.title else None
                shown.append(Fields(pairs, title))
            else:
                columns = [str(column) for column in block.columns]
                rows = [
                    [self.value(column, value) for column, value in zip(columns, row, strict=True)]
                    for row in block.rows
                ]
                shown.append(
                    replace(
                        block,
                        columns=[self.word(column) for column in columns],
                        rows=rows,
                        title=self.word(block.title) if block.title else None,
                        empty=self.word(block.empty),
                        text_columns=frozenset(self.word(name) for name in block.text_columns),
                    )
                )
        return shown


def _decimal(text: str, locale: str) -> str:
    from babel.numbers import format_decimal

    try:
        number = Decimal(text)
    except InvalidOperation:
        return text
    places = max(0, -int(number.as_tuple().exponent))
    return format_decimal(number, format="#,##0." + "0" * places, locale=locale)


def use(language: Language) -> None:
    """Print in `language` from now on (the entry point calls it once, after parsing)."""
    cli_output.localize = Printer(language).blocks


def message(language: Language, text: str) -> str:
    """One of the CLI's own messages (an error it prints) in `language`."""
    return Printer(language).word(text)


if __name__ == "__main__":  # python -m cli.language: the catalogues brought up to date
    for name in LANGUAGES:
        if name != ENGLISH:
            print(f"{name}: {update(name, LOCALE_DIR, METHODS, HERE.parent)} messages added")
