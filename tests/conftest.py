"""Shared fixtures: a real Redis for the whole run (the embedded binary on a free
loopback port, unless REDIS_URL says otherwise), a store isolated per test by key
prefix, the pack catalog with the test packs, and Accord to test against in two forms:

- `api`: the real `create_app` served by uvicorn in a thread of the test process, on a
  key prefix of its own per test, deciding what it enqueues in-process through
  `workers.evaluation`. For what is about the API (validation, roles, bounds, error
  shapes, quota views, audit pages): fast, and isolated per test.
- `stack`/`lone_stack`: a Celery worker and the HTTP service as real processes, for what
  is about them (worker crashes, restarts, live worker health, the server as `accord
  run` configures it, queues between processes).

Both show one face (`Accord`): a URL, tokens per role, the environment a process of
theirs reads, and a store on their Redis and prefix.

Fixtures live here rather than in tests/service/conftest.py: the test folders are not
packages (tests/service would shadow the `service` package), so a second rootless
conftest.py would replace this one as the `conftest` module the tests import from."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import yaml
from uvicorn.lifespan.on import LifespanOn

from cli.runner import api_command, worker_command
from rules.catalog import Catalog, load_catalog
from service.api import create_app
from service.connections import PROTOCOL
from settings import Settings
from store import EmbeddedRedis, RedisStore, free_port
from workers import evaluation

ROOT = Path(__file__).resolve().parent.parent
TEST_PACKS = ROOT / "tests" / "packs"
IMPORTER = "123456789RM0001"
OTHER_IMPORTER = "987654321RM0001"
AMQP_URL = os.environ.get("ACCORD_TEST_AMQP_URL", "")

# `accord` prints in the locale's language by default: the tests that read its output
# read English, whatever the locale of the machine running them (those about the
# languages say theirs)
for _name in ("LC_ALL", "LC_MESSAGES"):
    os.environ.pop(_name, None)
os.environ["LANG"] = "C.UTF-8"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis")).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def store(redis_url: str) -> Iterator[RedisStore]:
    """A store on the shared Redis, under a key prefix of its own."""
    instance = RedisStore.from_url(redis_url, prefix=f"t-{uuid.uuid4().hex[:12]}")
    yield instance
    instance.close()


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog([TEST_PACKS])


@dataclass
class Accord:
    """An Accord serving HTTP: its URL, its tokens by role, the environment its processes
    read (and a CLI run against it would), on `redis_url` under `prefix`."""

    url: str
    redis_url: str
    prefix: str
    env: dict[str, str]
    tokens: dict[str, str]
    logs: Path = field(default_factory=Path)

    def client(self, role: str = "admin", timeout: float = 35.0) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.tokens[role]}"},
            timeout=timeout,
        )

    @property
    def audit_key(self) -> bytes:
        return self.env["ACCORD_AUDIT_KEY"].encode()

    def store(self) -> RedisStore:
        """A store on its Redis and prefix, holding its audit key."""
        return RedisStore.from_url(self.redis_url, prefix=self.prefix, audit_key=self.audit_key)


@dataclass
class Stack(Accord):
    """A running Accord of real processes, which tests may kill."""

    worker: subprocess.Popen[bytes] | None = None
    api: subprocess.Popen[bytes] | None = None

    def start_worker(self, concurrency: int = 2) -> subprocess.Popen[bytes]:
        known = self.store().workers()  # a killed worker's heartbeat lives on for 30 s
        self.worker = _spawn(
            worker_command(concurrency, f"test-{uuid.uuid4().hex[:6]}@%h"),
            self.env,
            self.logs / "worker.log",
        )
        _wait_for_worker(self, known)
        return self.worker

    def stop_worker(self) -> None:
        if self.worker is not None:
            _terminate(self.worker)
            self.worker = None

    def start_api(self) -> subprocess.Popen[bytes]:
        port = int(self.url.rsplit(":", 1)[1])
        self.api = _spawn(api_command("127.0.0.1", port), self.env, self.logs / "api.log")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code in (200, 503):
                    return self.api
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"the API did not start; see {self.logs / 'api.log'}")

    def stop(self) -> None:
        if self.api is not None:
            _terminate(self.api)
        self.stop_worker()


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as handle:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            args, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT
        )


def _terminate(process: subprocess.Popen[bytes]) -> None:
    """Stop a child and everything in its process group (a Celery pool included)."""
    if process.poll() is None:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=15)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _wait_for_worker(stack: Stack, known: set[str]) -> None:
    """Until the new worker's own heartbeat appears."""
    store = stack.store()
    deadline = time.monotonic() + 60
    while not store.workers() - known:
        if stack.worker is not None and stack.worker.poll() is not None:
            raise RuntimeError(f"the worker exited; see {stack.logs / 'worker.log'}")
        if time.monotonic() > deadline:
            raise RuntimeError("no worker heartbeat within 60 s")
        time.sleep(0.1)
    store.close()


