"""The API answers in the language the request asks for (`Accept-Language`: English,
French or Chinese, English by default) and says which (`Content-Language`) on every
answer, the refusals included."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from conftest import InProcess
from service.language import negotiate

EV_QUOTA = "CA-CN-EV-TRQ-2026"
APPLICATION = {"business_number": "123456789RM0001", "measure": EV_QUOTA, "quantity": 2}


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "en"),
        ("", "en"),
        ("en", "en"),
        ("fr", "fr"),
        ("fr-CA", "fr"),
        ("FR-ca", "fr"),
        ("zh", "zh"),
        ("zh-CN", "zh"),
        ("zh-Hans", "zh"),
        ("zh-Hans-CN", "zh"),
        ("en-US,en;q=0.9", "en"),
        ("fr-CA,fr;q=0.9,en-US;q=0.8,en;q=0.7", "fr"),
        ("en;q=0.5, zh-CN;q=0.9", "zh"),
        ("de-DE, fr;q=0.4", "fr"),
        ("de, es, it", "en"),
        ("*", "en"),
        ("de, *;q=0.5", "en"),
        ("en;q=0, *", "fr"),
        ("fr;q=0.8, zh;q=0.8", "fr"),
        ("zh;q=0.8, fr;q=0.8", "zh"),
        ("fr;q=0", "en"),
        ("fr;q=0.9, zh;q=0.5, fr-FR;q=0", "zh"),
        ("fr-CA, fr;q=0, en;q=0.1", "en"),
        ("zh;q=0, *", "en"),
        ("en;q=0, fr;q=0, *;q=0.1", "zh"),
        ("fr;q=0.", "en"),
        ("fr;q=1.000, zh;q=1", "fr"),
        ("fr;q=nan, zh;q=inf", "en"),
        ("fr;q=0.5, zh;q=0.0001", "fr"),
        ("zh;q=1e-1, fr;q=0.05", "fr"),
        ("zh;q=-0, fr;q=0.05", "fr"),
        ("fr;;q=0.5,,zh;q=0.4", "fr"),
        ("\u00e9t\u00e9, zh", "zh"),
        ("fr;q=abc, zh", "zh"),
        ("fr;q=2, zh;q=0.1", "zh"),
        (" , ;q=1, fr ;q=0.3", "fr"),
        ("x" * 5000, "en"),
    ],
)
def test_the_language_is_the_known_one_of_highest_weight(header: str | None, expected: str) -> None:
    """Tags are matched by their primary subtag, weighted by q (the first of equal
    weights wins); unknown tags, malformed weights and `*` alone leave English."""
    assert negotiate(header) == expected


def test_every_answer_says_its_language(api: InProcess) -> None:
    """Content-Language is on a success, a 404, a 422 and the gate's own 401, and the
    answer varies with Accept-Language."""
    with api.client("admin") as client:
        for asked, said in [(None, "en"), ("fr-CA", "fr"), ("zh-CN,zh;q=0.9", "zh")]:
            headers = {"Accept-Language": asked} if asked else {}
            for response in [
                client.get("/v1/measures", headers=headers),
                client.get("/v1/declarations/NO-SUCH-ONE", headers=headers),
                client.get("/v1/quotas/CA-CN-EV-TRQ-2026?as_of=yesterday", headers=headers),
                client.get("/v1/nowhere", headers=headers),
                httpx.get(f"{api.url}/v1/measures", headers=headers),  # no token
            ]:
                assert response.headers["content-language"] == said, response.request.url
                assert "Accept-Language" in response.headers["vary"]


def _asked(api: InProcess, language: str, method: str, path: str, **kwargs: Any) -> Any:
    with api.client("admin") as client:
        return client.request(method, path, headers={"Accept-Language": language}, **kwargs)


def test_errors_in_each_language_name_the_field(api: InProcess) -> None:
    """A bad declaration, a bad permit application and a bad date are refused in the
    language asked: the same fields, status, error phrase and values given, the words in
    French or Chinese; what a BN15, a date and an RFC 3339 timestamp look like too."""
    from helpers import declaration

    cases = [
        ("POST", "/v1/permits", {"json": {**APPLICATION, "business_number": "12345"}}),
        ("POST", "/v1/declarations", {"json": {**declaration("LANG-BAD-1"), "currency": 5}}),
        ("POST", "/v1/declarations", {"json": {**declaration("LANG-BAD-2"),
                                                "accepted_at": "10/03/2026 10:00"}}),
        ("GET", f"/v1/quotas/{EV_QUOTA}", {"params": {"as_of": "30/11/2026"}}),
        ("POST", "/v1/declarations/batch", {"json": {"declarations": "no"}}),
    ]  # fmt: skip
    for method, path, kwargs in cases:
        english = _asked(api, "en", method, path, **kwargs)
        assert english.status_code == 422, english.text
        for language, sign in [("fr-CA", "doit"), ("zh-CN", "应")]:
            answer = _asked(api, language, method, path, **kwargs)
            assert answer.status_code == english.status_code
            assert answer.json()["error"] == english.json()["error"]
            said = answer.json()["detail"]
            assert [p["field"] for p in said] == [p["field"] for p in english.json()["detail"]]
            for problem, original in zip(said, english.json()["detail"], strict=True):
                assert problem["message"] != original["message"], (language, problem)
                assert sign in problem["message"] or "L'entrée" in problem["message"], problem
    zh = _asked(api, "zh", "POST", "/v1/permits",
                json={**APPLICATION, "business_number": "12345"}).json()  # fmt: skip
    assert zh["detail"][0]["message"] == (
        "应为15 位加拿大商业号码（BN15）：9 位商业号码、RM（进出口项目账户）和 4 位参考号，"
        "例如 123456789RM0001，实为 '12345'"
    )
    fr = _asked(api, "fr", "GET", f"/v1/quotas/{EV_QUOTA}", params={"as_of": "30/11/2026"})
    assert fr.json()["detail"][0] == {
        "field": "query.as_of",
        "message": "doit être une date AAAA-MM-JJ, par exemple 2026-11-30, reçu '30/11/2026'",
    }


def test_a_translated_error_is_the_english_one_but_for_its_words(api: InProcess) -> None:
    """Not found, unauthenticated, over quota: the French and Chinese answers have the
    English answer's keys, ids and numbers, byte for byte once the words are set aside."""
    english = _asked(api, "en", "GET", "/v1/declarations/NO-SUCH-1")
    french = _asked(api, "fr", "GET", "/v1/declarations/NO-SUCH-1")
    assert french.json()["detail"] == {
        "declaration_id": "NO-SUCH-1",
        "message": "aucune déclaration NO-SUCH-1 que ce jeton peut voir",
    }
    english_words = english.json()["detail"]["message"].encode()
    french_words = french.json()["detail"]["message"].encode()
    assert french.content.replace(french_words, english_words) == english.content
    refused = httpx.get(f"{api.url}/v1/measures", headers={"Accept-Language": "zh"})
    assert refused.status_code == 401
    assert refused.json() == {"error": "missing bearer token",
                              "detail": "请发送 Authorization: Bearer 令牌"}  # fmt: skip
    over = _asked(api, "fr", "POST", "/v1/permits",
                  json={**APPLICATION, "quantity": 30_000, "issued_on": "2026-05-01"})  # fmt: skip
    assert over.status_code == 409
    left = over.json()["detail"]["remaining"]
    assert left > 1000  # grouped: 30,000 would read as thirty in French
    assert over.json()["detail"]["message"] == (
        f"il reste {left:,} unités".replace(",", "\u00a0")
        + " dans le contingent, moins que les 30\u00a0000 demandées; rien n'a été prélevé"
    )


