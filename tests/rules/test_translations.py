"""The packs' texts in French and Chinese: the catalogues beside the packs are checked
against every text a user reads (each refusal names the pack file, the field and the
language), and a stored finding's English message reads back in another language with
the same values, or in English, said so, when it does not read back exactly."""

from __future__ import annotations

import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from test_cases import ALL_CASES, DECLARATION_CASES, run_in_process

from helpers import declaration
from rules import engine
from rules.arrangement import load_arrangements
from rules.catalog import Catalog, load_catalog
from rules.catalogues import Catalogue, Entry, catalogue_path, read_catalogue
from rules.errors import PackError
from rules.languages import LANGUAGES, Language
from rules.loader import SHIPPED_DIR, load_pack, load_packs
from rules.measure_checks import measure_checks
from rules.templates import Template
from rules.text_check import Text, arrangement_texts, check_template, pack_texts
from rules.translations import PackTexts, load_texts
from rules.translators import check_directory, main
from schemas.declaration import Declaration
from schemas.quota import Allocation

TEST_PACKS = Path(__file__).resolve().parent.parent / "packs"
HELD = "test-held.yaml"
TITLE = "Test measure on Vietnamese EVs, never notified"
MFN = "MFN at {rate_mfn}."
NOTIFIED = "No notification to the United States before {entry_into_force}."
TITLE_KEY = "measures[TEST-VN-EV-HELD].title"
NOTIFIED_KEY = "measures[TEST-VN-EV-HELD].rules[NOTIF-TEST-HELD-MISSING].message"


@pytest.fixture
def packs_dir(tmp_path: Path) -> Path:
    """A packs directory with one test pack and a copy of the test packs' catalogues."""
    shutil.copy(TEST_PACKS / HELD, tmp_path / HELD)
    shutil.copytree(TEST_PACKS / "locale", tmp_path / "locale")
    assert check_directory(tmp_path) == []
    return tmp_path


def _edit(packs_dir: Path, lang: Language, old: str, new: str) -> None:
    path = catalogue_path(packs_dir, lang)
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} is not in {path} exactly once"
    path.write_text(text.replace(old, new), encoding="utf-8")


def _refusal(packs_dir: Path) -> str:
    with pytest.raises(PackError) as caught:
        load_texts(load_packs([packs_dir]), arrangements=())
    message = str(caught.value)
    assert "\n" not in message
    return message


# --- the test packs' own catalogues ------------------------------------------------------


def test_the_test_packs_catalogues_translate_every_text() -> None:
    """Every text of the test packs has a checked French and Chinese translation."""
    assert check_directory(TEST_PACKS) == []
    texts = load_texts(load_packs([TEST_PACKS]), arrangements=())
    assert texts.text(TITLE, "fr") == "Mesure de test sur les VE vietnamiens, jamais notifiée"
    assert texts.text(TITLE, "zh") == "针对越南电动汽车的测试措施，从未通报"
    assert texts.text(TITLE, "en") == TITLE


def test_every_field_a_user_reads_is_a_text() -> None:
    """The pack's title, its sources' titles, assumptions' texts, measures' titles and rules'
    messages are translated; ids, references and URLs are not."""
    keys = {text.key for text in pack_texts(load_pack(TEST_PACKS / HELD))}
    assert keys == {
        "title",
        "sources.TEST.title",
        "assumptions.TEST-ONLY.text",
        TITLE_KEY,
        "measures[TEST-VN-EV-HELD].rules[DUTY-TEST-HELD-MFN].message",
        NOTIFIED_KEY,
    }


# --- refusals ---------------------------------------------------------------------------


def test_a_text_missing_from_a_catalogue_is_refused(packs_dir: Path) -> None:
    """A measure title the French catalogue lacks is refused, naming file, field and language."""
    path = catalogue_path(packs_dir, "fr")
    text = path.read_text(encoding="utf-8")
    start = text.index(f"#: {HELD}#{TITLE_KEY}")
    end = text.index("\n\n", start)
    path.write_text(text[:start] + text[end + 2 :], encoding="utf-8")
    message = _refusal(packs_dir)
    assert f"{HELD}: {TITLE_KEY}: French (fr): no translation in" in message


def test_a_missing_catalogue_is_refused(packs_dir: Path) -> None:
    """Without zh.po every text lacks its Chinese translation: the first is named."""
    catalogue_path(packs_dir, "zh").unlink()
    message = _refusal(packs_dir)
    assert f"{HELD}: title: Chinese (zh): no translation in" in message
    assert "does not exist" in message