def configure(redis_url: str, directory: Path, **overrides: str) -> Accord:
    """A new Accord's configuration, not yet serving: tokens of every role (written to a
    tokens file in `directory`), a key prefix of its own, an audit key, the test packs."""
    tokens = {
        "admin": secrets.token_urlsafe(24),
        "auditor": secrets.token_urlsafe(24),
        "submitter": secrets.token_urlsafe(24),
        "other_submitter": secrets.token_urlsafe(24),
    }
    tokens_file = directory / "tokens.yaml"
    tokens_file.write_text(
        yaml.safe_dump(
            {
                "tokens": [
                    {"token": tokens["admin"], "role": "admin"},
                    {"token": tokens["auditor"], "role": "auditor"},
                    {
                        "token": tokens["submitter"],
                        "role": "submitter",
                        "business_number": IMPORTER,
                    },
                    {
                        "token": tokens["other_submitter"],
                        "role": "submitter",
                        "business_number": OTHER_IMPORTER,
                    },
                ]
            }
        )
    )
    prefix = f"s-{uuid.uuid4().hex[:10]}"
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "ACCORD_TOKENS_FILE": str(tokens_file),
        "ACCORD_RULES_DIR": str(TEST_PACKS),
        "ACCORD_REDIS_PREFIX": prefix,
        "ACCORD_VAR_DIR": str(directory),
        "ACCORD_AUDIT_KEY": secrets.token_urlsafe(32),
        "PYTHONWARNINGS": "ignore:You're running the worker with superuser",
        "ACCORD_HEADER_TIMEOUT": "1",  # short, so that a test can wait it out
        # the end-to-end tests run against a RabbitMQ broker when the caller names one;
        # CI leaves it unset and Redis is the broker, as by default
        **({"ACCORD_BROKER_URL": AMQP_URL} if AMQP_URL else {}),
        **overrides,
    }
    return Accord(
        url="", redis_url=redis_url, prefix=prefix, env=env, tokens=tokens, logs=directory
    )


def make_stack(redis_url: str, directory: Path, **overrides: str) -> Stack:
    config = configure(redis_url, directory, **overrides)
    return Stack(
        url=f"http://127.0.0.1:{free_port()}",
        redis_url=redis_url,
        prefix=config.prefix,
        env=config.env,
        tokens=config.tokens,
        logs=directory,
    )


