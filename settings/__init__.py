"""Configuration: environment variables read once, by one settings object.

REDIS_URL                 Redis to use; unset: the embedded one `accord run` starts.
                          May name Sentinels: sentinel://h:p;sentinel://h:p/master_name
                          (store/connection.py, docs/reliability.md)
ACCORD_BROKER_URL         Celery's broker, when it is not the store's Redis (e.g. a
                          RabbitMQ amqp:// URL); default: REDIS_URL
ACCORD_TOKENS_FILE        YAML file of tokens and roles (SPEC §7)
ACCORD_RULES_DIR          extra rule packs (os.pathsep-separated directories)
ACCORD_MAX_BODY_BYTES     request body limit, default 1 MiB
ACCORD_REDIS_PREFIX       key prefix, default "accord"
ACCORD_VAR_DIR            runtime state (embedded Redis data, tokens), default ./var
ACCORD_VISIBILITY_TIMEOUT seconds before Redis redelivers an unacknowledged task (300)
ACCORD_SWEEP_AFTER        seconds before a stored declaration without a verdict is
                          enqueued again (120)
ACCORD_LOST_AFTER         seconds before a declaration no worker has taken, and whose
                          task the broker no longer holds, is enqueued again (10;
                          workers/schedule.py `requeue_lost`)
ACCORD_TASK_RETRIES       times a task waits up to 30 s for Redis to return (5)
ACCORD_AUDIT_KEY          the secret that authenticates audit heads and checkpoints
                          (docs/security.md); `accord run` keeps one in var/audit.key
                          when unset. Without it trails are checked, not authenticated.
ACCORD_LONG_POLLS         long polls (`?wait=`) one token may hold at once (20)
ACCORD_READS_PER_CALLER   declaration statuses and audit trails one token may read
                          at once (8): each may weigh megabytes
ACCORD_HEADER_TIMEOUT     seconds a connection has to send a complete request head (10)
ACCORD_READ_TIMEOUT       seconds a connection has to send a whole request, body
                          included (30)
ACCORD_CONNECTIONS_PER_ADDRESS  connections one client address may hold open at once,
                          per API process (64)
ACCORD_RETAIN_DAYS        days a closed declaration stays in Redis before the daily
                          archive run moves it to the archive (400; docs/retention.md)
ACCORD_ARCHIVE_DIR        the archive's directory, shared by every API host
                          (default: ACCORD_VAR_DIR/archive)
ACCORD_WEBHOOK_ALLOW_PRIVATE  1: webhook targets may be http and resolve to loopback,
                          private or link-local addresses (tests and local use only)
ACCORD_WEBHOOK_TIMEOUT    seconds a webhook delivery attempt may last in all: connect,
                          send, and the receiver's answer (10)
ACCORD_WEBHOOK_RETRY_FOR  seconds a delivery is retried before it is given up and its
                          subscription marked failing (86400: 24 hours)
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A setting that cannot be used; the message names the variable and says why."""


def _number(
    env: dict[str, str],
    name: str,
    default: float,
    kind: type[int] | type[float],
    minimum: float = 1,
) -> Any:
    raw = env.get(name)
    if raw is None or raw == "":
        return kind(default)
    try:
        value = kind(raw)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise ConfigError(f"{name}: {raw!r} is not {what}") from None
    if value < minimum:
        raise ConfigError(f"{name}: {raw!r} is below its minimum, {minimum:g}")
    return value


def _flag(env: dict[str, str], name: str) -> bool:
    raw = env.get(name, "")
    if raw not in ("", "0", "1"):
        raise ConfigError(f"{name}: {raw!r} is neither 1 nor 0")
    return raw == "1"


REDIS_SCHEMES = ("redis://", "rediss://", "unix://", "sentinel://")


def _redis_url(env: dict[str, str], name: str) -> str | None:
    url = env.get(name) or None
    if url is not None and not url.startswith(REDIS_SCHEMES):
        schemes = ", ".join(REDIS_SCHEMES)
        raise ConfigError(f"{name}: {url.split('://')[0]!r} is not a Redis URL ({schemes})")
    return url