def test_an_answer_that_says_its_language_keeps_it() -> None:
    """A page that chose its language elsewhere (a reader's switch) keeps its own
    Content-Language; an existing Vary gains Accept-Language once."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from starlette.types import Message

    from service.language import ContentLanguage

    sent: list[Message] = []

    def app(headers: list[tuple[bytes, bytes]]) -> Any:
        async def answer(scope: Any, receive: Any, send: Any) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b""})

        return answer

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request"}

    scope = {"type": "http", "headers": [(b"accept-language", b"fr-CA")]}
    own = [(b"content-language", b"zh"), (b"vary", b"Cookie")]
    # on a thread of its own: a browser test's driver may keep a loop running on this one
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, ContentLanguage(app(own))(scope, receive, send)).result()
        vary = [(b"vary", b"accept-language")]
        pool.submit(asyncio.run, ContentLanguage(app(vary))(scope, receive, send)).result()
    first, second = sent[0]["headers"], sent[2]["headers"]
    assert first == [(b"content-language", b"zh"), (b"vary", b"Cookie, Accept-Language")]
    assert second == [(b"vary", b"accept-language"), (b"content-language", b"fr")]


@pytest.mark.parametrize(
    ("header", "said"),
    [
        (b"fr;q=", "en"),
        (b"*;q=0", "en"),
        (b";;;,,,", "en"),
        (b"zh-;q=1", "zh"),
        (b"fr;q=0.9, zh;q=0.5, fr-FR;q=0", "zh"),
        (b"\xe9t\xe9, fr-CA", "fr"),  # not ASCII: read as Latin-1, the tag unknown
        (b"fr;q=1e400, zh;q=-0, en;q=0.001x, zh-CN;q=0.001", "zh"),
        (b"en;q=0, fr;q=0, zh;q=0", "en"),
        (b"fr-CA;" + b"q=0.5;" * 2000, "fr"),
    ],
)
def test_an_odd_accept_language_is_never_a_server_error(
    api: InProcess, header: bytes, said: str
) -> None:
    """Malformed, refused-everything and non-ASCII headers, sent over the wire as bytes:
    the answer is the route's own (a 404 here, in the language chosen), never a 5xx."""
    with api.client("admin") as client:
        answer = client.get("/v1/declarations/NO-SUCH-2", headers={"Accept-Language": header})
    assert answer.status_code == 404, answer.text
    assert answer.headers["content-language"] == said
    assert "Accept-Language" in answer.headers["vary"]
