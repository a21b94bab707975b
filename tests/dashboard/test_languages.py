"""The dashboard in English, French and Chinese: the catalogues translate every word the
pages say (with the same placeholders), each page answers in the browser's language or in
the one chosen with the header's switch (kept beside the session), numbers and dates are
written for the locale, Chinese importer names come through whole, and in Chromium the
Chinese glyphs render (not boxes) and no page scrolls sideways."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from babel.messages.pofile import read_po
from babel.numbers import parse_decimal

from cli.language import LOCALE_DIR as CLI_LOCALE_DIR
from cli.language import METHODS as CLI_METHODS
from conftest import Stack, unique_id
from helpers import declaration
from service.dashboard.words import LOCALE_DIR, METHODS, SOURCES, messages, words

from .conftest import ARTIFACTS, Seeded, signed_in
from .test_browser import sign_in
from .test_layout import card_figures, overflowing

PLACEHOLDER = re.compile(r"%\((\w+)\)s")
LANG_ATTRIBUTE = {"en": "en", "fr": "fr-CA", "zh": "zh-Hans"}
OVERVIEW_WORD = {"en": "Overview", "fr": "Vue d’ensemble", "zh": "概览"}
CHINESE_IMPORTER = "青岛海丰油籽进出口有限公司"
CHINESE_DESCRIPTION = "油菜籽（非转基因）"


def pages(seeded: Seeded) -> dict[str, str]:
    return {
        "overview": "/dashboard",
        "declaration": f"/dashboard/declarations/{seeded.surtax_id}",
        "measures": "/dashboard/measures?as_of=2026-03-10",
        "arrangement": "/dashboard/arrangements/CA-CN-2026?as_of=2027-01-01",
    }


# --- the catalogues -----------------------------------------------------------------------


@pytest.mark.parametrize("language", ["fr", "zh"])
@pytest.mark.parametrize(
    ("directory", "methods", "base"),
    [(LOCALE_DIR, METHODS, SOURCES), (CLI_LOCALE_DIR, CLI_METHODS, CLI_LOCALE_DIR.parent)],
    ids=["dashboard", "accord"],
)  # fmt: skip
def test_every_word_of_the_pages_is_translated_with_its_placeholders(
    language: str, directory: Path, methods: list[tuple[str, str]], base: Path
) -> None:
    """Each message the templates and the page models say (and the `accord` command) has
    a translation, not empty nor fuzzy, whose placeholders are the English ones, flagged
    unofficial."""
    with (directory / f"{language}.po").open("rb") as handle:
        catalogue = read_po(handle, locale=language)
    problems = []
    for key in messages(methods, base):
        entry = catalogue.get(key if isinstance(key, str) else key[0])
        english = key if isinstance(key, str) else key[1]
        if entry is None or entry.fuzzy:
            problems.append(f"missing: {key!r}")
            continue
        texts = [entry.string] if isinstance(entry.string, str) else list(entry.string)
        if not all(texts):
            problems.append(f"empty: {key!r}")
        wanted = set(PLACEHOLDER.findall(english))
        for text in texts:
            if set(PLACEHOLDER.findall(text)) - {"num"} != wanted - {"num"}:
                problems.append(f"placeholders differ: {key!r} -> {text!r}")
        if "unofficial" not in entry.flags:
            problems.append(f"not marked unofficial: {key!r}")
    assert problems == []


def test_words_and_numbers_follow_the_language() -> None:
    """Plurals follow each language's rule, stored values read as words, and the locale's
    separators come from Babel."""
    french, chinese = words("fr"), words("zh")
    assert french.ngettext("%(num)s error", "%(num)s errors", 1) == "1 erreur"
    assert french.ngettext("%(num)s error", "%(num)s errors", 2) == "2 erreurs"
    assert chinese.ngettext("%(num)s error", "%(num)s errors", 2) == "2个错误"
    assert chinese.term("pending_allocation") == "待分配"
    assert words("en").term("pending_allocation") == "pending allocation"
    assert words("de").language == "en"  # type: ignore[arg-type]


# --- pages over HTTP ----------------------------------------------------------------------


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


@pytest.mark.stack
@pytest.mark.parametrize("language", ["en", "fr", "zh"])
def test_each_page_answers_in_the_browsers_language(
    stack: Stack, seeded: Seeded, language: str
) -> None:
    """With Accept-Language alone each page is in that language: <html lang>, the
    Content-Language header, the header's words; ids and codes stay as stored."""
    asked = {"en": "en-CA,en;q=0.9", "fr": "fr-CA,fr;q=0.9,en;q=0.5", "zh": "zh-CN,zh;q=0.9"}
    with signed_in(stack, "auditor") as client:
        client.headers["Accept-Language"] = asked[language]
        for name, path in pages(seeded).items():
            response = client.get(path)
            assert response.status_code == 200, (name, language)
            assert response.headers["content-language"] == language
            assert f'<html lang="{LANG_ATTRIBUTE[language]}">' in response.text
            assert OVERVIEW_WORD[language] in response.text, name
        page = client.get(f"/dashboard/declarations/{seeded.surtax_id}").text
        arrangement = client.get(pages(seeded)["arrangement"]).text
        login = httpx.get(
            f"{stack.url}/dashboard/login", headers={"Accept-Language": asked[language]}
        )
    assert seeded.surtax_id in page and "8703.80" in page  # the record's values, as stored
    signs = {"en": "Sign in", "fr": "Se connecter", "zh": "登录"}
    assert signs[language] in login.text
    timeline = arrangement[arrangement.index('data-testid="arrangement-timeline"') :]
    as_of = {"en": "as of Jan 1, 2027", "fr": "au 1 janv. 2027", "zh": "截至2027年1月1日"}
    assert as_of[language] in timeline[: timeline.index("</svg>")]


