"""Make the preset dictionaries the store packs its texts with (store/packing.py):
`python -m bench.zdict` decides declarations of the bench mix of seeds the memory
measurements never use, on an embedded Redis, and writes one dictionary per kind of
text (the trail's events, the verdict, the body) as the next numbered file of
store/zdict/. A shipped dictionary is never changed or removed: values packed with it
name it, and tests/store/test_stored_layout.py pins each by SHA-256. Run it again only
when the packs' texts have moved far from the dictionaries' (the memory map shows the
bytes per declaration). Its output is not the same from one run to the next (the
trails sampled carry the times they were written at, which the trail's dictionary
keeps): it makes new dictionaries, never a shipped one again."""

from __future__ import annotations

import argparse
import random
import re
import secrets
import tempfile
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

from bench.retention_bench import decide_all
from store import RedisStore
from store.embedded import EmbeddedRedis
from store.packing import KINDS, SEPARATOR, compressor, dictionaries

FIRST_SEED = 900_000
"""Far from the seeds the benches decide (0 up to their count)."""
SIZE = 32 * 1024
"""Deflate looks back at most 32 KB: a longer dictionary is never read."""
UNIQUE = re.compile(rb"[0-9a-f]{64}|\d{4}-\d\d-\d\dT[0-9:.]+Z")
"""Digests and times, which no other declaration repeats."""
STRIPPED = ("verdict", "body")
"""The kinds whose dictionaries leave out UNIQUE: measured smaller that way; a trail's
dictionary keeps them, since its events' shape around them is what repeats."""


TYPE = re.compile(rb'"type":"([a-z_]+)"')


def _group(position: int, part: bytes) -> bytes:
    """What a part of a packed text is: an event of its type, or the text's part there."""
    found = TYPE.search(part[:200]) if part.startswith(b'{"seq"') else None
    return found.group(1) if found else str(position).encode()


def dictionary(samples: Iterable[bytes], strip: bool) -> bytes:
    """Parts of many declarations' texts as they would be packed (their body, verdict,
    events; less UNIQUE, if `strip`): one of each kind of part per round, from a
    different declaration each round, until the window is full. The first rounds, the
    commonest parts, come last: deflate reaches nearer the end more cheaply."""
    groups: dict[bytes, list[bytes]] = {}
    seen: set[bytes] = set()
    for sample in samples:
        for position, part in enumerate(sample.split(SEPARATOR)):
            cleaned = UNIQUE.sub(b"", part) if strip else part
            if cleaned not in seen:
                seen.add(cleaned)
                groups.setdefault(_group(position, part), []).append(cleaned)
    out = b""
    for round_ in range(max((len(parts) for parts in groups.values()), default=0)):
        batch = [parts[round_] for parts in groups.values() if round_ < len(parts)]
        out = SEPARATOR.join(batch) + SEPARATOR + out
        if len(out) >= SIZE:
            break
    return out[-SIZE:]


TRIES = 24
"""Dictionaries tried per kind, each from the samples in another order."""


def packed_size(texts: list[bytes], zdict: bytes) -> int:
    """Bytes of `texts` packed with `zdict`, as store/packing.py packs them."""
    total = 0
    for text in texts:
        packer = compressor(zdict)
        total += len(packer.compress(text) + packer.flush())
    return total


def best_dictionary(texts: list[bytes], strip: bool) -> bytes:
    """Of dictionaries made from two thirds of `texts` in TRIES orders (seeded, so the
    same samples give the same dictionary), the one that packs the last third smallest:
    which parts land in the window matters more than how many."""
    cut = len(texts) * 2 // 3
    train, held = texts[:cut], texts[cut:]
    tried = []
    for seed in range(TRIES):
        order = list(train)
        random.Random(seed).shuffle(order)
        made = dictionary(order, strip)
        tried.append((packed_size(held, made), seed, made))
    return min(tried)[2]


def samples(count: int) -> dict[str, list[bytes]]:
    with tempfile.TemporaryDirectory(prefix="accord-zdict-") as scratch:
        server = EmbeddedRedis(Path(scratch) / "redis", fsync="no").start()
        store = RedisStore.from_url(server.url, prefix="zdict", audit_key=secrets.token_bytes(32))
        try:
            decide_all(store, count, first=FIRST_SEED)
            ids = [item.decode() for item in store.client.zrange(store.key("submitted"), 0, -1)]
            found: dict[str, list[bytes]] = {kind: [] for kind in KINDS}
            for record in store.get_many(ids):
                events = [
                    item if isinstance(item, bytes) else item.encode()
                    for item in store.audit_raw(record.declaration_id)
                ]
                # as the writes pack them: received and validated, then the rest
                found["trail"] += [SEPARATOR.join(events[:2]), SEPARATOR.join(events[2:])]
                found["verdict"].append((record.verdict or "").encode())
                found["body"].append(record.body.encode())
                found["doc"].append(
                    SEPARATOR.join([record.body.encode(), (record.verdict or "").encode(), *events])
                )
        finally:
            store.close()
            server.stop()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.zdict", description=__doc__)
    parser.add_argument("--count", type=int, default=300, help="declarations to sample")
    args = parser.parse_args()
    folder = Path(str(resources.files("store").joinpath("zdict")))
    number = max(dictionaries()) + 1
    for kind, texts in samples(args.count).items():
        path = folder / f"{number}-{kind}.zdict"
        path.write_bytes(best_dictionary(texts, kind in STRIPPED))
        print(f"{path}: {path.stat().st_size:,} bytes")
        number += 1


if __name__ == "__main__":
    main()
