"""`accord run`: Redis (embedded unless REDIS_URL), N Celery worker processes and the API,
in one foreground command. Ctrl-C (or SIGTERM) stops all of it and leaves no process
behind: the API first, then the workers (warm shutdown, then SIGKILL of their process
group), then the embedded Redis, which writes its append-only file on the way out."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from service.auth import write_admin_tokens
from service.connections import PROTOCOL
from service.settings import Settings
from store.embedded import EmbeddedRedis


def _start(args: Sequence[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    # Each child leads its own process group, so that stopping it stops its children
    # (the Celery pool) and a Ctrl-C in the terminal reaches only this supervisor.
    return subprocess.Popen(list(args), env=env, stdin=subprocess.DEVNULL, start_new_session=True)


def _stop(process: subprocess.Popen[bytes], grace: float) -> None:
    if process.poll() is not None:
        return
    process.terminate()  # the group leader first: Celery's warm shutdown stops its own pool
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace)
    with contextlib.suppress(ProcessLookupError):  # the pool, if its parent left it behind
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def worker_command(concurrency: int, name: str) -> list[str]:
    return [
        sys.executable, "-m", "celery", "--app", "workers.app", "--quiet", "worker",
        "--concurrency", str(concurrency), "--loglevel", "WARNING", "--hostname", name,
        "--without-gossip", "--without-mingle", "--without-heartbeat",
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


def run(settings: Settings, host: str, port: int, workers: int) -> int:
    env = dict(os.environ)
    redis: EmbeddedRedis | None = None
    children: list[subprocess.Popen[bytes]] = []
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        if settings.redis_url is None:
            redis = EmbeddedRedis(settings.var_dir / "redis").start()
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
            key_file = settings.var_dir / "audit.key"
            env["ACCORD_AUDIT_KEY"] = audit_key(key_file)
            print(f"Audit key  {key_file} (authenticates audit heads and checkpoints)")
        worker_env = dict(env)
        if os.geteuid() == 0:  # JSON only, so Celery's warning about pickle as root does not apply
            worker_env["PYTHONWARNINGS"] = "ignore:You're running the worker with superuser"
        children.append(_start(worker_command(workers, f"accord-{os.getpid()}@%h"), worker_env))
        children.append(_start(api_command(host, port), env))
        url = f"http://{host}:{port}"
        print(f"API        {url}  (OpenAPI: {url}/docs)")
        print(f"Workers    {workers} Celery worker processes")
        if token is not None:
            print(f"Admin token {token}")
            print(f"           (written to {Path(env['ACCORD_TOKENS_FILE'])})")
        print("Press Ctrl-C to stop.", flush=True)
        while not stopping:
            for child in children:
                if child.poll() is not None:
                    print(
                        f"process {child.pid} exited ({child.returncode}); stopping",
                        file=sys.stderr,
                    )
                    stopping = True
            time.sleep(0.2)
        return 0
    finally:
        for child in reversed(children):
            _stop(child, grace=10)
        if redis is not None:
            redis.stop()
        print("Stopped.", flush=True)
