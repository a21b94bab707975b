"""Which language an answer is written in: English, French or Chinese, chosen by the
request's `Accept-Language` (RFC 9110 §12.5.4) and said by the answer's
`Content-Language`. Only the words change with it: field names, rule ids, codes,
numbers and the stored records stay as they are (docs/languages.md).

`negotiate` is the pure choice; `request_language` is the FastAPI dependency (`Lang` its
annotation) that routes take; `ContentLanguage` is the middleware that writes the header
on every answer, errors and the gate's early refusals included."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated

from fastapi import Depends, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rules.languages import SOURCE
from rules.translations import LANGUAGES, Language, language_named

__all__ = [
    "DEFAULT", "LANGUAGES", "ContentLanguage", "Lang", "Language", "header_language",
    "negotiate", "request_language", "scope_language",
]  # fmt: skip

DEFAULT: Language = SOURCE
_HEADER_VALUES = {language: language.encode("ascii") for language in LANGUAGES}

# A tag's primary subtag is enough (rules.translations.language_named): fr-CA, fr-FR and
# fr are one French; zh, zh-CN, zh-Hans (and zh-TW, whose reader reads the simplified text
# better than English) one Chinese, written in simplified characters.


# RFC 9110 §12.4.2: 0 to 1, at most three decimals ("1e-1", "-0", "nan" are not weights)
QVALUE = re.compile(r"0(?:\.\d{0,3})?|1(?:\.0{0,3})?")


def _weighted(header: str) -> Iterable[tuple[str, float]]:
    """ "fr-CA;q=0.8, en" -> ("fr-ca", 0.8), ("en", 1.0); a malformed weight drops its tag."""
    for item in header.split(","):
        tag, *params = (part.strip() for part in item.split(";"))
        if not tag:
            continue
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() != "q":
                continue
            value = value.strip()
            weight = float(value) if QVALUE.fullmatch(value) else -1.0
        if weight >= 0.0:
            yield tag.lower(), weight


def negotiate(header: str | None) -> Language:
    """The language to answer in: the known language of highest weight (the first of
    equal weights); English when the header is absent, names none we have, or is only `*`.
    A tag at q=0 refuses its language, even against `*`."""
    if not header:
        return DEFAULT
    wanted: list[tuple[float, int, Language]] = []
    refused: set[Language] = set()
    star = -1.0
    for position, (tag, weight) in enumerate(_weighted(header)):
        if tag == "*":
            star = max(star, weight)
            continue
        language = language_named(tag)
        if language is None:
            continue
        if weight == 0.0:
            refused.add(language)
            continue
        wanted.append((-weight, position, language))
    # the heaviest not refused, the first of equal weights: a refused favourite leaves
    # the next language asked for, not English
    for _weight, _position, language in sorted(wanted):
        if language not in refused:
            return language
    if star > 0.0:  # any language: the first of ours not refused
        return next((lang for lang in LANGUAGES if lang not in refused), DEFAULT)
    return DEFAULT


def header_language(headers: Iterable[tuple[bytes, bytes]]) -> Language:
    """The language an ASGI scope's raw headers ask for."""
    for name, value in headers:
        if name.lower() == b"accept-language":
            return negotiate(value.decode("latin-1"))
    return DEFAULT


def scope_language(scope: Scope) -> Language:
    return header_language(scope.get("headers", []))


def request_language(request: Request) -> Language:
    """The dependency: the language this request's answer is written in."""
    return negotiate(request.headers.get("accept-language"))


async def _request_language(request: Request) -> Language:
    """`request_language` as a coroutine: FastAPI runs a plain function dependency in the
    thread pool, a coroutine in place (service/dependencies.py)."""
    return request_language(request)


Lang = Annotated[Language, Depends(_request_language)]


class ContentLanguage:
    """Writes `Content-Language` on every HTTP answer, and `Vary: Accept-Language` since
    the words depend on it. An answer that already says its language (a page that follows
    a language the reader chose elsewhere) keeps its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        language = _HEADER_VALUES[scope_language(scope)]

        async def send_with_language(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                said = varies = False
                for index, (name, value) in enumerate(headers):
                    lowered = name.lower()
                    if lowered == b"content-language":
                        said = True
                    elif lowered == b"vary":
                        varies = True
                        if b"accept-language" not in value.lower():
                            headers[index] = (name, value + b", Accept-Language")
                if not said:
                    headers.append((b"content-language", language))
                if not varies:
                    headers.append((b"vary", b"Accept-Language"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_language)