def test_an_empty_translation_is_refused(packs_dir: Path) -> None:
    """An entry whose msgstr is empty is refused."""
    _edit(packs_dir, "zh", 'msgstr "针对越南电动汽车的测试措施，从未通报"', 'msgstr ""')
    assert f"{HELD}: {TITLE_KEY}: Chinese (zh): the translation in" in _refusal(packs_dir)
    assert "is empty" in _refusal(packs_dir)


def test_a_fuzzy_translation_is_refused(packs_dir: Path) -> None:
    """An entry marked fuzzy (not reviewed) is refused."""
    _edit(
        packs_dir, "fr", f'#, unofficial\nmsgid "{TITLE}"', f'#, fuzzy, unofficial\nmsgid "{TITLE}"'
    )
    assert f"{TITLE_KEY}: French (fr): the translation in" in _refusal(packs_dir)
    assert "fuzzy" in _refusal(packs_dir)


def test_an_entry_marked_neither_official_nor_unofficial_is_refused(packs_dir: Path) -> None:
    """An entry that does not say what its translation is is refused."""
    _edit(packs_dir, "fr", f'#, unofficial\nmsgid "{TITLE}"', f'msgid "{TITLE}"')
    message = _refusal(packs_dir)
    assert f"{TITLE_KEY}: French (fr):" in message
    assert "marked neither '#. official: <citation with URL>' nor '#, unofficial'" in message


def test_an_entry_marked_both_ways_is_refused(packs_dir: Path) -> None:
    """An entry both official and unofficial is refused."""
    _edit(
        packs_dir,
        "fr",
        f'#, unofficial\nmsgid "{TITLE}"',
        f'#. official: Canada Gazette, https://gazette.gc.ca/x\n#, unofficial\nmsgid "{TITLE}"',
    )
    assert "marked both official and unofficial" in _refusal(packs_dir)


def test_an_official_citation_without_url_is_refused(packs_dir: Path) -> None:
    """An official translation cites where it is published, with the URL."""
    _edit(
        packs_dir,
        "zh",
        f'#, unofficial\nmsgid "{TITLE}"',
        f'#. official: MOFCOM announcement No. 1 of 2026\nmsgid "{TITLE}"',
    )
    message = _refusal(packs_dir)
    assert f"{TITLE_KEY}: Chinese (zh): the official citation in" in message
    assert "gives no URL" in message


@pytest.mark.parametrize(
    ("translation", "shown"),
    [
        ("Aucune notification aux États-Unis avant le {entry_date}.", "({entry_date})"),
        (
            "Aucune notification aux États-Unis avant le {entry_into_force:>12}.",
            "{entry_into_force:>12}",
        ),
        (
            "Aucune notification aux États-Unis avant le {entry_into_force!r}.",
            "{entry_into_force!r}",
        ),
        ("Aucune notification aux États-Unis.", "(none)"),
        (
            "Aucune notification avant le {entry_into_force}, soit le {entry_into_force}.",
            "{entry_into_force}, {entry_into_force}",
        ),
    ],
    ids=["other-name", "format-spec", "conversion", "dropped", "repeated"],
)
def test_a_translation_with_other_placeholders_is_refused(
    packs_dir: Path, translation: str, shown: str
) -> None:
    """A translated message has the English placeholders: same names, specs and counts."""
    _edit(
        packs_dir,
        "fr",
        'msgstr "Aucune notification aux États-Unis avant le {entry_into_force}."',
        f'msgstr "{translation}"',
    )
    message = _refusal(packs_dir)
    assert f"{HELD}: {NOTIFIED_KEY}: French (fr): the translation's placeholders" in message
    assert shown in message
    assert "differ from the English ones ({entry_into_force})" in message


def test_a_translation_that_is_no_template_is_refused(packs_dir: Path) -> None:
    """A translated message `str.format` cannot read is refused."""
    _edit(packs_dir, "zh", 'msgstr "最惠国税率 {rate_mfn}。"', 'msgstr "最惠国税率 {rate_mfn。"')
    message = _refusal(packs_dir)
    assert (
        "rules[DUTY-TEST-HELD-MFN].message: Chinese (zh): the translation is not a readable"
        in message
    )


