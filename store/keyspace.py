"""What every aggregate of the Redis store shares: one connection, one key prefix, the
audit key, the archive of old declarations, and the quota ledger on the same connection.

The aggregates (store/declaration_writes.py, audit.py, operations.py, packs.py) are classes
over this one `Keyspace`, with no constructor of their own: what one needs beyond it (its
Lua scripts, what this process has kept already) is made on first use. That is what
lets `RedisStore` (store/redis_store.py) be all of them at once, one object with one
connection, while each can also be built alone on a client and a prefix.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
import redis
from redis.commands.core import Script

from store.archive import Archive, ArchiveError
from store.ledger import Ledger


def now_rfc3339() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def today() -> date:
    """The ledger's day for returns and cancellations: the UTC date (a declaration's
    own evaluation never uses the clock, only its accepted_at)."""
    return datetime.now(UTC).date()


def lua_source(name: str) -> str:
    """The text of `store/lua/{name}.lua`."""
    return resources.files("store").joinpath("lua", f"{name}.lua").read_text()


@functools.cache
def script_text(name: str) -> str:
    """A declaration or audit script: the calling convention's prelude
    (`store/lua/roles.lua`: keys by role, one JSON payload, values stored as handed in)
    followed by `store/lua/{name}.lua`."""
    return lua_source("roles") + "\n" + lua_source(name)


def decoded(value: Any) -> str | None:
    """A reply as text: redis-py answers bytes, and None for what is absent."""
    return value.decode() if isinstance(value, bytes) else value


class Keyspace:
    """The connection and the key prefix (default `accord`, so tests can share one
    server); every key of the store is `key(...)` of it, except the ledger's, which carry
    their quota's hash tag (store/ledger.py)."""

    def __init__(
        self,
        client: redis.Redis,
        prefix: str = "accord",
        audit_key: bytes | None = None,
        archive_dir: Path | None = None,
    ) -> None:
        self.client = client
        self.prefix = prefix
        # heads are authenticated (and checkpoints written) only with the service's key
        self.audit_key = audit_key
        # where archived declarations are read back from (ACCORD_ARCHIVE_DIR)
        self.archive = Archive(archive_dir) if archive_dir is not None else None
        self.ledger = Ledger(client, prefix)
        self._scripts: dict[str, Script] = {}

    def run(
        self,
        name: str,
        keys: Mapping[str, str],
        payload: Any,
        values: Sequence[bytes | str] = (),
        client: Any = None,
    ) -> Any:
        """Run script `name` (store/lua/roles.lua says how) on `keys` (role -> key), with
        `payload` (JSON) and `values` stored as they are (ARGV[3..]); in `client`'s
        pipeline when one is given."""
        script = self._scripts.get(name)
        if script is None:
            script = self._scripts[name] = self.client.register_script(script_text(name))
        return script(
            keys=list(keys.values()),
            args=[orjson.dumps(list(keys)), orjson.dumps(payload), *values],
            client=client,
        )

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    @property
    def changes_channel(self) -> str:
        """The channel the record script publishes each status change on (the id)."""
        return self.key("changes")

    def close(self) -> None:
        self.client.close()

    def _archived_line(self, declaration_id: str, stub: dict[str, str | None]) -> dict[str, Any]:
        """The archive line of a declaration whose record in Redis is a stub."""
        if self.archive is None:
            raise ArchiveError(
                f"declaration {declaration_id} is archived and this process has no archive"
            )
        return self.archive.read(
            stub["archive"] or "", int(stub.get("archive_offset") or 0), declaration_id
        )

    def _archived_stub(self, declaration_id: str) -> dict[str, str | None] | None:
        """Where an archived declaration's line is, or None if it is not archived."""
        stub = self.client.hmget(self.key("decl", declaration_id), "archive", "archive_offset")
        if stub[0] is None:
            return None
        return {"archive": decoded(stub[0]), "archive_offset": decoded(stub[1])}