@contextlib.contextmanager
def running_stack(redis_url: str, directory: Path) -> Iterator[Stack]:
    """Accord running for real on `redis_url` under a key prefix of its own: one Celery
    worker (2 processes) and the HTTP service, stopped on the way out."""
    running = make_stack(redis_url, directory)
    try:
        running.start_worker()
        running.start_api()
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def stack(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The stack most end-to-end tests share."""
    with running_stack(redis_url, tmp_path_factory.mktemp("stack")) as running:
        yield running


@pytest.fixture
def lone_stack(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack of one test's own: a ledger and declarations no other test touches."""
    with running_stack(redis_url, tmp_path_factory.mktemp("own-stack")) as running:
        yield running


def audit_of(api: Accord, declaration_id: str) -> dict[str, Any]:
    """A declaration's audit answer as an auditor reads it."""
    with api.client("auditor") as client:
        response = client.get(f"/v1/declarations/{declaration_id}/audit")
    assert response.status_code == 200, response.text
    trail: dict[str, Any] = response.json()
    return trail


def unique_id(label: str = "d") -> str:
    return f"{label}-{uuid.uuid4().hex[:16]}"


@dataclass
class InProcess(Accord):
    """The API as `accord run` serves it (the real `create_app`, the production HTTP
    protocol, tokens from the tokens file), but in a thread of the test process.

    What it enqueues is decided in-process by `workers.evaluation`, the code a Celery task
    runs, on one thread in the order submitted, as one worker process would: verdicts
    arrive asynchronously after the 202, as they do from a worker. `app` and `api_store`
    are the API's own, for tests that watch its insides."""

    app: Any = None
    api_store: RedisStore | None = None


class Mount:
    """The ASGI app the session's HTTP server serves: whichever app a test mounted.

    One server for the whole run, one app per test: starting and stopping uvicorn costs
    a fifth of a second (its shutdown sleeps), building the app a twentieth."""

    def __init__(self) -> None:
        self.app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        app = self.app
        if app is None:  # between tests: nobody should be asking
            await send({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b"no app mounted"})
            return
        await app(scope, receive, send)


@dataclass
class HttpServer:
    url: str
    mount: Mount
    loop: asyncio.AbstractEventLoop


@pytest.fixture(scope="session")
def http_server() -> Iterator[HttpServer]:
    """uvicorn in a thread of the test process, with the production HTTP protocol; the
    lifespan is each mounted app's, run by `in_process`."""
    mount = Mount()
    # Bound here, so no race for a free port; with the protocol named, so that asyncio
    # sets TCP_NODELAY on each connection as it does on the sockets it makes itself:
    # without it, every response waits 40 ms for a delayed ACK (Nagle).
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.bind(("127.0.0.1", 0))
    config = uvicorn.Config(mount, http=PROTOCOL, lifespan="off", log_level="warning",
                            access_log=False, timeout_graceful_shutdown=5)  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [listener]}, name="accord-http", daemon=True
    )
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the in-process HTTP server did not start")
        time.sleep(0.005)
    port = listener.getsockname()[1]
    try:
        yield HttpServer(f"http://127.0.0.1:{port}", mount, server.servers[0].get_loop())
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        listener.close()


@contextlib.contextmanager
def in_process(
    server: HttpServer, redis_url: str, directory: Path, catalog: Catalog
) -> Iterator[InProcess]:
    """A new API on `server`, configured as `make_stack` configures a stack, on a key
    prefix of its own, until the block ends."""
    config = configure(redis_url, directory)
    settings = Settings.from_environ(config.env)
    store = RedisStore.from_url(  # as service.server.build makes it
        redis_url, config.prefix, audit_key=settings.audit_key, archive_dir=settings.archive_dir
    )
    decider = ThreadPoolExecutor(max_workers=1, thread_name_prefix="accord-decide")
    decisions: list[Future[list[str]]] = []

    def enqueue(declaration_ids: Sequence[str]) -> None:
        decisions.append(
            decider.submit(evaluation.decide_many, store, catalog, list(declaration_ids))
        )

    app = create_app(settings, store, enqueue, catalog=catalog)
    # the app's lifespan (the long polls' change listener) as uvicorn runs it, on the
    # server's loop
    lifespan = LifespanOn(uvicorn.Config(app, lifespan="on", log_level="warning"))
    asyncio.run_coroutine_threadsafe(lifespan.startup(), server.loop).result(timeout=30)
    if lifespan.should_exit:
        raise RuntimeError("the app's lifespan did not start; see the log")
    server.mount.app = app
    try:
        yield InProcess(
            url=server.url, redis_url=redis_url, prefix=config.prefix, env=config.env,
            tokens=config.tokens, logs=directory, app=app, api_store=store,
        )  # fmt: skip
    finally:
        server.mount.app = None
        stopped = asyncio.run_coroutine_threadsafe(lifespan.shutdown(), server.loop)
        # The change listener checks its stop flag between messages and waits up to a
        # second for one: an empty change, which wakes no long poll, ends that wait.
        deadline = time.monotonic() + 15
        while not stopped.done() and time.monotonic() < deadline:
            store.client.publish(store.changes_channel, "")
            with contextlib.suppress(TimeoutError):
                stopped.result(timeout=0.05)
        decider.shutdown(wait=True)
        store.close()
    for decided in decisions:
        decided.result()  # an evaluation that raised (Redis unreachable, say) fails the test


@pytest.fixture
def api(
    http_server: HttpServer, redis_url: str, catalog: Catalog, tmp_path: Path
) -> Iterator[InProcess]:
    """Accord's API in this process, on a key prefix (so a ledger) of this test's own."""
    with in_process(http_server, redis_url, tmp_path, catalog) as running:
        yield running