def test_a_message_whose_placeholders_touch_is_refused() -> None:
    """A message with two placeholders and no text between them could not be read back."""
    text = Text("p.yaml", "measures[M].rules[R].message", "At {rate_mfn}{unit}.", template=True)
    with pytest.raises(PackError) as caught:
        check_template(text)
    assert str(caught.value) == (
        "p.yaml: measures[M].rules[R].message: placeholders {rate_mfn} and {unit} are not "
        "separated by text, so a stored finding could not be read in another language"
    )


def test_the_loader_refuses_a_message_whose_placeholders_touch(packs_dir: Path) -> None:
    """The check holds the packs' own messages to it."""
    pack = packs_dir / HELD
    pack.write_text(pack.read_text().replace(MFN, "MFN at {rate_mfn}{tariff_item}."))
    message = _refusal(packs_dir)
    assert "rules[DUTY-TEST-HELD-MFN].message: placeholders {rate_mfn} and {tariff_item}" in message


# --- catalogues -------------------------------------------------------------------------


def test_an_official_translation_names_its_source(packs_dir: Path) -> None:
    """`#. official:` over two comment lines is one citation; the text is then official."""
    _edit(
        packs_dir,
        "fr",
        f'#, unofficial\nmsgid "{TITLE}"',
        f'#. official: Gazette du Canada, Partie II,\n#. https://gazette.gc.ca/x\nmsgid "{TITLE}"',
    )
    assert check_directory(packs_dir) == []
    texts = load_texts(load_packs([packs_dir]), arrangements=())
    assert texts.is_official(TITLE, "fr")
    assert texts.official(TITLE, "fr") == "Gazette du Canada, Partie II, https://gazette.gc.ca/x"
    assert not texts.is_official(TITLE, "zh")
    assert not texts.is_official(TITLE, "en")
    entry = read_catalogue(catalogue_path(packs_dir, "fr")).get(TITLE)
    assert entry is not None and entry.official is not None and not entry.unofficial


def test_a_catalogue_that_does_not_exist_reads_empty(tmp_path: Path) -> None:
    """Any .po file reads; one that is not there reads as an empty catalogue."""
    catalogue = read_catalogue(tmp_path / "nowhere.po")
    assert not catalogue.exists and catalogue.get("anything") is None


def test_an_unreadable_catalogue_is_refused_naming_it(tmp_path: Path) -> None:
    """A .po file Babel cannot read is refused with its path."""
    path = tmp_path / "fr.po"
    path.write_text('msgid "a"\nnot a keyword\n', encoding="utf-8")
    with pytest.raises(PackError) as caught:
        read_catalogue(path)
    assert str(caught.value).startswith(f"{path}: document: unreadable catalogue")


def test_a_text_no_catalogue_has_reads_in_english() -> None:
    """A text that is no pack text is shown as it is."""
    texts = PackTexts()
    assert texts.text("Not a pack text", "zh") == "Not a pack text"
    assert not texts.is_official("Not a pack text", "zh")


# --- reading stored findings in another language -----------------------------------------


def _texts(english: str, translations: dict[Language, str]) -> PackTexts:
    catalogues = {
        lang: [Catalogue(f"{lang}.po", {english: Entry(text, None, unofficial=True)})]
        for lang, text in translations.items()
    }
    return PackTexts(catalogues, {("P", "1", "R"): english})


class _Blank(dict[str, Any]):
    """As the engine renders a finding: an absent fact reads as a dash."""

    def __missing__(self, key: str) -> str:
        return "-"


def _stored(template: str, **facts: Any) -> str:
    return template.format_map(_Blank(facts))


def test_a_stored_message_reads_in_french_and_chinese_with_its_values() -> None:
    """Values with commas, colons and dots are carried over whole, in the translation's order."""
    english = (
        "Remission claimed under {remission_claim}: {remission_item} does not list {tariff_item}."
    )
    texts = _texts(
        english,
        {
            "fr": "{tariff_item} ne figure pas à {remission_item} ; remise demandée : {remission_claim}.",
            "zh": "{remission_item} 未列出 {tariff_item}（申请减免：{remission_claim}）。",
        },
    )
    stored = _stored(
        english,
        remission_claim="SOR/2025-12 schedule 2 item 9.01",
        remission_item="Schedule 2, item 9.01",
        tariff_item="7217.10.00.10",
    )
    assert texts.message("P", "1", "R", stored, "fr") == (
        "7217.10.00.10 ne figure pas à Schedule 2, item 9.01 ; remise demandée : "
        "SOR/2025-12 schedule 2 item 9.01.",
        "fr",
    )
    assert texts.message("P", "1", "R", stored, "zh") == (
        "Schedule 2, item 9.01 未列出 7217.10.00.10（申请减免：SOR/2025-12 schedule 2 item 9.01）。",
        "zh",
    )
    assert texts.message("P", "1", "R", stored, "en") == (stored, "en")


