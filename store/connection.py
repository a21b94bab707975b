"""One REDIS_URL for the store and the broker: a single Redis, or the Sentinels that
know which Redis is the primary.

    redis://[:password@]host:port[/db]
    sentinel://[:password@]host:port[;sentinel://host:port...]/master_name[/db]

A Sentinel URL lists every Sentinel, separated by `;`, and names the monitored master
(`sentinel monitor <master_name> ...` in sentinel.conf) as the path of one of them, with
the database number after it (default 0). The password, if any, is the primary's; the
Sentinels themselves are reached without one. For example:

    sentinel://10.0.0.1:26379;sentinel://10.0.0.2:26379;sentinel://10.0.0.3:26379/accord

The store asks the Sentinels for the primary through redis-py's `Sentinel.master_for`,
and asks again whenever a connection fails (a failover); the broker uses kombu's own
`sentinel://` transport, given the same Sentinels and the master's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

SENTINEL_SCHEME = "sentinel"


class ScriptPipeline(redis.client.Pipeline):
    """A pipeline that runs its Lua scripts by hash at once. redis-py asks Redis whether
    it holds them (SCRIPT EXISTS) before every pipeline that runs one: a round trip more
    for each submission and each chunk a worker records. Redis lacks them only after a
    restart or a failover; then the calls it answers NOSCRIPT did not run, and those are
    sent again, the scripts loaded first, with the reads that follow them. The script
    calls that succeeded ran, and must not run twice: another client may load a script
    between two calls of one pipeline, so a later call can succeed where an earlier one
    failed."""

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        # a MULTI pipeline's other commands would run twice: left to redis-py (the
        # attribute `transaction` shadows the client method of that name)
        transactional = bool(self.__dict__.get("transaction")) or self.explicit_transaction
        if not self.scripts or transactional:
            return super().execute(raise_on_error)
        stack, scripts = list(self.command_stack), set(self.scripts)
        self.scripts = set()
        results = super().execute(raise_on_error=False)
        missing = [
            index
            for index, result in enumerate(results)
            if isinstance(result, redis.exceptions.NoScriptError)
        ]
        if missing:
            # again: the calls that did not run, and the reads after the first of them
            # (the store's pipelines put only reads beside their script), so that they
            # see what it wrote
            again = [
                index
                for index in range(missing[0], len(stack))
                if index in missing or str(stack[index][0][0]).upper() != "EVALSHA"
            ]
            self.command_stack, self.scripts = [stack[index] for index in again], scripts
            for index, result in zip(again, super().execute(raise_on_error=False), strict=True):
                results[index] = result
        if raise_on_error:
            for result in results:
                if isinstance(result, redis.exceptions.ResponseError):
                    raise result
        return results


class ScriptRedis(redis.Redis):
    """redis-py's client, with pipelines that skip SCRIPT EXISTS (`ScriptPipeline`)."""

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> ScriptPipeline:
        return ScriptPipeline(
            self.connection_pool, self.response_callbacks, transaction, shard_hint
        )


@dataclass(frozen=True)
class SentinelTarget:
    """The Sentinels of a `sentinel://` URL and the primary they name."""

    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int = 0
    username: str | None = None
    password: str | None = None


def sentinel_target(url: str) -> SentinelTarget | None:
    """The Sentinels a URL names, or None for a plain `redis://` URL."""
    if not url.startswith(f"{SENTINEL_SCHEME}://"):
        return None
    sentinels: list[tuple[str, int]] = []
    path = ""
    username = password = None
    for part in (item.strip() for item in url.split(";")):
        if not part:
            continue
        parsed = urlsplit(part)
        if parsed.scheme != SENTINEL_SCHEME or not parsed.hostname:
            raise ValueError(f"REDIS_URL: {part!r} is not sentinel://host:port")
        sentinels.append((parsed.hostname, parsed.port or 26379))
        if parsed.path.strip("/"):
            path = parsed.path.strip("/")
        if parsed.password:
            username = unquote(parsed.username) if parsed.username else None
            password = unquote(parsed.password)
    master, _, db = path.partition("/")
    if not master:
        raise ValueError(
            "REDIS_URL names Sentinels but no master: "
            "sentinel://host:port;sentinel://host:port/master_name[/db]"
        )
    if db and not db.isdecimal():
        raise ValueError(f"REDIS_URL: database {db!r} is not a number")
    return SentinelTarget(tuple(sentinels), master, int(db or 0), username, password)


def client(url: str, timeout: float) -> redis.Redis:
    """A redis-py client for the store: to one Redis, or to whichever Redis the
    Sentinels name as primary (asked again after every failed connection)."""
    options: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": min(timeout, 2.0),
        "health_check_interval": 30,
    }
    target = sentinel_target(url)
    if target is None:
        return ScriptRedis.from_url(url, **options)
    # redis-py's sentinel module has no annotations
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        list(target.sentinels),
        sentinel_kwargs={"socket_timeout": min(timeout, 1.0), "socket_connect_timeout": 1.0},
    )
    # A failover takes the Sentinels a few seconds; a few quick retries ride out the
    # moment a connection breaks, the rest is StoreUnavailable (503, or a task that
    # waits for Redis).
    master: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
        target.master,
        redis_class=ScriptRedis,
        db=target.db,
        username=target.username,
        password=target.password,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 3),
        **options,
    )
    return master


def broker(url: str) -> tuple[str, dict[str, Any]]:
    """The Celery broker URL for REDIS_URL, and the transport options it needs."""
    target = sentinel_target(url)
    if target is None:
        return url, {}
    auth = f":{target.password}@" if target.password else ""
    if target.password and target.username:
        auth = f"{target.username}:{target.password}@"
    urls = ";".join(
        f"{SENTINEL_SCHEME}://{auth}{host}:{port}/{target.db}" for host, port in target.sentinels
    )
    return urls, {"master_name": target.master}


def replicas_to_wait(url: str) -> int:
    """How many replicas must hold a submission before the API answers 202: one when the
    URL names Sentinels (there is a replica to fail over to), none for a single Redis."""
    return 1 if sentinel_target(url) is not None else 0
