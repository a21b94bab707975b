"""Make the preset dictionaries the store packs its texts with (store/packing.py):
`python -m bench.zdict` decides declarations of the bench mix of seeds the memory
measurements never use, on an embedded Redis, and writes one dictionary per kind of
text (the trail's events, the verdict, the body) as the next numbered file of
store/zdict/. A shipped dictionary is never changed or removed: values packed with it
name it. Run it again only when the packs' texts have moved far from the dictionaries'
(the memory map shows the bytes per declaration)."""

from __future__ import annotations

import argparse
import re
import secrets
import tempfile
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

from bench.retention_bench import decide_all
from store.embedded import EmbeddedRedis
from store.packing import KINDS, SEPARATOR, dictionaries
from store.redis_store import RedisStore

FIRST_SEED = 900_000
"""Far from the seeds the benches decide (0 up to their count)."""
SIZE = 32 * 1024
"""Deflate looks back at most 32 KB: a longer dictionary is never read."""
UNIQUE = re.compile(rb"[0-9a-f]{64}|\d{4}-\d\d-\d\dT[0-9:.]+Z")
"""Digests and times, which no other declaration repeats: left out of the dictionary."""


def dictionary(samples: Iterable[bytes]) -> bytes:
    """Texts of many declarations, each as it would be packed less what is unique to it,
    until the window is full; what comes last is reached most cheaply."""
    out = b""
    seen: set[bytes] = set()
    for sample in samples:
        cleaned = UNIQUE.sub(b"", sample)
        if cleaned in seen:
            continue
        seen.add(cleaned)
        out = cleaned + out
        if len(out) >= SIZE:
            break
    return out[:SIZE]


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
        path.write_bytes(dictionary(texts))
        print(f"{path}: {path.stat().st_size:,} bytes")
        number += 1


if __name__ == "__main__":
    main()
