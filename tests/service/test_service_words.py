"""The service's own words have French and Chinese: every message the code marks (with
`_()` in service/, `_invalid` and `ValueError` in schemas/, the `*_WORDS` descriptions of
a good value) and every pydantic error template is in service/locale/{fr,zh}.po with the
same placeholders, and marked official or unofficial. The ids are read from the code
itself (service/words.py, `written_messages`), so a message added without its
translations fails here."""

from __future__ import annotations

from pathlib import Path

import pytest

from rules.translations import TRANSLATED, Language, read_catalogue
from service.words import (
    LOCALE,
    Words,
    catalogue_problems,
    entries,
    translate,
    written_messages,
)

MSGIDS = sorted({text.english for text in written_messages()})


def test_the_code_marks_messages() -> None:
    """The extraction finds the messages it should (a guard against finding none)."""
    assert "send Authorization: Bearer TOKEN" in MSGIDS
    assert "must be {words}, got {given!r}" in MSGIDS
    assert "Field required" in MSGIDS
    assert any(msgid.startswith("a BN15: the 9-digit business number") for msgid in MSGIDS)


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_has_its_translation_with_the_same_placeholders(
    language: Language,
) -> None:
    assert catalogue_problems(language, written_messages()) == []
    unused = sorted(set(entries(language)) - set(MSGIDS))
    assert not unused, f"{language}.po has messages the code no longer writes: {unused[:10]}"


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_translation_says_whether_it_is_official(language: Language) -> None:
    catalogue = read_catalogue(LOCALE / f"{language}.po")
    assert catalogue.entries
    for msgid, entry in catalogue.entries.items():
        assert entry.marked and not entry.fuzzy, msgid


def test_a_message_inside_a_message_is_translated_and_values_stay() -> None:
    """What a BN15 looks like is translated inside "must be …, got …"; what was given
    stays as it was given."""
    from schemas.identifiers import BN15_WORDS

    english = f"must be {BN15_WORDS}, got '12345'"
    french = translate(english, "fr")
    assert french != english and "'12345'" in french and "123456789RM0001" in french
    assert translate(BN15_WORDS, "fr") in french
    assert translate("nothing the catalogue knows", "zh") == "nothing the catalogue knows"


def test_the_most_literal_template_wins() -> None:
    words = Words.of({"must be {w}": "doit être {w}", "must be {w}, got {g}": "{w} ; reçu {g}"})
    assert words.translate("must be X, got 'y'") == "X ; reçu 'y'"
    assert words.translate("must be X") == "doit être X"


def test_a_message_is_read_from_the_code_as_written(tmp_path: Path) -> None:
    """An f-string's fields are its placeholders as written; `_()` given anything but a
    text as written is refused, since no catalogue could hold it."""
    (tmp_path / "service").mkdir()
    (tmp_path / "service" / "x.py").write_text(
        'ENTRY_WORDS = _("an entry")\n'
        'def f(left, asked): return _(f"{left:,} units are left, fewer than {asked!r}")\n',
        encoding="utf-8",
    )
    ids = {text.english for text in written_messages(tmp_path)}
    assert {"an entry", "{left:,} units are left, fewer than {asked!r}"} <= ids
    (tmp_path / "service" / "y.py").write_text("def g(name): return _(name)\n", "utf-8")
    with pytest.raises(ValueError, match=r"y\.py:1"):
        written_messages(tmp_path)


def test_a_grouped_figure_is_grouped_as_the_language_groups_it() -> None:
    """A figure the code grouped (`{asked:,}`) reads in French with French grouping and
    decimal comma (30,000 would read as thirty); Chinese groups as English does; a value
    given in another placeholder (what the caller sent) stays as it was given."""
    french = Words.of({"{n:,} asked, got {given!r}": "{n:,} demandés, reçu {given!r}"}, "fr_CA")
    assert (
        french.translate("1,234.50 asked, got '30,000'") == "1\u00a0234,50 demandés, reçu '30,000'"
    )
    assert french.translate("7 asked, got 'x'") == "7 demandés, reçu 'x'"
    chinese = Words.of({"{n:,} asked": "申请 {n:,}"}, "zh_Hans_CN")
    assert chinese.translate("30,000 asked") == "申请 30,000"
    assert translate("2 units are left in the quota, fewer than the 30,000 asked; nothing was drawn",
                     "fr").count("30\u00a0000") == 1  # fmt: skip
