"""`accord run`: Redis (embedded unless REDIS_URL), N Celery worker processes and the API,
in one foreground command. Ctrl-C (or SIGTERM) stops all of it and leaves no process
behind: the API first, then the workers (warm shutdown, then SIGKILL of their process
group), then the embedded Redis, which writes its append-only file on the way out.

Before it starts anything it takes the state directory's lock (cli/state_lock.py: a
second `accord run` on the same var/ exits 2 at once, naming the first) and checks the
configuration (cli/preflight.py): a bad pack, tokens file or setting, a port in use
or a Redis that takes no writes exits 2 with one line naming the file and key, and
leaves no process behind. It says it serves only once the API answers `/readyz` (packs
loaded, Redis writable, a worker consuming).

It supervises what it started: a child that dies at run time (the worker's main process
ending on an unrecoverable error, an OOM kill, the embedded Redis crashing) is restarted,
not taken as a reason to stop the service. What the dead child left in its process group
(a Celery pool) is killed first. Restarts back off: 0.5 s after the first death, doubling
up to 30 s while the child keeps dying; a child that stayed up for STABLE_AFTER starts
again from 0.5 s. Every death and restart is written to standard error. A child that dies
CRASH_LOOP times in a row, each time within STABLE_AFTER of starting, cannot start: that
is an error, not a state, and the whole service stops with exit code 1 and the child's
last lines of standard error."""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from cli import preflight
from cli.state_lock import StateDirectoryInUse, StateLock
from service.auth import write_admin_tokens
from service.connections import PROTOCOL
from settings import Settings
from store import DirectoryInUse, EmbeddedRedis

TAIL_LINES = 20  # of a child's standard error, kept for the message when it cannot start


class Tail:
    """Forwards a child's standard error to ours as it comes, keeping its last lines."""

    def __init__(self, stream: IO[bytes] | None = None) -> None:
        self.lines: deque[str] = deque(maxlen=TAIL_LINES)
        if stream is not None:
            threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[bytes]) -> None:
        with stream:
            for raw in iter(stream.readline, b""):
                self.lines.append(raw.decode(errors="replace").rstrip())
                with contextlib.suppress(OSError):
                    os.write(2, raw)


def start_child(
    args: Sequence[str],
    env: dict[str, str],
    keep: Sequence[int] = (),
    tailed: bool = False,
    log: IO[bytes] | None = None,
) -> subprocess.Popen[bytes]:
    """One child process, leading its own process group, so that stopping it stops its
    children (the Celery pool) and a Ctrl-C in the terminal reaches only this supervisor.
    `keep` are descriptors it inherits: the state directory's lock, held while any child
    lives. `tailed`: its standard error comes through a pipe, for a Tail to read and
    forward; else it goes to `log` when given (a benchmark keeps each stack's), or to
    ours."""
    return subprocess.Popen(
        list(args),
        env=env,
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE if tailed else log,
        start_new_session=True,
        pass_fds=tuple(keep),
    )


def stop_child(process: subprocess.Popen[bytes], grace: float) -> None:
    """Stop a child started by `start_child`: asked first, its whole group killed after
    `grace` seconds."""
    if process.poll() is not None:
        return
    process.terminate()  # the group leader first: Celery's warm shutdown stops its own pool
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace)
    with contextlib.suppress(ProcessLookupError):  # the pool, if its parent left it behind
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


FIRST_BACKOFF = 0.5  # seconds before restarting a child that died
MAX_BACKOFF = 30.0
# A child that dies this soon after its start is crash-looping, and waits longer each
# time; one that had been running (e.g. a worker felled by a Redis restart) restarts
# quickly, however often that happens.
STABLE_AFTER = 10.0
CRASH_LOOP = 5  # deaths in a row, each within STABLE_AFTER of the start: it cannot start


class CrashLoop(Exception):
    """A child died CRASH_LOOP times in a row right after starting."""

    def __init__(self, child: Child) -> None:
        last = "\n".join(f"  {line}" for line in child.last_lines()) or "  (nothing)"
        super().__init__(
            f"{child.name} died {child.deaths} times in a row within {STABLE_AFTER:g} s of "
            f"starting; stopping. Its last lines:\n{last}"
        )