def test_an_absent_fact_reads_as_a_dash_in_every_language() -> None:
    """A fact the finding did not have stays a dash."""
    english = "Import permit {permit_number} cannot be used for this line: {permit}."
    texts = _texts(
        english, {"fr": "La licence {permit_number} ne peut servir pour cette ligne : {permit}."}
    )
    stored = _stored(english, permit="unregistered")
    assert stored == "Import permit - cannot be used for this line: unregistered."
    assert texts.message("P", "1", "R", stored, "fr") == (
        "La licence - ne peut servir pour cette ligne : unregistered.",
        "fr",
    )


def test_a_template_with_format_specs_reads_back() -> None:
    """A placeholder with a format spec carries its rendered text, spec applied once."""
    english = "FOB {fob:,.2f} is more than {ratio:.0%} away from the value {value:>10}."
    texts = _texts(
        english, {"zh": "离岸价 {fob:,.2f} 与完税价格 {value:>10} 相差超过 {ratio:.0%}。"}
    )
    stored = _stored(english, fob=Decimal("35000.5"), ratio=0.25, value=Decimal("1200.00"))
    assert stored == "FOB 35,000.50 is more than 25% away from the value    1200.00."
    assert texts.message("P", "1", "R", stored, "zh") == (
        "离岸价 35,000.50 与完税价格    1200.00 相差超过 25%。",
        "zh",
    )


def test_a_placeholder_used_twice_reads_the_same_value() -> None:
    """A value repeated in the template is taken once, and must be the same both times."""
    english = "Values in {currency} converted at {rate} CAD per {currency}."
    texts = _texts(
        english, {"fr": "Valeurs en {currency} converties à {rate} $ CA par {currency}."}
    )
    stored = _stored(english, currency="USD", rate="1.3979")
    assert texts.message("P", "1", "R", stored, "fr") == (
        "Valeurs en USD converties à 1.3979 $ CA par USD.",
        "fr",
    )
    mixed = "Values in USD converted at 1.3979 CAD per EUR."
    assert texts.message("P", "1", "R", mixed, "fr") == (mixed, "en")


def test_a_message_under_older_wording_reads_in_english() -> None:
    """A stored message the template does not produce is given in English, and says so."""
    english = "Claims {quantity} units."
    texts = _texts(english, {"fr": "Demande {quantity} unités.", "zh": "申领 {quantity} 个单位。"})
    older = "Claims 2 units of the quota."
    for lang in ("fr", "zh"):
        assert texts.message("P", "1", "R", older, lang) == (older, "en")
    assert texts.message("P", "1", "R", "Claims 2 units.", "zh") == ("申领 2 个单位。", "zh")


def test_a_value_that_reads_two_ways_reads_in_english() -> None:
    """When a value contains the text after its placeholder the reading is not exact."""
    english = "{first} and {second}."
    texts = _texts(english, {"fr": "{first} et {second}."})
    stored = _stored(english, first="steel and aluminium", second="copper")
    assert texts.message("P", "1", "R", stored, "fr") == (stored, "en")
    plain = _stored(english, first="steel", second="copper")
    assert texts.message("P", "1", "R", plain, "fr") == ("steel et copper.", "fr")


def test_a_finding_of_an_unknown_pack_version_or_rule_reads_in_english() -> None:
    """Without the template of the pack version the finding names, English it is."""
    texts = _texts("Claims {quantity} units.", {"fr": "Demande {quantity} unités."})
    assert texts.message("P", "2", "R", "Claims 2 units.", "fr") == ("Claims 2 units.", "en")
    assert texts.message("P", "1", "OTHER", "Claims 2 units.", "fr") == ("Claims 2 units.", "en")
    assert texts.message("P", "1", "R", "Claims 2 units.", "zh") == ("Claims 2 units.", "en")


