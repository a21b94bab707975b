"""The API answers in the language the request asks for (`Accept-Language`: English,
French or Chinese, English by default) and says which (`Content-Language`) on every
answer, the refusals included."""

from __future__ import annotations

import httpx
import pytest

from conftest import InProcess
from service.language import negotiate


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
