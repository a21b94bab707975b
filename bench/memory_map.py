"""Where a decided declaration's bytes go in Redis: `python -m bench.memory_map`.

Decides declarations of the bench mix as bench/retention_bench.py does (the same loop,
the same embedded Redis with an audit key, checkpoints written), then reads every key
back: `MEMORY USAGE` and `OBJECT ENCODING` per key, grouped by the key's shape; the
declaration hash field by field and how many of its fields pass the ziplist (listpack)
value limit; the packed values (store/packing.py) against the text they hold; the trail
event by event (as the store reads it: its document's, then its list's); the text inside
the JSON the store keeps (verdicts, bodies, events), by where it sits and how much of it
repeats what another declaration already holds; and a what-if measured on copies of the
indexes (the store's own keys are left as they are). Prints tables; writes nothing."""

from __future__ import annotations

import argparse
import json
import re
import secrets
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from bench.retention_bench import decide_all
from store import EmbeddedRedis, RedisStore
from store.layout import stored_fields, trail_of
from store.packing import is_packed, unpacked

PREFIX = "year"
SHAPES = (
    (re.compile(r"\{[^}]*\}"), "{quota}"),
    (re.compile(r"y\d+-P\d+"), "{permit}"),
    (re.compile(r"y\d+-\d+"), "{id}"),
    (re.compile(r"[0-9a-f]{64}"), "{sha}"),
    (re.compile(r"\d{4}-\d{2}-\d{2}"), "{date}"),
    (re.compile(r"(?<=:)\d+$"), "{n}"),
    (re.compile(r"(?<=^decisions:).+"), "{rule}"),
    (re.compile(r"(?<=^submitted:)[0-9]{9}RM[0-9]{4}$"), "{business_number}"),
)
JSON_FIELDS = ("verdict", "body")  # the declaration hash's fields that hold JSON


GROUPS = (
    ("audit:{id}", "the audit trail (a list of JSON events, packed by write)"),
    ("decl:{id}", "the declaration record (a hash: summary, status, heads)"),
    ("doc:{id}", "the decided declaration's body, verdict and trail (a string, packed)"),
    ("verdict:{id}", "the declaration's verdict (a string, packed)"),
    ("body:{id}", "the declaration's body (a string, packed)"),
    ("audit:", "the audit chain's checkpoints and change log"),
    ("decided", "indexes (sorted sets of ids)"),
    ("submitted", "indexes (sorted sets of ids)"),
    ("decisions:", "indexes (sorted sets of ids)"),
    ("pending", "indexes (sorted sets of ids)"),
    ("{quota}", "the quota ledger (permits, periods, events)"),
    ("alloc", "the quota ledger (allocations and their requests)"),
)


def group(shaped: str) -> str:
    return next((name for start, name in GROUPS if shaped.startswith(start)), "other")


def shape(key: str) -> str:
    """The key with its ids, hashes and dates replaced by what they are."""
    for pattern, name in SHAPES:
        key = pattern.sub(name, key)
    return key


@dataclass
class KeyShape:
    keys: int = 0
    bytes: int = 0
    encodings: Counter[str] = field(default_factory=Counter)
    kind: str = ""


@dataclass
class TextSpot:
    """Strings found at one place of the JSON (indexes dropped): their bytes, and the
    bytes of the distinct values among them (what a table of texts would keep)."""

    count: int = 0
    bytes: int = 0
    distinct: set[str] = field(default_factory=set)

    @property
    def repeated(self) -> int:
        return self.bytes - sum(len(value) for value in self.distinct)


@dataclass
class Map:
    count: int
    used_memory: int
    shapes: dict[str, KeyShape]
    limits: dict[str, str]
    fields: dict[str, list[int]]  # declaration hash field -> [bytes of field+value, over limit]
    hash_encodings: Counter[str]
    events: dict[str, list[int]]  # audit event type -> [count, bytes]
    event_parts: dict[str, int]  # audit event member (seq, at, type, data, prev, hash) -> bytes
    texts: dict[str, TextSpot]
    json_keys: dict[str, int]  # per JSON kind, bytes of object keys with their quotes
    whatifs: list[tuple[str, float, float]]  # what, bytes now, bytes then (per declaration)
    packed: dict[str, list[int]]  # kind -> [packed values, their bytes, their texts' bytes]


