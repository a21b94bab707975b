"""End to end: submit to verdict through the real API, queue and 2 worker processes,
against a no-op Celery task on the same broker and settings; batch submission; latency
at a fixed offered load; latency seen by 400 clients that each submit and long-poll their
own declaration at once (the opening rush); worker memory over 100,000 declarations;
batch throughput with 1, 2 and 4 worker processes, beside the machine's core count."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml
from celery import Celery
from redis.exceptions import ResponseError

from bench.mix import IMPORTER, declarations, issue_permits
from cli.runner import api_command, start_child, stop_child, worker_command
from rules import trail
from rules.catalog import load_catalog
from store import EmbeddedRedis, RedisStore, free_port
from workers.app import QUEUE
from workers.evaluation import decide

TOKEN = "bench-admin-token-0123456789abcdef"
WAITERS = 400  # clients of the opening rush, each with a token of its own
PARTS = ("single", "batch", "latency", "waiters", "memory", "scaling")


def waiter_token(index: int) -> str:
    return f"bench-waiter-token-{index:06d}"


@dataclass
class Running:
    url: str
    store: RedisStore
    sender: Celery
    env: dict[str, str]
    pids: dict[str, int]  # the API, the worker's main process and Redis
    logs: Path | None = None  # the directory of the worker's and the API's logs

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time used so far by each part of the stack (a worker's pool processes
        apart from its main process) and by this process, the load generator."""
        tick = os.sysconf("SC_CLK_TCK")
        parents: dict[int, int] = {}
        used: dict[int, float] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                parents[int(entry.name)] = int(fields[1])
                used[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
        pool = [pid for pid, parent in parents.items() if parent == self.pids["worker"]]
        return {
            "api": used.get(self.pids["api"], 0.0),
            "worker_main": used.get(self.pids["worker"], 0.0),
            "worker_pool": sum(used.get(pid, 0.0) for pid in pool),
            "redis": used.get(self.pids["redis"], 0.0),
            "load_generator": time.process_time(),
        }


def cpu_ms_per_declaration(
    before: dict[str, float], after: dict[str, float], count: int
) -> dict[str, float]:
    """Milliseconds of CPU per declaration in each part: unlike a rate, this does not
    depend on what else the machine is running."""
    spent = {part: (after[part] - before[part]) * 1000 / count for part in after}
    return {
        **{part: round(ms, 2) for part, ms in spent.items()},
        "total": round(sum(spent.values()), 2),
    }


@contextlib.contextmanager
def running_stack(
    directory: Path,
    workers: int = 2,
    waiters: int = 0,
    extra_tokens: Sequence[dict[str, str]] = (),
    settings: Mapping[str, str] | None = None,
) -> Iterator[Running]:
    """Redis, `workers` worker processes and the API; with `waiters` submitter tokens
    besides the admin's (a stack of its own: every token is compared on every request),
    `extra_tokens` as the tokens file writes them, and `settings` (ACCORD_* variables)
    over the environment's. The worker's and the API's standard error are kept in
    `worker.log` and `api.log` in `directory`, for what a part's figures do not say."""
    directory.mkdir(parents=True, exist_ok=True)
    redis = EmbeddedRedis(directory / "redis").start()
    tokens = directory / "tokens.yaml"
    # one submitter token per waiting client: long polls are limited per token, as they
    # would be for 400 brokers' systems, each with its own
    submitters = [
        {"token": waiter_token(index), "role": "submitter", "business_number": IMPORTER}
        for index in range(waiters)
    ]
    tokens.write_text(
        yaml.safe_dump({"tokens": [{"token": TOKEN, "role": "admin"}, *submitters, *extra_tokens]})
    )
    env = {
        **os.environ,
        "REDIS_URL": redis.url,
        "ACCORD_TOKENS_FILE": str(tokens),
        "ACCORD_REDIS_PREFIX": "bench",
        # the rushes' clients stand for hundreds of brokers' systems, each at an address of
        # its own, but all connect from this one: the bound per address would refuse them
        "ACCORD_CONNECTIONS_PER_ADDRESS": str(max(64, 2 * (waiters + len(extra_tokens)))),
        "PYTHONWARNINGS": "ignore:You're running the worker with superuser",
        **(settings or {}),
    }
    port = free_port()
    logs = contextlib.ExitStack()
    worker_log = logs.enter_context((directory / "worker.log").open("ab"))
    api_log = logs.enter_context((directory / "api.log").open("ab"))
    worker = start_child(worker_command(workers, "bench@%h"), env, log=worker_log)
    api = start_child(api_command("127.0.0.1", port), env, log=api_log)
    store = RedisStore.from_url(redis.url, prefix="bench")
    sender = Celery("bench-sender", broker=redis.url)
    sender.conf.update(
        task_serializer="json",
        broker_transport_options={"global_keyprefix": "bench:celery:"},
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/healthz", timeout=1).json().get("workers"):
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("the stack did not come up")
            time.sleep(0.2)
        pids = {"api": api.pid, "worker": worker.pid, "redis": redis.process.pid}
        yield Running(url=url, store=store, sender=sender, env=env, pids=pids, logs=directory)
    finally:
        stop_child(api, 10)
        stop_child(worker, 10)
        logs.close()
        store.close()
        redis.stop()


def _wait_all(store: RedisStore, ids: list[str], timeout: float = 600) -> float:
    """Seconds until every declaration is decided (polling in chunks)."""
    deadline = time.monotonic() + timeout
    pending = list(ids)
    while pending:
        statuses = store.statuses(pending[:2000])
        done = {
            pending[index]
            for index, status in enumerate(statuses)
            if status in ("decided", "failed")
        }
        pending = [item for item in pending if item not in done]
        if pending:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(pending)} declarations not decided in time")
            time.sleep(0.05)
    return time.monotonic()


def _register_permits(store: RedisStore, count: int, label: str) -> None:
    issue_permits(store, load_catalog(), range(count), label)


def noop_rate(stack: Running, count: int, cpu: dict[str, float] | None = None) -> float:
    """No-op tasks sent straight to the broker; `cpu` gets the CPU per task, by part."""
    counter = f"noop-{time.monotonic_ns()}"
    before = stack.cpu_seconds()
    started = time.monotonic()
    with stack.sender.connection_for_write() as connection:
        producer = stack.sender.amqp.Producer(connection)
        for _ in range(count):
            stack.sender.send_task("accord.noop", args=[counter], queue=QUEUE, producer=producer)
    while stack.store.stats().get(counter, 0) < count:
        time.sleep(0.02)
    finished = time.monotonic()
    if cpu is not None:
        cpu.update(cpu_ms_per_declaration(before, stack.cpu_seconds(), count))
    return count / (finished - started)


class LeanClient:
    """HTTP/1.1 on one kept-alive connection, with nothing but what the benchmark needs.
    The load generator shares the cores with what it measures: httpx spent about 1.1 ms
    of CPU per request (and 400 async httpx clients three times the CPU of the API they
    measured), which real clients spend on their own machines; this client spends a
    small fraction of it."""

    def __init__(self, url: str, token: str) -> None:
        parsed = httpx.URL(url)
        self.host, self.port = parsed.host, parsed.port or 80
        self.head = f"Host: {self.host}:{self.port}\r\nAuthorization: Bearer {token}\r\n"
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        assert self.reader is not None
        assert self.writer is not None
        payload = b"" if body is None else orjson.dumps(body)
        head = f"{method} {path} HTTP/1.1\r\n{self.head}"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + payload)
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, orjson.loads(await self.reader.readexactly(length))