def test_an_evaluated_verdicts_findings_read_in_every_language() -> None:
    """The findings the engine stores for a declaration read back in French and Chinese
    exactly, and in English unchanged."""
    packs = load_packs([TEST_PACKS])
    texts = load_texts(packs, arrangements=())
    body = declaration(
        "vn-ev",
        lines=[{"origin": "VN", "tariff_item": "8703.80.00.10"}],
        accepted_at="2026-03-02T10:00:00-05:00",
    )
    evaluation = engine.evaluate(Declaration.model_validate(body), packs, {})
    verdict = engine.finalize(evaluation, Allocation(applied=True))
    findings = verdict.findings
    rules = {finding.rule for finding in findings}
    assert {"DUTY-TEST-HELD-MFN", "NOTIF-TEST-HELD-MISSING"} <= rules
    read = {
        (finding.rule, lang): texts.message(
            finding.pack, finding.pack_version, finding.rule, finding.message, lang
        )
        for finding in findings
        for lang in LANGUAGES
    }
    assert read[("DUTY-TEST-HELD-MFN", "fr")] == ("NPF à 6.1%.", "fr")
    assert read[("NOTIF-TEST-HELD-MISSING", "zh")] == ("2026-03-01 之前未向美国通报。", "zh")
    for finding in findings:
        assert read[(finding.rule, "en")] == (finding.message, "en")
        for lang in ("fr", "zh"):
            assert read[(finding.rule, lang)][1] == lang


# --- the translators' command -----------------------------------------------------------