@dataclass
class Child:
    """A process `accord run` keeps running: `start` makes (or remakes) it."""

    name: str
    start: Callable[[], subprocess.Popen[bytes]]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    deaths: int = 0  # in a row, each within STABLE_AFTER of its start
    restart_at: float | None = None
    restarts: int = field(default=0)
    tail: Tail = field(default_factory=Tail)
    log_file: Path | None = None  # where a child that writes no standard error logs

    def launch(self) -> None:
        self.process = self.start()
        self.tail = Tail(self.process.stderr)
        self.started_at = time.monotonic()
        self.restart_at = None

    def last_lines(self) -> list[str]:
        if self.log_file is not None and self.log_file.exists():
            return self.log_file.read_text(errors="replace").splitlines()[-TAIL_LINES:]
        return list(self.tail.lines)

    def backoff(self) -> float:
        return float(min(FIRST_BACKOFF * 2 ** (self.deaths - 1), MAX_BACKOFF))

    def tend(self, now: float) -> None:
        """Notice a death and schedule the restart; restart when its time has come."""
        if self.restart_at is None:
            if self.process is None or self.process.poll() is None:
                return
            code = self.process.returncode
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)  # its pool, left behind
            self.deaths = 1 if now - self.started_at >= STABLE_AFTER else self.deaths + 1
            if self.deaths >= CRASH_LOOP:
                raise CrashLoop(self)
            self.restart_at = now + self.backoff()
            print(
                f"accord: {self.name} (pid {self.process.pid}) exited with code {code}; "
                f"restarting in {self.backoff():.1f} s",
                file=sys.stderr,
                flush=True,
            )
            return
        if now >= self.restart_at:
            try:
                self.launch()
            except Exception as exc:  # e.g. Redis that does not come up: try again later
                self.deaths += 1
                if self.deaths >= CRASH_LOOP:
                    self.tail.lines.append(str(exc))
                    raise CrashLoop(self) from exc
                self.restart_at = now + self.backoff()
                print(
                    f"accord: {self.name} did not start ({exc}); trying again in "
                    f"{self.backoff():.1f} s",
                    file=sys.stderr,
                    flush=True,
                )
                return
            self.restarts += 1
            assert self.process is not None
            print(
                f"accord: {self.name} restarted (pid {self.process.pid}, restart {self.restarts})",
                file=sys.stderr,
                flush=True,
            )

    def stop(self, grace: float) -> None:
        if self.process is not None:
            stop_child(self.process, grace)