@pytest.mark.stack
def test_the_switch_keeps_its_choice_over_the_browsers_language(
    stack: Stack, seeded: Seeded
) -> None:
    """Choosing 中文 in the header sends back to the same page in Chinese; later pages stay
    Chinese though the browser asks for French; a language we lack, or a choice posted
    from another site, is refused and changes nothing."""
    with signed_in(stack, "auditor") as client:
        client.headers["Accept-Language"] = "fr-CA"
        assert "Vue d’ensemble" in client.get("/dashboard/measures").text
        here = "/dashboard/measures?as_of=2026-03-10"
        chosen = client.post("/dashboard/language", data={"lang": "zh", "next": here})
        assert chosen.status_code == 303
        assert chosen.headers["location"] == here
        cookie = chosen.headers["set-cookie"]
        assert "accord_language=zh" in cookie and "Path=/dashboard" in cookie
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie
        for path in pages(seeded).values():
            shown = client.get(path)
            assert shown.headers["content-language"] == "zh"
            assert "概览" in shown.text and "Vue d’ensemble" not in shown.text
        away = client.post(
            "/dashboard/language", data={"lang": "en", "next": "https://evil.example/"}
        )
        assert away.headers["location"] == "/dashboard"  # never another host
        refused = client.post("/dashboard/language", data={"lang": "de", "next": here})
        assert refused.status_code == 422 and "lang" in refused.text
        cross = client.post(
            "/dashboard/language",
            data={"lang": "fr", "next": here},
            headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
        )
        assert cross.status_code == 403
        assert client.get("/dashboard").headers["content-language"] == "en"  # the last choice


