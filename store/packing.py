"""How the store keeps its large texts in Redis: compressed, with a preset dictionary.

A declaration's body, its verdict and its audit events are JSON that repeats itself
from one declaration to the next (messages, references, pack and rule ids, key names).
They are kept packed: one marker byte that no UTF-8 text starts with (0xFF), the number
of the preset dictionary, and the text as raw deflate with that dictionary. Unpacking
gives back the very bytes packed, so what is served, exported, archived and hashed by
the audit chain is unchanged; a value without the marker is a text stored as it is (a
record written before packing, or one written by hand), and reads as it always did.

The dictionaries are files of this package (`store/zdict/{number}-{kind}.zdict`, made by
`python -m bench.zdict` from declarations of the bench mix) and are never changed or
removed once shipped: every packed value names its own, and a new one takes the next
number. Number 0 is no dictionary.
"""

from __future__ import annotations

import functools
import re
import zlib
from importlib import resources
from typing import Any, Literal

Kind = Literal["trail", "verdict", "body", "doc"]
KINDS: tuple[Kind, ...] = ("trail", "verdict", "body", "doc")
MARK = 0xFF
"""The first byte of a packed value: never the first byte of UTF-8 text."""

_NAME = re.compile(r"^(\d+)-(trail|verdict|body|doc)\.zdict$")


@functools.cache
def dictionaries() -> dict[int, tuple[str, bytes]]:
    """Every shipped dictionary: number -> (kind, bytes)."""
    found: dict[int, tuple[str, bytes]] = {0: ("", b"")}
    folder = resources.files("store").joinpath("zdict")
    if not folder.is_dir():
        return found
    for item in folder.iterdir():
        match = _NAME.match(item.name)
        if match:
            found[int(match.group(1))] = (match.group(2), item.read_bytes())
    return found


@functools.cache
def newest(kind: Kind) -> int:
    """The number of the dictionary a value of `kind` is packed with now (0: none)."""
    return max((n for n, (of, _) in dictionaries().items() if of == kind), default=0)


LEVEL = 3
"""zlib's compression level: the cheapest that keeps a decided declaration's bytes in
Redis within their budget (docs/performance.md has the figures of each level). Unpacking
does not depend on it."""


def compressor(zdict: bytes) -> Any:
    """A raw deflate stream at LEVEL, primed with `zdict` (none when empty)."""
    if zdict:
        return zlib.compressobj(LEVEL, zlib.DEFLATED, -15, 9, zdict=zdict)
    return zlib.compressobj(LEVEL, zlib.DEFLATED, -15, 9)


@functools.cache
def _primed(number: int) -> Any:
    """A stream primed with dictionary `number`, never written to: each value packs with
    a copy, since priming (32 KB of dictionary hashed) costs more than most values."""
    return compressor(dictionaries()[number][1])


def pack(text: str | bytes, kind: Kind) -> bytes:
    """`text` packed with the newest dictionary of its kind."""
    number = newest(kind)
    raw = text.encode() if isinstance(text, str) else text
    packer = _primed(number).copy()
    packed: bytes = packer.compress(raw) + packer.flush()
    return bytes((MARK, number)) + packed


class Damaged(ValueError):
    """A stored value that does not read back as what was packed: changed by hand in
    Redis, or damaged. Raw deflate carries no checksum, so a changed byte can also unpack
    to other text, served as it is and failed by the audit chain, as a changed value that
    is not packed is; what is caught here is a stream that does not decode or does not
    end where the value ends, text that is not UTF-8, and a document without a body and a
    verdict. `part` names the key it was read
    from (decl, body, verdict, doc or audit) and `seq` the first audit event it holds,
    once a reader of the stored layout (store/layout.py) says so."""

    def __init__(self, reason: str, part: str = "", seq: int = 1) -> None:
        super().__init__(reason)
        self.reason, self.part, self.seq = reason, part, seq

    def of(self, part: str, seq: int = 1) -> Damaged:
        """The same damage, read from `part` and holding events from `seq` on."""
        return Damaged(self.reason, part, seq)


def is_packed(value: str | bytes | None) -> bool:
    return isinstance(value, bytes) and len(value) >= 2 and value[0] == MARK


def unpacked(value: bytes) -> bytes:
    """The text a packed value holds (a value not packed is returned as it is)."""
    if not is_packed(value):
        return value
    number = value[1]
    known = dictionaries().get(number)
    if known is None:
        raise Damaged(f"it names preset dictionary {number}, which is not shipped")
    zdict = known[1]
    reader = zlib.decompressobj(-15, zdict=zdict) if zdict else zlib.decompressobj(-15)
    try:
        raw: bytes = reader.decompress(value[2:]) + reader.flush()
    except zlib.error as exc:
        raise Damaged(f"its packed stream does not decode ({exc})") from None
    if not reader.eof:
        raise Damaged("its packed stream stops before its end")
    if reader.unused_data:
        raise Damaged("bytes follow the end of its packed stream")
    return raw


def unpacked_text(value: str | bytes | None) -> str | None:
    """A stored value as text, unpacked when it is packed; None stays None."""
    if value is None or isinstance(value, str):
        return value
    try:
        return unpacked(value).decode()
    except UnicodeDecodeError:
        raise Damaged("it is not UTF-8 text") from None


SEPARATOR = b"\n"
"""Between the events of one packed piece of a trail: compact JSON never holds a newline."""


def pack_events(texts: list[str]) -> bytes | None:
    """The events of one write as one packed piece of the trail, or None when one of
    them holds a newline (then they are stored one by one, as they are)."""
    raw = [text.encode() for text in texts]
    if any(SEPARATOR in item for item in raw):
        return None
    return pack(SEPARATOR.join(raw), "trail")


def pack_document(body: str, verdict: str, events: list[bytes]) -> bytes | None:
    """A decided declaration's body, verdict and whole trail as one packed value (they
    repeat each other's texts, which one stream finds), or None when one of them holds a
    newline."""
    parts = [body.encode(), verdict.encode(), *events]
    if any(SEPARATOR in part for part in parts):
        return None
    return pack(SEPARATOR.join(parts), "doc")


def document_of(value: bytes | None) -> tuple[str, str, list[bytes]] | None:
    """(body, verdict, events) of a packed document, or None without one."""
    if value is None:
        return None
    parts = unpacked(value).split(SEPARATOR)
    if len(parts) < 2:
        raise Damaged("it holds no verdict after its body")
    body, verdict, *events = parts
    try:
        return body.decode(), verdict.decode(), events
    except UnicodeDecodeError:
        raise Damaged("it is not UTF-8 text") from None


def events_of(items: list[bytes] | list[str | bytes]) -> list[bytes]:
    """The events a stored trail holds, in order: each item is one event as it is, or a
    packed piece holding several."""
    out: list[bytes] = []
    for item in items:
        if is_packed(item):
            out.extend(unpacked(item).split(SEPARATOR))  # type: ignore[arg-type]
        else:
            out.append(item.encode() if isinstance(item, str) else item)
    return out