def worker_command(concurrency: int, name: str) -> list[str]:
    return [
        sys.executable, "-m", "celery", "--app", "workers.app", "--quiet", "worker",
        "--concurrency", str(concurrency), "--loglevel", "WARNING", "--hostname", name,
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip


def webhook_worker_command(name: str) -> list[str]:
    """The worker that delivers webhooks, and only that (workers/webhook_delivery.py): threads,
    since a delivery waits on a receiver, and a queue of its own, so that a slow
    receiver never holds up a declaration."""
    from workers.webhook_delivery import WEBHOOK_QUEUE

    return [
        *worker_command(8, name), "--pool", "threads", "--queues", WEBHOOK_QUEUE,
    ]  # fmt: skip


def api_command(host: str, port: int) -> list[str]:
    return [
        sys.executable, "-m", "uvicorn", "--factory", "service.server:build",
        "--http", PROTOCOL, "--host", host, "--port", str(port),
        "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip


def audit_key(path: Path) -> str:
    """The audit key kept in `path`, made on first use: it must outlive restarts, since
    every head written under it is checked against it later."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(32) + "\n")
    return path.read_text().strip()


READY_TIMEOUT = 120.0  # seconds to wait for /readyz before saying what it still waits for


def _local(host: str) -> str:
    """Where this machine reaches an API bound to `host`."""
    wildcard = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "[::1]"}  # noqa: S104  # reached, not bound
    return wildcard.get(host, host)


def _readiness(url: str) -> str | None:
    """None when the API answers /readyz with 200; else what it is waiting for."""
    try:
        answer = httpx.get(f"{url}/readyz", timeout=1.0)
    except httpx.HTTPError:
        return "the API does not answer yet"
    if answer.status_code == 200:
        return None
    try:
        return str(answer.json().get("reason") or answer.status_code)
    except ValueError:
        return f"the API answers {answer.status_code}"


def run(settings: Settings, host: str, port: int, workers: int) -> int:
    url = f"http://{host}:{port}"
    try:
        lock = StateLock(settings.var_dir).acquire(api=url)
    except StateDirectoryInUse as exc:
        print(f"accord: {exc}", file=sys.stderr, flush=True)
        return 2
    try:
        preflight.run_checks(settings, host, port)
    except preflight.Refused as exc:
        lock.release()
        print(f"accord: {exc}", file=sys.stderr, flush=True)
        return 2
    try:
        return _serve(settings, host, port, workers, lock)
    finally:
        lock.release()


def _serve(settings: Settings, host: str, port: int, workers: int, lock: StateLock) -> int:
    env = dict(os.environ)
    redis: EmbeddedRedis | None = None
    children: list[Child] = []
    stopping = False
    keep = () if lock.descriptor is None else (lock.descriptor,)

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        if settings.redis_url is None:
            redis = EmbeddedRedis(settings.embedded_redis_dir).start()
            embedded = redis

            def start_redis() -> subprocess.Popen[bytes]:
                embedded.start()  # the same port, the same append-only file
                assert embedded.process is not None
                return embedded.process

            supervised_redis = Child(
                "embedded Redis",
                start_redis,
                process=redis.process,
                log_file=redis.directory / "redis.log",
            )
            supervised_redis.started_at = time.monotonic()
            children.append(supervised_redis)
            env["REDIS_URL"] = redis.url
            print(f"Redis      {redis.url} (embedded, append-only file in {redis.directory})")
        else:
            print(f"Redis      {settings.redis_url}")
        token = None
        if settings.tokens_file is None:
            tokens_file = settings.var_dir / "tokens.yaml"
            token = write_admin_tokens(tokens_file)
            env["ACCORD_TOKENS_FILE"] = str(tokens_file.resolve())
        if settings.audit_key is None:
            key_file = settings.audit_key_file
            env["ACCORD_AUDIT_KEY"] = audit_key(key_file)
            print(f"Audit key  {key_file} (authenticates audit heads and checkpoints)")
        worker_env = dict(env)
        if os.geteuid() == 0:  # JSON only, so Celery's warning about pickle as root does not apply
            worker_env["PYTHONWARNINGS"] = "ignore:You're running the worker with superuser"
        # independent workers of one process each, so that one whose main process dies
        # (kombu's fault on a Redis restart) leaves the others consuming while it restarts
        for number in range(1, workers + 1):
            worker_args = worker_command(1, f"accord-{os.getpid()}-{number}@%h")
            children.append(
                Child(
                    f"worker {number}",
                    functools.partial(start_child, worker_args, worker_env, keep, True),
                )
            )
        webhook_args = webhook_worker_command(f"accord-{os.getpid()}-webhooks@%h")
        children.append(
            Child(
                "webhook worker",
                functools.partial(start_child, webhook_args, worker_env, keep, True),
            )
        )
        api_args = api_command(host, port)
        children.append(Child("API", functools.partial(start_child, api_args, env, keep, True)))
        for child in children:
            if child.process is None:
                child.launch()
        # ready means ready: the API answers, the packs are loaded, a worker consumes
        local = f"http://{_local(host)}:{port}"
        waiting_since = time.monotonic()
        said_at = waiting_since
        while not stopping and (waiting := _readiness(local)) is not None:
            now = time.monotonic()
            for child in children:
                child.tend(now)
            if now - said_at > READY_TIMEOUT / 4:
                print(f"accord: not ready yet after {now - waiting_since:.0f} s: {waiting}",
                      file=sys.stderr, flush=True)  # fmt: skip
                said_at = now
            time.sleep(0.2)
        url = f"http://{host}:{port}"
        print(f"API        {url}  (OpenAPI: {url}/docs)")
        print(f"Workers    {workers} Celery workers, supervised")
        if token is not None:
            print(f"Admin token {token}")
            print(f"           (written to {Path(env['ACCORD_TOKENS_FILE'])})")
        if not stopping:
            print("Press Ctrl-C to stop.", flush=True)
        while not stopping:
            now = time.monotonic()
            for child in children:
                child.tend(now)
            time.sleep(0.2)
        return 0
    except CrashLoop as exc:
        print(f"accord: {exc}", file=sys.stderr, flush=True)
        return 1
    except DirectoryInUse as exc:  # an embedded Redis left running by a run that was killed
        print(f"accord: {exc}; stop it first", file=sys.stderr, flush=True)
        return 2
    finally:
        for child in reversed(children):
            if child.name != "embedded Redis":
                child.stop(grace=10)
        if redis is not None:
            redis.stop()
        print("Stopped.", flush=True)