@pytest.mark.stack
def test_numbers_amounts_and_dates_are_written_for_the_locale(stack: Stack, seeded: Seeded) -> None:
    """The same declaration's value for duty and its dates: 1,000,000.00 CNY in English,
    1 000 000,00 CNY in French (no-break spaces), 1,000,000.00 CNY in Chinese;
    the day it was accepted as each locale writes a date; a Chinese importer's name and a
    Chinese description come through whole in every language."""
    line = {"tariff_item": "1205109000", "origin": "CA", "description": CHINESE_DESCRIPTION,
            "unit": "KGM", "quantity": "2000000", "value_for_duty": "1000000.00"}  # fmt: skip
    body = declaration(
        unique_id("ZH"), lines=[line], jurisdiction="CN", currency="CNY",
        importer={"business_number": "91370200MA3C4EXX0A", "name": CHINESE_IMPORTER},
        accepted_at="2026-03-05T10:00:00+08:00",
    )  # fmt: skip
    with stack.client("admin") as client:
        assert client.post("/v1/declarations", json=body).status_code == 202
        decided = client.get(f"/v1/declarations/{body['declaration_id']}", params={"wait": 30})
        assert decided.json()["status"] == "decided"
    shown = {}
    with signed_in(stack, "admin") as client:
        for language in ("en", "fr", "zh"):
            client.headers["Accept-Language"] = language
            page = client.get(f"/dashboard/declarations/{body['declaration_id']}")
            assert page.encoding == "utf-8"
            shown[language] = re.sub(r"<[^>]+>", "", page.text)
            overview = client.get("/dashboard").text
            row = overview.split(f'data-declaration-id="{body["declaration_id"]}"', 1)[1]
            assert CHINESE_IMPORTER in row.split("</tr>", 1)[0]
    assert "1,000,000.00 CNY" in shown["en"]
    assert "1\u00a0000\u00a0000,00 CNY" in shown["fr"]  # fr_CA's separators, as Babel has them
    assert "1,000,000.00 CNY" in shown["zh"]
    assert "Mar 5, 2026 10:00 +08:00" in shown["en"]
    assert "5 mars 2026 10 h 00 +08:00" in shown["fr"]
    assert "2026年3月5日 10:00 +08:00" in shown["zh"]
    for text in shown.values():
        assert CHINESE_IMPORTER in text and CHINESE_DESCRIPTION in text
        assert "Ã" not in text and "\ufffd" not in text  # no mojibake, no replacement character


# --- in Chromium --------------------------------------------------------------------------


@pytest.fixture
def chinese_page(browser: Any) -> Iterator[Any]:
    """A browser whose language is Chinese, as a reader in China has it."""
    context = browser.new_context(
        viewport={"width": 1366, "height": 768}, device_scale_factor=1, locale="zh-CN"
    )
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def _glyph(page: Any, text: str, name: str) -> bytes:
    """A screenshot of one character drawn in the page's own font stack, in a fixed box, so
    that two screenshots differ only if the glyphs do."""
    page.evaluate(
        """([text, name]) => {
             const box = document.createElement('span');
             box.id = 'glyph-' + name;
             box.textContent = text;
             box.style.cssText = 'display:inline-block;width:64px;height:64px;font-size:48px;'
               + 'line-height:64px;text-align:center;overflow:hidden;background:#fff;color:#000';
             document.querySelector('main').prepend(box);
           }""",
        [text, name],
    )
    shot: bytes = page.locator(f"#glyph-{name}").screenshot(
        path=str(ARTIFACTS / f"glyph-{name}.png")
    )
    return shot


@pytest.mark.stack
@pytest.mark.browser
def test_chinese_glyphs_render_rather_than_boxes(
    chinese_page: Any, stack: Stack, seeded: Seeded
) -> None:
    """In Chromium, a browser set to Chinese gets the dashboard in Chinese; its characters
    draw as glyphs: two different characters of the page look different from each other
    and from the box a code point no font has falls back to, and from blank space."""
    page = chinese_page
    sign_in(page, stack, "auditor")
    assert page.locator("html").get_attribute("lang") == "zh-Hans"
    nav = page.locator("nav.nav").inner_text()
    assert "概览" in nav and "措施" in nav
    page.screenshot(path=str(ARTIFACTS / "languages-overview-zh.png"), full_page=True)
    first, second = _glyph(page, "概", "first"), _glyph(page, "措", "second")
    missing = _glyph(page, "\U000e01ef", "missing")  # a variation selector no font draws alone
    tofu = _glyph(page, "\U0010fffd", "tofu")  # private use: the fallback box, if any
    blank = _glyph(page, " ", "blank")
    assert first != second
    for shot in (first, second):
        assert shot not in (tofu, blank, missing)