def single_rate(
    stack: Running, count: int, label: str, clients: int = 8, cpu: dict[str, float] | None = None
) -> float:
    """`clients` clients post one declaration after another (each waits for its 202),
    until all are decided; `cpu` gets the CPU per declaration, by part."""
    bodies = declarations(count, seed=1, label=label)
    _register_permits(stack.store, count, label)

    async def post(chunk: list[dict[str, Any]]) -> None:
        http = LeanClient(stack.url, TOKEN)
        await http.connect()
        try:
            for body in chunk:
                status, answer = await http.request("POST", "/v1/declarations", body)
                if status != 202:
                    raise RuntimeError(f"{status} {answer}")
        finally:
            await http.close()

    async def all_clients() -> None:
        await asyncio.gather(*(post(bodies[index::clients]) for index in range(clients)))

    before = stack.cpu_seconds()
    started = time.monotonic()
    asyncio.run(all_clients())
    finished = _wait_all(stack.store, [body["declaration_id"] for body in bodies])
    if cpu is not None:
        cpu.update(cpu_ms_per_declaration(before, stack.cpu_seconds(), count))
    return count / (finished - started)


def batch_rate(
    stack: Running,
    count: int,
    label: str,
    size: int = 100,
    clients: int = 4,
    cpu: dict[str, float] | None = None,
) -> float:
    """`clients` clients post batches of `size`, until all are decided; `cpu` gets the
    CPU per declaration, by part."""
    bodies = declarations(count, seed=2, label=label)
    _register_permits(stack.store, count, label)
    batches = [bodies[index : index + size] for index in range(0, count, size)]

    def post(chunk: list[list[dict[str, Any]]]) -> None:
        with httpx.Client(
            base_url=stack.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60
        ) as client:
            for batch in chunk:
                response = client.post("/v1/declarations/batch", json={"declarations": batch})
                if response.status_code != 202:
                    raise RuntimeError(response.text)

    before = stack.cpu_seconds()
    started = time.monotonic()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(post, [batches[index::clients] for index in range(clients)]))
    finished = _wait_all(stack.store, [body["declaration_id"] for body in bodies])
    if cpu is not None:
        cpu.update(cpu_ms_per_declaration(before, stack.cpu_seconds(), count))
    return count / (finished - started)


