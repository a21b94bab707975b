"""The API's CPU per request in one process, without an HTTP server: the app as
create_app builds it (middleware, FastAPI, the routes) against a real Redis, driven by
ASGI calls, for `GET /v1/whoami`, single submissions, batches of 100 and permit
applications. The CPU counts the routes' pool threads; with `--profile DIR`, cProfile
writes each kind's profile there (the event loop's thread only).

    .venv/bin/python -m bench.api_profile [--profile /tmp/prof]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI
from starlette.types import Message

from bench.e2e_bench import TOKEN
from bench.mix import declarations, issue_permits
from bench.rush_bench import TRQ, applicant_number, applicant_token, applicant_tokens
from rules.catalog import load_catalog
from service.api import create_app
from service.auth import TokenBook, TokensFile
from settings import get_settings
from store import EmbeddedRedis, RedisStore


async def call(
    app: FastAPI, method: str, path: str, token: str, body: Any = None
) -> tuple[int, bytes]:
    """One request through the app's ASGI interface; its status and body."""
    payload = b"" if body is None else orjson.dumps(body)
    headers = [(b"host", b"bench"), (b"authorization", f"Bearer {token}".encode())]
    if body is not None:
        headers += [(b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode())]  # fmt: skip
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "", "headers": headers,
             "client": ("127.0.0.1", 1), "server": ("bench", 80)}  # fmt: skip
    delivered = False

    async def receive() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": payload, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    answer: dict[str, Any] = {"body": b""}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    await app(scope, receive, send)
    return answer["status"], answer["body"]


def run(count: int = 1500, profile: Path | None = None) -> dict[str, float]:
    """Microseconds of CPU per request (per declaration for batches), by kind."""
    with tempfile.TemporaryDirectory(prefix="accord-api-profile-") as scratch:
        redis = EmbeddedRedis(Path(scratch) / "redis").start()
        store = RedisStore.from_url(redis.url, prefix="prof")
        try:
            return _measure(store, count, profile)
        finally:
            store.close()
            redis.stop()


def _measure(store: RedisStore, count: int, profile: Path | None) -> dict[str, float]:
    catalog = load_catalog()
    entries = [{"token": TOKEN, "role": "admin"}, *applicant_tokens(400)]
    tokens = TokenBook(TokensFile.model_validate({"tokens": entries}).tokens)
    app = create_app(get_settings(), store, lambda ids: None, catalog=catalog, tokens=tokens)
    singles = declarations(count, seed=1, label="s")
    issue_permits(store, catalog, range(count), "s")
    batched = declarations(2000, seed=2, label="b")
    issue_permits(store, catalog, range(2000), "b")

    async def expect(status: int, method: str, path: str, token: str, body: Any = None) -> None:
        got, answer = await call(app, method, path, token, body)
        if got != status:
            raise RuntimeError(f"{method} {path}: {got} {answer!r}")

    async def whoami() -> None:
        for index in range(count):
            await expect(200, "GET", "/v1/whoami", applicant_token(index % 400))

    async def single() -> None:
        for body in singles:
            await expect(202, "POST", "/v1/declarations", TOKEN, body)

    async def batch() -> None:
        for start in range(0, len(batched), 100):
            chunk = {"declarations": batched[start : start + 100]}
            await expect(202, "POST", "/v1/declarations/batch", TOKEN, chunk)

    async def permit() -> None:
        for index in range(400):
            application = {"business_number": applicant_number(index), "measure": TRQ,
                           "quantity": 1}  # fmt: skip
            await expect(201, "POST", "/v1/permits", applicant_token(index), application)

    kinds: tuple[tuple[str, Callable[[], Awaitable[None]], int], ...] = (
        ("whoami", whoami, count),
        ("single", single, count),
        ("batch_per_declaration", batch, len(batched)),
        ("permit", permit, 400),
    )
    found: dict[str, float] = {}

    async def all_kinds() -> None:
        await expect(200, "GET", "/v1/whoami", TOKEN)  # warm
        for name, job, requests in kinds:
            profiler = cProfile.Profile() if profile is not None else None
            started = time.process_time()
            if profiler is not None:
                profiler.enable()
            await job()
            if profiler is not None and profile is not None:
                profiler.disable()
                profile.mkdir(parents=True, exist_ok=True)
                profiler.dump_stats(profile / f"{name}.prof")
            found[name] = round((time.process_time() - started) * 1e6 / requests, 1)

    asyncio.run(all_kinds())
    return found


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.api_profile", description=__doc__)
    parser.add_argument("--profile", type=Path, help="write each kind's cProfile here")
    args = parser.parse_args()
    for name, micros in run(profile=args.profile).items():
        print(f"{name.ljust(22)} {micros:8.1f} us of CPU")


if __name__ == "__main__":
    main()