@pytest.mark.stack
@pytest.mark.browser
@pytest.mark.parametrize("width", [390, 1366])
def test_the_switch_in_chromium_and_no_sideways_scroll_in_any_language(
    browser: Any, stack: Stack, seeded: Seeded, width: int
) -> None:
    """Signed in with an English browser, the header's FR and 中文 buttons turn every page
    into that language and the choice holds from page to page; at a phone's width and at
    1366 pixels no page in any language scrolls sideways or cuts a table."""
    context = browser.new_context(
        viewport={"width": width, "height": 800}, device_scale_factor=1, locale="en-US",
        is_mobile=width < 640, has_touch=width < 640,
    )  # fmt: skip
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        sign_in(page, stack, "auditor")
        for language, button in (("en", "EN"), ("fr", "FR"), ("zh", "中文")):
            if language != "en":
                page.click(f'form[data-testid="language-switch"] button:text-is("{button}")')
                page.wait_for_load_state()
            for name, path in pages(seeded).items():
                response = page.goto(f"{stack.url}{path}")
                assert response.status == 200
                assert page.locator("html").get_attribute("lang") == LANG_ATTRIBUTE[language]
                assert OVERVIEW_WORD[language] in page.locator("nav.nav").inner_text()
                current = page.locator('form[data-testid="language-switch"] [aria-current="true"]')
                assert current.get_attribute("data-lang") == language
                page.screenshot(
                    path=str(ARTIFACTS / f"languages-{name}-{language}-{width}.png"), full_page=True
                )
                scroll = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
                assert scroll[0] <= scroll[1], f"{path} in {language} at {width}: {scroll}"
                assert overflowing(page) == [], f"{path} in {language} at {width}"
    finally:
        context.close()


@pytest.mark.stack
def test_the_packs_titles_and_findings_follow_the_page_language(
    stack: Stack, seeded: Seeded
) -> None:
    """A quota's title and a stored finding read back in the page's language from the
    packs' catalogues (tests/packs/locale); the rule id and the stored verdict stay."""
    with signed_in(stack, "auditor") as client:
        client.headers["Accept-Language"] = "zh-CN"
        overview = client.get("/dashboard").text
        held = client.get(f"/dashboard/declarations/{seeded.held_id}").text
        client.headers["Accept-Language"] = "en"
        english = client.get(f"/dashboard/declarations/{seeded.held_id}").text
    card = overview[overview.index('data-quota-id="TEST-JP-EV-TRQ"') :]
    assert "针对日本电动汽车的测试配额，每年 100 辆" in card[: card.index("</h2>")]
    assert "之前未向美国通报。" in held and "NOTIF-TEST-HELD-MISSING" in held
    assert "No notification to the United States before" in english


@pytest.mark.stack
@pytest.mark.browser
def test_the_sign_in_page_has_the_switch_and_the_choice_outlives_sign_in(
    page: Any, stack: Stack
) -> None:
    """Before signing in, FR on the sign-in card turns the form French; signing in keeps
    French (the choice is the reader's, not the token's)."""
    page.goto(f"{stack.url}/dashboard")
    assert page.locator("h1").inner_text() == "Sign in"
    page.click('form[data-testid="language-switch"] button:text-is("FR")')
    page.wait_for_load_state()
    assert "/dashboard/login" in page.url
    assert page.locator("h1").inner_text() == "Se connecter"
    page.fill("#token", "certainly-not-a-token")
    page.click("form.login-form button[type=submit]")
    assert page.locator('[role="alert"]').inner_text() == "Ce jeton n’est pas valide."
    page.fill("#token", stack.tokens["auditor"])
    page.click("form.login-form button[type=submit]")
    page.wait_for_url(f"{stack.url}/dashboard")
    assert page.locator("html").get_attribute("lang") == "fr-CA"
    assert page.locator("h1").inner_text() == "Contingents"


@pytest.mark.stack
@pytest.mark.browser
def test_each_quota_card_adds_up_in_french_as_read_off_the_page(
    browser: Any, stack: Stack, seeded: Seeded
) -> None:
    """A French browser's quota cards write their figures as fr-CA does (12 345), and the
    headline's sum still holds when the figures are read back with that locale."""
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="fr-CA")
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        sign_in(page, stack, "auditor")
        assert page.locator("html").get_attribute("lang") == "fr-CA"
        cards = page.locator('article[data-testid="quota"]').all()
        assert len(cards) >= 2
        grouped = False
        for card in cards:
            terms = card_figures(card)["terms"]
            total, equals = Decimal(0), None
            for _name, op, value in terms:
                grouped = grouped or "\u00a0" in value or "\u202f" in value
                figure = parse_decimal(value.replace("−", "-"), locale="fr_CA", strict=True)
                if op.strip() == "=":
                    equals, total = total, figure
                    continue
                total += -figure if op.strip() == "−" else figure
            assert equals is not None and equals == total, terms
        assert grouped  # some figure of thousands shows fr-CA's separator
    finally:
        context.close()
