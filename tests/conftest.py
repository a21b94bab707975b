"""Shared fixtures: a real Redis for the whole run (the embedded binary on a free
loopback port, unless REDIS_URL says otherwise), a store isolated per test by key
prefix, the pack catalog with the test packs, and the running stack (a Celery worker
and the HTTP service as real processes) for end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import yaml

from rules.catalog import Catalog, load_catalog
from service.runner import api_command, worker_command
from store.embedded import EmbeddedRedis, free_port
from store.redis_store import RedisStore

ROOT = Path(__file__).resolve().parent.parent
TEST_PACKS = ROOT / "tests" / "packs"
IMPORTER = "123456789RM0001"
OTHER_IMPORTER = "987654321RM0001"
AMQP_URL = os.environ.get("ACCORD_TEST_AMQP_URL", "")


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
class Stack:
    """A running Accord: its URL, its tokens, and processes that tests may kill."""

    url: str
    redis_url: str
    prefix: str
    env: dict[str, str]
    tokens: dict[str, str]
    worker: subprocess.Popen[bytes] | None = None
    api: subprocess.Popen[bytes] | None = None
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
        """A store on the stack's Redis and prefix, holding the stack's audit key."""
        return RedisStore.from_url(self.redis_url, prefix=self.prefix, audit_key=self.audit_key)

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


def make_stack(redis_url: str, directory: Path, **overrides: str) -> Stack:
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
    return Stack(
        url=f"http://127.0.0.1:{free_port()}",
        redis_url=redis_url,
        prefix=prefix,
        env=env,
        tokens=tokens,
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


def unique_id(label: str = "d") -> str:
    return f"{label}-{uuid.uuid4().hex[:16]}"