def _text(value: bytes) -> str:
    return value.decode("utf-8", "replace")


def _walk(value: Any, path: str) -> Iterator[tuple[str, str, bool]]:
    """(path, text, is a key) for every key and string of a JSON value."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield path, key, True
            yield from _walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item, f"{path}[]")
    elif isinstance(value, str):
        yield path, value, False


def _texts(into: dict[str, TextSpot], keys: Counter[str], kind: str, raw: bytes) -> None:
    for path, text, is_key in _walk(json.loads(raw), kind):
        if is_key:
            keys[kind] += len(text) + 3  # quotes and colon
            continue
        spot = into.setdefault(path, TextSpot())
        spot.count += 1
        spot.bytes += len(text)
        spot.distinct.add(text)


def _hash_fields(client: redis.Redis, key: str) -> dict[str, bytes]:
    return {_text(name): value for name, value in client.hgetall(key).items()}


def _record(client: redis.Redis, declaration_id: str) -> dict[str, bytes]:
    """A declaration's fields as the store reads them (store/layout.py): its hash,
    and its body and verdict unpacked from their own keys or its document."""
    fields = stored_fields(
        client.hgetall(f"{PREFIX}:decl:{declaration_id}"),
        *(client.get(f"{PREFIX}:{name}:{declaration_id}") for name in ("body", "verdict", "doc")),
    )
    return {name: (value or "").encode() for name, value in fields.items()}


def _events(client: redis.Redis, declaration_id: str) -> list[bytes]:
    """A trail's events as the store reads them: its document's, then its list's."""
    return trail_of(
        client.get(f"{PREFIX}:doc:{declaration_id}"),
        client.lrange(f"{PREFIX}:audit:{declaration_id}", 0, -1),
    )


def _add(into: dict[str, list[int]], kind: str, stored: int, text: int) -> None:
    into[kind][0] += 1
    into[kind][1] += stored
    into[kind][2] += text


def _usage(client: redis.Redis, key: str) -> int:
    return int(client.memory_usage(key, samples=0) or 0)


def _index_whatif(client: redis.Redis, count: int, limit: int) -> tuple[str, float, float]:
    """Every sorted set of ids (decided, submitted, decisions by rule) copied into
    buckets of at most `limit` entries, which Redis keeps as ziplists."""
    now = then = 0
    for raw_key in client.scan_iter(match=f"{PREFIX}:*", _type="zset", count=1000):
        now += _usage(client, raw_key)
        entries = client.zrange(raw_key, 0, -1, withscores=True)
        for first in range(0, len(entries), limit):
            client.zadd("whatif:bucket", dict(entries[first : first + limit]))
            then += _usage(client, "whatif:bucket")
            client.delete("whatif:bucket")
    return (
        f"indexes: each sorted set in buckets of at most {limit} entries (ziplists)",
        now / count,
        then / count,
    )