@contextlib.contextmanager
def settled(stack: Running, into: dict[str, Any]) -> Iterator[None]:
    """Into `into`, for the declarations decided during the block: how many the API's
    sweeper had to enqueue again (`decided_by_sweeper`) and how many its watch for lost
    tasks did (`requeued_lost`: no worker took them and the broker no longer held their
    task, workers/schedule.py), both 0 in a healthy run since their first task never
    decided them; and the slowest one, submission to verdict (`max_decision_s`)."""
    counters = {"decided_by_sweeper": "requeued:sweeper", "requeued_lost": "requeued:lost"}
    stats = stack.store.stats()
    before = {name: stats.get(counter, 0) for name, counter in counters.items()}
    started = time.time()
    yield
    decided = stack.store.decided_between(started, time.time())
    stats = stack.store.stats()
    into.update({name: stats.get(counter, 0) - before[name] for name, counter in counters.items()})
    into["max_decision_s"] = round(max(stack.store.decision_seconds(decided), default=0.0), 2)
    if stack.logs is not None and any(into[name] for name in counters):
        into["logs"] = str(keep_logs(stack.logs))


KEPT_LOGS = Path(tempfile.gettempdir()) / "accord-bench-logs"


def keep_logs(directory: Path) -> Path:
    """A copy of a stack's worker and API logs, outside the run's temporary directory
    (which goes with the run): where to look when first tasks went missing."""
    kept = KEPT_LOGS / f"{time.strftime('%Y%m%dT%H%M%S')}-{directory.name}"
    kept.mkdir(parents=True, exist_ok=True)
    for name in ("worker.log", "api.log"):
        if (directory / name).exists():
            shutil.copy(directory / name, kept / name)
    return kept


SLOW_REDIS_US = 5000  # a Redis command this long (5 ms) is a stall at half load


