"""What `accord run` checks before it starts anything, and `accord check` checks alone.

An error of configuration is refused at once, with one line that names the file and the
key or the setting, rather than found by a child process that then crash-loops
(SPEC §8): every rule pack and arrangement file (the strict loader's own message), the
tokens file, the settings, the packs' currency conversion (one pack converts into each
jurisdiction's currency; no current pack carries its own rate table), that the API's
port is free and that Redis answers and takes
writes (or, embedded, that its binary is there). Each check returns what it found, for
`accord check` to print; the first failure raises `Refused`."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import yaml
from pydantic import ValidationError

from rules.catalog import load_catalog
from rules.currency import conversion_problems
from rules.errors import PackError
from service.auth import TokenBook
from settings import Settings
from store import RedisStore, StoreError, running_url, server_binary


class Refused(Exception):
    """A configuration error: one line, naming the file and key or the setting."""


def packs(settings: Settings) -> str:
    try:
        catalog = load_catalog(settings.rules_dirs)
    except PackError as exc:
        raise Refused(str(exc)) from None
    except (OSError, yaml.YAMLError) as exc:
        raise Refused(_one_line(str(exc))) from None
    problems = conversion_problems(catalog.current)
    if problems:
        raise Refused(f"currency conversion: {problems[0]}")
    return (
        f"{len(catalog.packs)} rule packs ({len(catalog.current)} current), "
        f"{len(catalog.arrangements)} arrangements"
    )


def tokens(settings: Settings) -> str:
    path = settings.tokens_file
    if path is None:
        return "no ACCORD_TOKENS_FILE: accord run writes var/tokens.yaml with an admin token"
    try:
        book = TokenBook.load(path)
    except OSError as exc:
        raise Refused(f"ACCORD_TOKENS_FILE: {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise Refused(f"{path}: not YAML: {_one_line(str(exc))}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "(the file)"
        raise Refused(f"{path}: {key}: {first['msg']}") from None
    seen: set[str] = set()
    for position, entry in enumerate(book.entries):
        if entry.token in seen:
            raise Refused(f"{path}: tokens.{position}.token: the same token appears twice")
        seen.add(entry.token)
    return f"{len(book.entries)} tokens in {path}"


def port(host: str, number: int) -> str:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, number))
        except OSError as exc:
            raise Refused(f"--port {number}: {host}:{number} is in use ({exc.strerror})") from None
    return f"{host}:{number} is free"


def redis(settings: Settings) -> str:
    if settings.redis_url is None:
        binary = server_binary()
        if not binary.exists():
            raise Refused(f"REDIS_URL is unset and the embedded Redis is missing ({binary})")
        other = running_url(settings.embedded_redis_dir)
        where = f" (a server said it runs at {other})" if other else ""
        return f"embedded Redis in {settings.embedded_redis_dir}{where}"
    store = RedisStore.from_url(settings.redis_url, settings.redis_prefix, timeout=2.0)
    try:
        store.check_writable()
    except StoreError as exc:
        raise Refused(f"REDIS_URL: Redis does not take writes: {_one_line(str(exc))}") from None
    finally:
        store.close()
    return "Redis answers and takes writes"


def var_dir(settings: Settings) -> str:
    directory = settings.var_dir
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / ".preflight"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise Refused(f"ACCORD_VAR_DIR: {directory}: {exc.strerror or exc}") from None
    return f"state directory {Path(directory).resolve()} is writable"


def run_checks(
    settings: Settings, host: str | None = None, api_port: int | None = None
) -> list[str]:
    """Every check, in order; what each found. Raises Refused at the first failure."""
    checks: list[tuple[str, Callable[[], str]]] = [
        ("state", lambda: var_dir(settings)),
        ("packs", lambda: packs(settings)),
        ("tokens", lambda: tokens(settings)),
        ("redis", lambda: redis(settings)),
    ]
    if host is not None and api_port is not None:
        checks.append(("port", lambda: port(host, api_port)))
    return [f"{name:<7}{check()}" for name, check in checks]


def _one_line(text: str) -> str:
    return " ".join(text.split())