def measure(count: int) -> Map:
    with tempfile.TemporaryDirectory(prefix="accord-memory-map-") as scratch:
        server = EmbeddedRedis(Path(scratch) / "redis", fsync="no").start()
        store = RedisStore.from_url(server.url, prefix=PREFIX, audit_key=secrets.token_bytes(32))
        try:
            client = store.client
            empty = int(client.info("memory")["used_memory"])
            decide_all(store, count)
            used = int(client.info("memory")["used_memory"]) - empty
            limits = {_text(k) if isinstance(k, bytes) else k: str(v)
                      for k, v in client.config_get("*-max-*").items()}  # fmt: skip
            value_limit = int(
                limits.get("hash-max-ziplist-value", limits.get("hash-max-listpack-value", "64"))
            )
            shapes: dict[str, KeyShape] = defaultdict(KeyShape)
            fields: dict[str, list[int]] = defaultdict(lambda: [0, 0])
            hash_encodings: Counter[str] = Counter()
            events: dict[str, list[int]] = defaultdict(lambda: [0, 0])
            event_parts: Counter[str] = Counter()
            texts: dict[str, TextSpot] = {}
            json_keys: Counter[str] = Counter()
            packed: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
            ids: list[str] = []
            for raw_key in client.scan_iter(count=1000):
                key = _text(raw_key)
                found = shapes[shape(key.removeprefix(f"{PREFIX}:"))]
                found.keys += 1
                found.bytes += _usage(client, key)
                found.encodings[_text(client.object("encoding", key))] += 1
                found.kind = _text(client.type(key))
                if key.startswith(f"{PREFIX}:decl:"):
                    ids.append(key.removeprefix(f"{PREFIX}:decl:"))
                    hash_encodings[_text(client.object("encoding", key))] += 1
                    for name, value in _hash_fields(client, key).items():
                        fields[name][0] += len(name) + len(value)
                        fields[name][1] += len(value) > value_limit
                    for name, value in _record(client, ids[-1]).items():
                        if name in JSON_FIELDS:
                            _texts(texts, json_keys, name, value)
                    for event in _events(client, ids[-1]):
                        parsed = json.loads(event)
                        events[parsed["type"]][0] += 1
                        events[parsed["type"]][1] += len(event)
                        for part, item in parsed.items():
                            event_parts[part] += len(json.dumps(item)) + len(part) + 4
                        _texts(texts, json_keys, f"event.{parsed['type']}", event)
                elif shape(key).split(":")[1:] in (
                    ["body", "{id}"],
                    ["verdict", "{id}"],
                    ["doc", "{id}"],
                ):
                    value = client.get(key) or b""
                    _add(packed, shape(key).split(":")[1], len(value), len(unpacked(value)))
                elif shape(key) == f"{PREFIX}:audit:{{id}}":
                    for item in client.lrange(key, 0, -1):
                        if is_packed(item):
                            _add(packed, "audit", len(item), len(unpacked(item)))
            whatifs: list[tuple[str, float, float]] = []
            zset_limit = int(
                limits.get(
                    "zset-max-ziplist-entries", limits.get("zset-max-listpack-entries", "128")
                )
            )
            whatifs.append(_index_whatif(client, count, zset_limit))
        finally:
            store.close()
            server.stop()
    return Map(count, used, dict(shapes), limits, dict(fields), hash_encodings, dict(events),
               dict(event_parts), texts, dict(json_keys), whatifs, dict(packed))  # fmt: skip


def _rows(title: str, head: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(head, *rows, strict=True)]
    lines = [f"\n## {title}", "  ".join(str(h).ljust(w) for h, w in zip(head, widths, strict=True))]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


