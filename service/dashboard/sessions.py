"""Dashboard sessions: a cookie that holds no token, only a keyed digest of it signed
with its issue time, checked against the token book on every request. The key is derived
from the token book, so every API process reading the same tokens file accepts the same
sessions, and any change to the file ends them all once the service restarts with it."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from fastapi import Request

from schemas.audit import canonical_json
from service.auth import Principal, TokenBook
from service.language import LANGUAGES, Language, negotiate

COOKIE_NAME = "accord_session"
COOKIE_PATH = "/dashboard"
SESSION_MAX_AGE = 12 * 60 * 60
# the language the reader chose with the header's switch: kept beside the session, for
# as long as a session lasts, and read before the browser's Accept-Language
LANGUAGE_COOKIE = "accord_language"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


NONCE_BYTES = 16
SUBJECT_BYTES = 32


class Sessions:
    """Session cookies `v1.<subject+nonce>.<issued>.<mac>`: the subject is an HMAC of the
    token (the cookie never holds the token itself), the nonce is random, so two sign-ins
    with one token in the same second are two sessions, each ended by its own sign-out;
    the mac binds subject, nonce and issue time."""

    def __init__(self, book: TokenBook, namespace: str = "", max_age: int = SESSION_MAX_AGE):
        material = canonical_json(
            {
                "namespace": namespace,
                "tokens": [
                    [entry.token, entry.role, entry.business_number] for entry in book.entries
                ],
            }
        )
        self._key = hashlib.sha256(b"accord dashboard session v1\0" + material.encode()).digest()
        self._book = book
        # the principal the token book gives the token, so that per-caller limits count a
        # token's dashboard pages and API calls together
        self._subjects = [
            (self._subject(entry.token), book.principal(entry.token) or Principal(entry.role))
            for entry in book.entries
        ]
        self.max_age = max_age

    def _subject(self, token: str) -> bytes:
        return hmac.new(self._key, b"subject\0" + token.encode(), hashlib.sha256).digest()

    def _mac(self, subject: bytes, issued: int) -> bytes:
        message = b"session\0" + subject + b"\0" + str(issued).encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def issue(self, token: str, now: float) -> tuple[str, Principal] | None:
        """A cookie value for a known token, or None."""
        principal = self._book.principal(token)
        if principal is None:
            return None
        signed, issued = self._subject(token) + secrets.token_bytes(NONCE_BYTES), int(now)
        return f"v1.{_b64(signed)}.{issued}.{_b64(self._mac(signed, issued))}", principal

    def principal(self, cookie: str | None, now: float) -> Principal | None:
        """Who a cookie signs in, if it is genuine, fresh, and its token still known."""
        if not cookie:
            return None
        parts = cookie.split(".")
        if len(parts) != 4 or parts[0] != "v1" or not parts[2].isdecimal():
            return None
        try:
            signed, mac = _unb64(parts[1]), _unb64(parts[3])
        except (binascii.Error, ValueError):
            return None
        issued = int(parts[2])
        if len(signed) != SUBJECT_BYTES + NONCE_BYTES:
            return None
        if not hmac.compare_digest(mac, self._mac(signed, issued)):
            return None
        subject = signed[:SUBJECT_BYTES]
        if not 0 <= now - issued <= self.max_age:
            return None
        found: Principal | None = None
        for known, principal in self._subjects:  # all of them, so timing tells nothing
            if hmac.compare_digest(known, subject):
                found = principal
        return found

    @staticmethod
    def session_id(cookie: str) -> str:
        """The name of a cookie's server-side record: a digest of its mac, which no two
        sessions share, so that the store holds nothing a cookie could be rebuilt from."""
        return hashlib.sha256(b"session id\0" + cookie.rpartition(".")[2].encode()).hexdigest()


def safe_next(target: str | None) -> str:
    """Where to go after sign-in: a dashboard path of this site, never another host."""
    if not target:
        return COOKIE_PATH
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target or not target.startswith(COOKIE_PATH):
        return COOKIE_PATH
    if target[len(COOKIE_PATH) : len(COOKIE_PATH) + 1] not in ("", "/", "?"):
        return COOKIE_PATH
    return target


def same_origin(request: Request) -> bool:
    """A form POST comes from a page of this site (login CSRF and cross-site sign-out are
    refused; SameSite=Strict already keeps the cookie off cross-site requests)."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True  # not a browser, or an old one: SameSite still holds
    return urlsplit(origin).netloc == request.url.netloc


def chosen_language(request: Request) -> Language:
    """The language of a dashboard page: the one the reader chose with the switch, else
    the browser's Accept-Language, else English."""
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    for language in LANGUAGES:
        if chosen == language:
            return language
    return negotiate(request.headers.get("accept-language"))