def latency(stack: Running, rate: float, seconds: float, label: str) -> dict[str, Any]:
    """Submit at a fixed rate (open loop); latency is submission to verdict, as stored.
    `tail` says where the slowest 1 % spent it: answering the submission (the API, from
    the client's side) or after it (queue, worker, store), over how long they were
    decided, which Redis commands took 5 ms or more meanwhile (SLOWLOG), Redis's own
    stalls of 5 ms or more (LATENCY LATEST: a fork, the append-only file's writes) and
    its forks (an AOF rewrite): the evidence for what made that run's p99."""
    count = max(int(rate * seconds), 10)
    bodies = declarations(count, seed=3, label=label)
    _register_permits(stack.store, count, label)
    interval = 1.0 / rate
    next_index = 0
    answered_ms = [0.0] * count

    async def sender() -> None:
        nonlocal next_index
        http = LeanClient(stack.url, TOKEN)
        await http.connect()
        try:
            while next_index < count:
                index, next_index = next_index, next_index + 1
                delay = started + index * interval - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                sent = time.monotonic()
                await http.request("POST", "/v1/declarations", bodies[index])
                answered_ms[index] = (time.monotonic() - sent) * 1000
        finally:
            await http.close()

    async def senders() -> None:
        await asyncio.gather(*(sender() for _ in range(16)))

    redis = stack.store.client
    rewrite_append_only_file(redis)
    redis.config_set("slowlog-log-slower-than", SLOW_REDIS_US)
    redis.config_set("latency-monitor-threshold", SLOW_REDIS_US // 1000)
    redis.slowlog_reset()
    redis.execute_command("LATENCY", "RESET")
    forks = redis.info("stats")["total_forks"]
    checkpoints = redis.llen(stack.store.checkpoints_key)
    # the load generator's own heap (the earlier parts' results, the bodies) out of its
    # full collections: a 50 ms pause here sends the next declarations in a burst, whose
    # queue would read as the stack's latency
    gc.collect()
    gc.freeze()
    started = time.monotonic()
    try:
        asyncio.run(senders())
    finally:
        gc.unfreeze()
    ids = [body["declaration_id"] for body in bodies]
    _wait_all(stack.store, ids)
    slow = redis.slowlog_get(128)
    # Redis's own stalls of 5 ms or more, by kind (fork, aof-write, aof-fsync-always,
    # expire-cycle, command, ...): the longest of each
    stalls = {
        (name.decode() if isinstance(name, bytes) else name): int(longest)
        for name, _, _, longest in redis.execute_command("LATENCY", "LATEST")
    }
    forks = redis.info("stats")["total_forks"] - forks
    checkpoints = redis.llen(stack.store.checkpoints_key) - checkpoints
    latencies, decided_at = [], []
    for declaration_id in ids:
        record = stack.store.get(declaration_id)
        if record is None or record.decided_at is None:
            raise RuntimeError(f"{declaration_id} has no verdict")
        decided = datetime.fromisoformat(record.decided_at.replace("Z", "+00:00")).timestamp()
        latencies.append((decided - record.submitted_at) * 1000)
        decided_at.append(decided)
    order = sorted(range(count), key=latencies.__getitem__)
    tail = order[int(count * 0.99) :]
    longest = max(slow, key=lambda entry: entry["duration"], default=None)
    return {
        "offered_per_s": round(rate, 1),
        "p50_ms": round(statistics.median(latencies), 1),
        "p99_ms": round(latencies[order[min(count - 1, int(count * 0.99))]], 1),
        "tail": {
            "declarations": len(tail),
            "answered_ms_median": round(statistics.median(answered_ms[i] for i in tail), 1),
            "answered_ms_max": round(max(answered_ms[i] for i in tail), 1),
            "after_answer_ms_median": round(
                statistics.median(latencies[i] - answered_ms[i] for i in tail), 1
            ),
            # over how long the tail was decided: a fraction of a second is one stall,
            # most of the run's seconds a tail spread through it
            "decided_over_s": round(
                max(decided_at[i] for i in tail) - min(decided_at[i] for i in tail), 2
            ),
            "run_s": round(max(decided_at) - min(decided_at), 2),
            "redis_commands_over_5_ms": len(slow),
            "redis_longest_ms": round(longest["duration"] / 1000, 1) if longest else 0.0,
            "redis_longest_command": _command_name(longest["command"]) if longest else "",
            "redis_stalls_ms": stalls,
            "redis_forks": forks,
            # the API's sweep tick checkpoints the trails changed since the last, in
            # pieces (workers/schedule.py): how many fell in the window
            "checkpoints_written": checkpoints,
        },
    }


def rewrite_append_only_file(redis: Any) -> None:
    """Rewrite the stack's append-only file now and wait for it. Redis rewrites it on its
    own once it has grown past 64 MB, which the parts before the latency part take it to;
    the rewrite's child takes a core for about a second, and on two shared cores every
    declaration in flight meanwhile waits 50 to 200 ms (the p99 of a window that holds
    it). Done before the window, the file then has to double before the next."""
    with contextlib.suppress(ResponseError):  # one already running: wait for it
        redis.bgrewriteaof()
    while True:
        persistence = redis.info("persistence")
        if not (persistence["aof_rewrite_in_progress"] or persistence["aof_rewrite_scheduled"]):
            return
        time.sleep(0.05)


def _command_name(command: bytes | str) -> str:
    """A SLOWLOG entry's command, its name and first argument (a script's sha, a key)."""
    text = command.decode(errors="replace") if isinstance(command, bytes) else command
    return " ".join(text.split()[:2])


def all_at_once(clients: int, client: Callable[[int, asyncio.Event], Awaitable[None]]) -> float:
    """Start `clients` coroutines `client(index, start)`, give them a second to connect,
    then release them together with `start`: seconds from the release to the last one's
    end (the opening rushes of the waiters and of the permit desk)."""

    async def rush() -> float:
        start = asyncio.Event()
        tasks = [asyncio.create_task(client(index, start)) for index in range(clients)]
        await asyncio.sleep(1.0)  # every client connected, then all at once
        began = time.monotonic()
        start.set()
        await asyncio.gather(*tasks)
        return time.monotonic() - began

    return asyncio.run(rush())


def waiters_latency(
    stack: Running, label: str, clients: int = WAITERS, rounds: int = 3
) -> dict[str, float]:
    """`clients` clients, each on its own connection with its own token, start at once;
    each submits a declaration of its own and long-polls it (`?wait=30`) until its verdict
    arrives, `rounds` times over. Latency is what each client sees, from sending the
    submission to reading the verdict."""
    count = clients * rounds
    bodies = declarations(count, seed=4, label=label)
    _register_permits(stack.store, count, label)
    latencies: list[float] = []

    async def client(index: int, start: asyncio.Event) -> None:
        http = LeanClient(stack.url, waiter_token(index))
        await http.connect()
        try:
            await start.wait()
            for body in bodies[index::clients]:
                sent = time.monotonic()
                status, answer = await http.request("POST", "/v1/declarations", body)
                if status != 202:
                    raise RuntimeError(f"{status} {answer}")
                path = f"/v1/declarations/{body['declaration_id']}?wait=30"
                while True:
                    status, answer = await http.request("GET", path)
                    if status != 200:
                        raise RuntimeError(f"{status} {answer}")
                    if answer["status"] not in ("queued", "evaluating"):
                        break
                latencies.append((time.monotonic() - sent) * 1000)
        finally:
            await http.close()

    seconds = all_at_once(clients, client)
    latencies.sort()
    return {
        "waiters": clients,
        "declarations": count,
        "p50_ms_400_waiters": round(statistics.median(latencies), 1),
        "p99_ms_400_waiters": round(latencies[min(count - 1, int(count * 0.99))], 1),
        "declarations_per_s_400_waiters": round(count / seconds, 1),
    }


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def memory_growth(
    directory: Path, total: int = 100_000, baseline_at: int = 10_000
) -> dict[str, float]:
    """RSS of a process running the worker's own decide() loop (engine + store on a real
    Redis, without Celery), after `baseline_at` and after `total` declarations."""
    redis = EmbeddedRedis(directory / "redis-memory", fsync="no").start()
    store = RedisStore.from_url(redis.url, prefix="mem")
    catalog = load_catalog()
    try:
        rss_at_baseline = 0
        for start in range(0, total, 1000):
            bodies = declarations(1000, seed=start, label=f"m{start}")
            issue_permits(store, catalog, range(1000), f"m{start}")
            for body in bodies:
                from schemas.declaration import Declaration

                parsed = Declaration.model_validate(body)
                store.submit(parsed.declaration_id, parsed.canonical_json(), parsed.body_sha256(),
                             parsed.importer.business_number, time.time(), trail.received(parsed, "bench"))  # fmt: skip
                decide(store, catalog, parsed.declaration_id)
            if start + 1000 == baseline_at:
                rss_at_baseline = _rss_kb()
        rss_at_end = _rss_kb()
    finally:
        store.close()
        redis.stop()
    return {
        "rss_mb_at_10k": round(rss_at_baseline / 1024, 1),
        "rss_mb_at_100k": round(rss_at_end / 1024, 1),
        "rss_growth_pct": round((rss_at_end - rss_at_baseline) * 100 / rss_at_baseline, 2),
    }


def scaling(directory: Path, count: int, processes: tuple[int, ...] = (1, 2, 4)) -> dict[str, Any]:
    """Batch throughput with each number of worker processes, each on a fresh stack (one
    API process and one Redis, on the same machine as the workers)."""
    rates: dict[str, float] = {}
    settling: dict[str, dict[str, Any]] = {}
    for workers in processes:
        with running_stack(directory / f"scaling-{workers}", workers=workers) as stack:
            settling[str(workers)] = {}
            with settled(stack, settling[str(workers)]):
                rates[str(workers)] = round(batch_rate(stack, count, f"scale{workers}"), 1)
    first = rates[str(processes[0])]
    return {
        "cores": os.cpu_count(),
        "declarations": count,
        "declarations_per_s": rates,
        "vs_one_worker": {workers: round(rate / first, 2) for workers, rate in rates.items()},
        "settled": settling,
    }


@contextlib.contextmanager
def profiled(stack: Running, name: str, directory: Path | None) -> Iterator[None]:
    """With a directory, py-spy samples the API and the worker (its pool included) while
    the block runs, counting only threads that hold the GIL (CPU, not waiting), and
    writes each one's stacks and their top entries there (`pip install py-spy`)."""
    if directory is None:
        yield
        return
    directory.mkdir(parents=True, exist_ok=True)
    beside = Path(sys.executable).with_name("py-spy")  # installed in the same environment
    spy_command = str(beside) if beside.exists() else "py-spy"
    spies = {}
    for part, extra in (("api", []), ("worker", ["--subprocesses"])):
        spies[part] = subprocess.Popen(
            [spy_command, "record", "--pid", str(stack.pids[part]), "--gil", "--rate", "250",
             "--format", "raw", "--nonblocking", "-o", str(directory / f"{name}-{part}.txt"),
             *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
    time.sleep(1)  # attached
    try:
        yield
    finally:
        for spy in spies.values():
            spy.send_signal(signal.SIGINT)
        for part, spy in spies.items():
            spy.wait(timeout=60)
            samples = directory / f"{name}-{part}.txt"
            if samples.exists():
                (directory / f"{name}-{part}-top.txt").write_text(top_entries(samples))


def top_entries(samples: Path, count: int = 40) -> str:
    """The functions most often on the stack (inclusive) and at its top (self), as
    shares of all samples, from py-spy's raw (collapsed) output."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in samples.read_text().splitlines():
        stack, _, weight = line.rpartition(" ")
        names = [frame.rsplit(":", 1)[0] + ")" for frame in stack.split(";") if "(" in frame]
        if not names:
            continue
        total += int(weight)
        for frame in set(names):
            inclusive[frame] += int(weight)
        own[names[-1]] += int(weight)
    rows = [f"{total} samples", "-- inclusive"]
    rows += [f"{n * 100 / total:5.1f}%  {frame}" for frame, n in inclusive.most_common(count)]
    rows += ["-- self"]
    rows += [f"{n * 100 / total:5.1f}%  {frame}" for frame, n in own.most_common(count)]
    return "\n".join(rows) + "\n"


def run(
    single: int = 3000,
    batch: int = 6000,
    noop: int = 5000,
    memory_total: int = 100_000,
    scaling_count: int = 3000,
    parts: tuple[str, ...] = PARTS,
    profile: Path | None = None,
) -> dict[str, Any]:
    """Every part by default; `parts` picks some (the latency at half load measures the
    single-submission rate first, since half of it is the load it offers). With
    `profile`, the single, batch and waiters parts are profiled into that directory."""
    e2e: dict[str, Any] = {}
    lat: dict[str, Any] = {}
    results: dict[str, Any] = {"e2e": e2e, "latency": lat}
    with tempfile.TemporaryDirectory(prefix="accord-bench-") as tmp:
        directory = Path(tmp)
        with running_stack(directory) as stack:
            if "single" in parts or "latency" in parts:
                noop_cpu: dict[str, float] = {}
                single_cpu: dict[str, float] = {}
                noop_per_s = noop_rate(stack, noop, cpu=noop_cpu)
                single_settled: dict[str, Any] = {}
                with profiled(stack, "single", profile), settled(stack, single_settled):
                    single_per_s = single_rate(stack, single, "single", cpu=single_cpu)
                e2e["single"] = {
                    "settled": single_settled,
                    "declarations_per_s": round(single_per_s, 1),
                    "vs_celery_noop": round(single_per_s / noop_per_s, 3),
                    "celery_noop_per_s": round(noop_per_s, 1),
                    "cpu_ms_per_declaration": single_cpu,
                    "celery_noop_cpu_ms_per_task": noop_cpu,
                }
            if "batch" in parts:
                batch_cpu: dict[str, float] = {}
                batch_settled: dict[str, Any] = {}
                with profiled(stack, "batch", profile), settled(stack, batch_settled):
                    batch_per_s = batch_rate(stack, batch, "batch", cpu=batch_cpu)
                e2e["batch"] = {
                    "settled": batch_settled,
                    "declarations_per_s": round(batch_per_s, 1),
                    "batch_size": 100,
                    "cpu_ms_per_declaration": batch_cpu,
                }
            if "latency" in parts:
                lat["settled_half_load"] = {}
                with settled(stack, lat["settled_half_load"]):
                    lat.update(latency(stack, single_per_s / 2, 15, "latency"))
        if "waiters" in parts:
            with (
                running_stack(directory / "waiters", waiters=WAITERS) as stack,
                profiled(stack, "waiters", profile),
            ):
                lat["settled_400_waiters"] = {}
                with settled(stack, lat["settled_400_waiters"]):
                    lat.update(waiters_latency(stack, "waiters"))
        if "memory" in parts:
            results["memory"] = memory_growth(directory, total=memory_total)
        if "scaling" in parts:
            e2e["scaling"] = scaling(directory, scaling_count)
    return results