def report(found: Map, top: int = 60) -> str:
    n = found.count
    keyed = sum(item.bytes for item in found.shapes.values())
    out = [
        f"{n:,} decided declarations of the bench mix; used_memory grew {found.used_memory / n:,.0f}"
        f" bytes per declaration; MEMORY USAGE of the keys sums to {keyed / n:,.0f} "
        f"(the rest: the keyspace's own tables and allocator rounding)",
        "limits: " + ", ".join(f"{k}={v}" for k, v in sorted(found.limits.items()) if "ziplist" in k or "listpack" in k),
    ]  # fmt: skip
    groups: Counter[str] = Counter()
    for name, item in found.shapes.items():
        groups[group(name)] += item.bytes
    out.append(_rows(
        "by part of the store (MEMORY USAGE)", ("part", "bytes/decl", "share"),
        [(name, f"{size / n:,.0f}", f"{size * 100 / keyed:.1f} %") for name, size in groups.most_common()],
    ))  # fmt: skip
    shapes = sorted(found.shapes.items(), key=lambda item: -item[1].bytes)
    out.append(_rows(
        "by key shape (MEMORY USAGE)", ("key", "type", "encoding", "keys", "bytes/decl", "share"),
        [(name, item.kind, ",".join(f"{e}×{c}" for e, c in item.encodings.most_common()),
          item.keys, f"{item.bytes / n:,.0f}", f"{item.bytes * 100 / keyed:.1f} %")
         for name, item in shapes[:top]],
    ))  # fmt: skip
    rest = shapes[top:]
    if rest:
        out.append(
            f"... {len(rest)} more shapes, {sum(i.bytes for _, i in rest) / n:,.0f} bytes/decl"
        )
    decl = found.shapes.get("decl:{id}")
    payload = sum(item[0] for item in found.fields.values())
    out.append(_rows(
        "declaration hash, field by field (name + value bytes)",
        ("field", "bytes/decl", "share of payload", "values over the value limit"),
        [(name, f"{item[0] / n:,.0f}", f"{item[0] * 100 / payload:.1f} %", item[1])
         for name, item in sorted(found.fields.items(), key=lambda x: -x[1][0])],
    ))  # fmt: skip
    if decl is not None:
        out.append(
            f"payload {payload / n:,.0f} bytes/decl of the hash's {decl.bytes / n:,.0f}: "
            f"{(decl.bytes - payload) / n:,.0f} of encoding; encodings "
            + ", ".join(f"{e}×{c}" for e, c in found.hash_encodings.most_common())
        )
    out.append(_rows(
        "packed values (store/packing.py): bytes stored and bytes of the text they hold",
        ("kind", "values/decl", "stored bytes/decl", "text bytes/decl", "ratio"),
        [(kind, f"{item[0] / n:.2f}", f"{item[1] / n:,.0f}", f"{item[2] / n:,.0f}",
          f"{item[1] / max(item[2], 1):.3f}") for kind, item in sorted(found.packed.items())],
    ))  # fmt: skip
    events_total = sum(item[1] for item in found.events.values())
    out.append(_rows(
        "audit trail, event by event (JSON bytes)", ("type", "events/decl", "bytes/decl", "bytes/event"),
        [(kind, f"{item[0] / n:.2f}", f"{item[1] / n:,.0f}", f"{item[1] / item[0]:,.0f}")
         for kind, item in sorted(found.events.items(), key=lambda x: -x[1][1])],
    ))  # fmt: skip
    out.append(_rows(
        "audit trail, member by member of the events", ("member", "bytes/decl", "share"),
        [(part, f"{size / n:,.0f}", f"{size * 100 / events_total:.1f} %")
         for part, size in sorted(found.event_parts.items(), key=lambda x: -x[1])],
    ))  # fmt: skip
    out.append(_rows(
        "JSON object keys (names and quotes), per kind", ("in", "bytes/decl"),
        [(kind, f"{size / n:,.0f}") for kind, size in sorted(found.json_keys.items(), key=lambda x: -x[1])],
    ))  # fmt: skip
    spots = sorted(found.texts.items(), key=lambda item: -item[1].repeated)
    out.append(_rows(
        "repeated text inside the JSON: strings at one place, and the bytes of those that "
        "repeat a value already held elsewhere",
        ("where", "strings/decl", "bytes/decl", "repeated bytes/decl", "distinct values"),
        [(path, f"{spot.count / n:.2f}", f"{spot.bytes / n:,.0f}", f"{spot.repeated / n:,.0f}",
          len(spot.distinct)) for path, spot in spots[:top]],
    ))  # fmt: skip
    repeated = sum(spot.repeated for spot in found.texts.values())
    strings = sum(spot.bytes for spot in found.texts.values())
    out.append(f"all strings: {strings / n:,.0f} bytes/decl, of which repeated {repeated / n:,.0f}")
    out.append(_rows(
        "what-ifs, measured on copies (MEMORY USAGE) of every index whole",
        ("what", "bytes/decl now", "then", "saved"),
        [(what, f"{now:,.0f}", f"{then:,.0f}", f"{now - then:,.0f}") for what, now, then in found.whatifs],
    ))  # fmt: skip
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.memory_map", description=__doc__)
    parser.add_argument("--count", type=int, default=5000, help="declarations to decide")
    args = parser.parse_args()
    print(report(measure(args.count)))


if __name__ == "__main__":
    main()