def test_update_adds_what_is_missing_and_removes_nothing(
    packs_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`update` adds a new text empty, says where it is used, and lists texts no pack uses
    without removing them; `check` then names the empty one."""
    pack = packs_dir / HELD
    pack.write_text(pack.read_text().replace(TITLE, "Test measure on Vietnamese EVs"))
    capsys.readouterr()
    assert main(["update", str(packs_dir)]) == 0
    out = capsys.readouterr().out
    assert f"{catalogue_path(packs_dir, 'fr')}: 1 texts added," in out
    assert f"no longer used: {TITLE!r}" in out
    catalogue = read_catalogue(catalogue_path(packs_dir, "fr"))
    added = catalogue.entry("Test measure on Vietnamese EVs")
    assert added is not None and added.text == ""
    assert added.locations == (f"{HELD}#{TITLE_KEY}",)
    kept = catalogue.entry(TITLE)
    assert kept is not None and kept.text.startswith("Mesure de test")
    assert main(["check", str(packs_dir)]) == 1
    problems = capsys.readouterr().out.splitlines()
    assert problems == [
        f"{pack}: {TITLE_KEY}: French (fr): the translation in "
        f"{catalogue_path(packs_dir, 'fr')} is empty",
        f"{pack}: {TITLE_KEY}: Chinese (zh): the translation in "
        f"{catalogue_path(packs_dir, 'zh')} is empty",
    ]


def test_update_keeps_a_catalogue_as_it_is_when_nothing_changed(packs_dir: Path) -> None:
    """Running `update` twice changes nothing the second time."""
    assert main(["update", str(packs_dir)]) == 0
    before = catalogue_path(packs_dir, "zh").read_bytes()
    assert main(["update", str(packs_dir)]) == 0
    assert catalogue_path(packs_dir, "zh").read_bytes() == before


def test_the_command_says_how_it_is_used(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A wrong command or a directory that is not there is refused with the usage."""
    assert main(["translate", str(tmp_path)]) == 2
    assert "usage: python -m rules.translations check|update <packs dir>" in capsys.readouterr().err
    assert main(["check", str(tmp_path / "nowhere")]) == 2


def test_the_shipped_catalogues_translate_every_shipped_text() -> None:
    """Every text of every shipped pack version and arrangement has a checked French and
    Chinese translation: a missing text or a changed placeholder fails here by name."""
    assert check_directory(SHIPPED_DIR) == []


def test_the_catalog_refuses_a_pack_directory_without_catalogues(tmp_path: Path) -> None:
    """A pack of `ACCORD_RULES_DIR` with no catalogues beside it does not load."""
    shutil.copy(TEST_PACKS / HELD, tmp_path / HELD)
    with pytest.raises(PackError) as caught:
        load_catalog([tmp_path])
    assert str(caught.value).startswith(f"{tmp_path / HELD}: title: French (fr): no translation")


def test_the_catalog_holds_the_loaded_packs_texts() -> None:
    """The catalog of shipped and test packs reads both directories' catalogues."""
    texts = load_catalog([TEST_PACKS]).texts
    assert texts.text(TITLE, "zh") == "针对越南电动汽车的测试措施，从未通报"
    assert texts.message("TEST-HELD", "1", "DUTY-TEST-HELD-MFN", "MFN at 6.1%.", "fr") == (
        "NPF à 6.1%.",
        "fr",
    )


def test_a_pack_whose_texts_the_shipped_catalogues_have_needs_no_catalogue_of_its_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A new version of a shipped pack in another directory, with the shipped wording, loads
    without catalogues beside it; `update` there adds only the texts it words anew."""
    shipped = (SHIPPED_DIR / "ca-taxes.yaml").read_text()
    version = next(line for line in shipped.splitlines() if line.startswith("version: "))
    changed = shipped.replace(version, 'version: "2099.1"', 1)
    (tmp_path / "ca-taxes-2099.yaml").write_text(changed)
    catalog = load_catalog([tmp_path])
    pack = catalog.by_version("CA-TAXES", "2099.1")
    assert pack is not None
    title = pack.body.title
    assert catalog.texts.text(title, "fr") != title
    (tmp_path / "ca-taxes-2099.yaml").write_text(changed.replace(title, "A new title", 1))
    capsys.readouterr()
    assert main(["update", str(tmp_path)]) == 0
    assert f"{catalogue_path(tmp_path, 'zh')}: 1 texts added, 0 no longer used" in (
        capsys.readouterr().out
    )
    entry = read_catalogue(catalogue_path(tmp_path, "zh")).entry("A new title")
    assert entry is not None and entry.locations == ("ca-taxes-2099.yaml#title",)


# --- every finding the rule cases give reads back -----------------------------------------


def _case_findings(catalog: Catalog) -> list[tuple[str, str, str, str]]:
    """(pack, version, rule, message) of every finding the rule cases' verdicts and
    measure checks give, as stored."""
    found: list[tuple[str, str, str, str]] = []
    for _, case in DECLARATION_CASES:
        verdict, _ = run_in_process(case, catalog)
        for item in verdict["findings"]:
            found.append((item["pack"], item["pack_version"], item["rule"], item["message"]))
    for _, case in ALL_CASES:
        if "checks" not in case:
            continue
        checks = case["checks"]
        day = date.fromisoformat(checks["as_of"])
        found_measure = catalog.measure_on(checks["measure"], day)
        assert found_measure is not None
        for fired in measure_checks(*found_measure, day, catalog.current):
            finding = fired.finding
            found.append((finding.pack, finding.pack_version, finding.rule, finding.message))
    return found


def test_every_finding_of_the_rule_cases_reads_back_exactly(catalog: Catalog) -> None:
    """Each stored message of every rule case is read back into its values by one reading
    only of its rule's template, and those values give the stored text again."""
    findings = _case_findings(catalog)
    assert len({rule for _, _, rule, _ in findings}) > 80
    for pack_id, version, rule_id, message in findings:
        pack = catalog.by_version(pack_id, version)
        assert pack is not None
        rule = next(r for m in pack.measures for r in m.rules if r.id == rule_id)
        template = Template.parse(rule.message)
        values = template.values(message)
        assert values is not None, (rule_id, message)
        assert template.render(values) == message


def test_every_finding_of_the_rule_cases_reads_in_french_and_chinese(catalog: Catalog) -> None:
    """With the shipped catalogues, no finding of the rule cases falls back to English."""
    for pack_id, version, rule_id, message in _case_findings(catalog):
        for lang in ("fr", "zh"):
            read, used = catalog.texts.message(pack_id, version, rule_id, message, lang)
            assert used == lang, (rule_id, lang, message)
            assert read != message or lang == "fr", (rule_id, message)


def test_an_arrangement_text_the_shipped_catalogues_lack_is_refused() -> None:
    """The shipped arrangements are translated in the shipped packs' catalogues: a title
    they lack is refused, naming the arrangement's file."""
    arrangement, _ = load_arrangements()[0]
    renamed = arrangement.model_copy(update={"title": "An arrangement no catalogue has"})
    with pytest.raises(PackError) as caught:
        load_texts([], arrangements=[(renamed, "renamed.yaml")])
    assert str(caught.value).startswith(
        f"renamed.yaml: title: French (fr): no translation in {catalogue_path(SHIPPED_DIR.resolve(), 'fr')}"
    )
    keys = {text.key for text in arrangement_texts(arrangement, "a.yaml")}
    assert {"title", "sides[0].party", f"sources.{arrangement.source}.title"} <= keys