@dataclass(frozen=True)
class Settings:
    redis_url: str | None
    tokens_file: Path | None
    rules_dirs: tuple[Path, ...]
    max_body_bytes: int
    redis_prefix: str
    var_dir: Path
    visibility_timeout: int
    sweep_after: int
    task_retries: int
    audit_key: bytes | None = field(default=None, repr=False)
    long_polls_per_caller: int = 20
    reads_per_caller: int = 8
    header_timeout: float = 10.0
    read_timeout: float = 30.0
    connections_per_address: int = 64
    broker_url: str | None = None
    retain_days: int = 400
    archive_dir: Path = Path("var/archive")
    webhook_allow_private: bool = False
    webhook_timeout: float = 10.0
    webhook_retry_for: float = 86400.0
    lost_after: float = 10.0

    @classmethod
    def from_environ(cls, environ: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        rules = env.get("ACCORD_RULES_DIR", "")
        tokens = env.get("ACCORD_TOKENS_FILE")
        var_dir = Path(env.get("ACCORD_VAR_DIR", "var"))
        return cls(
            redis_url=_redis_url(env, "REDIS_URL"),
            tokens_file=Path(tokens) if tokens else None,
            rules_dirs=tuple(Path(part) for part in rules.split(os.pathsep) if part),
            max_body_bytes=_number(env, "ACCORD_MAX_BODY_BYTES", 1024 * 1024, int),
            redis_prefix=env.get("ACCORD_REDIS_PREFIX", "accord"),
            var_dir=var_dir,
            visibility_timeout=_number(env, "ACCORD_VISIBILITY_TIMEOUT", 300, int),
            sweep_after=_number(env, "ACCORD_SWEEP_AFTER", 120, int),
            task_retries=_number(env, "ACCORD_TASK_RETRIES", 5, int, minimum=0),
            audit_key=env["ACCORD_AUDIT_KEY"].encode() if env.get("ACCORD_AUDIT_KEY") else None,
            long_polls_per_caller=_number(env, "ACCORD_LONG_POLLS", 20, int),
            reads_per_caller=_number(env, "ACCORD_READS_PER_CALLER", 8, int),
            header_timeout=_number(env, "ACCORD_HEADER_TIMEOUT", 10, float),
            read_timeout=_number(env, "ACCORD_READ_TIMEOUT", 30, float),
            connections_per_address=_number(env, "ACCORD_CONNECTIONS_PER_ADDRESS", 64, int),
            broker_url=env.get("ACCORD_BROKER_URL") or None,
            retain_days=_number(env, "ACCORD_RETAIN_DAYS", 400, int),
            archive_dir=Path(env.get("ACCORD_ARCHIVE_DIR") or var_dir / "archive"),
            webhook_allow_private=_flag(env, "ACCORD_WEBHOOK_ALLOW_PRIVATE"),
            webhook_timeout=_number(env, "ACCORD_WEBHOOK_TIMEOUT", 10, float),
            webhook_retry_for=_number(env, "ACCORD_WEBHOOK_RETRY_FOR", 86400, float),
            lost_after=_number(env, "ACCORD_LOST_AFTER", 10, float),
        )

    @property
    def embedded_redis_dir(self) -> Path:
        """Where `accord run` keeps the embedded Redis's data when REDIS_URL is unset."""
        return self.var_dir / "redis"

    @property
    def audit_key_file(self) -> Path:
        """Where `accord run` keeps the audit key it makes when ACCORD_AUDIT_KEY is unset."""
        return self.var_dir / "audit.key"

    def require_redis_url(self) -> str:
        if not self.redis_url:
            raise RuntimeError("REDIS_URL is not set (accord run sets it for its children)")
        return self.redis_url


@functools.cache
def get_settings() -> Settings:
    return Settings.from_environ()
