"""The periodic jobs: what the API's sweep runs at every tick (ACCORD_SWEEP_AFTER / 4;
service/api.py keeps the clock, `accord run` starts the API that keeps it). In order:

1. the daily pro-rata runs of every day before today with requests waiting
   (workers/allocation.py), and the permits that expired unused give their units back;
2. declarations stored long ago without a verdict are enqueued again;
3. the audit heads that changed are checkpointed;
4. once a day, across the API processes, closed declarations are archived
   (workers/retention.py).

Besides, on a quicker clock (ACCORD_LOST_AFTER / 4), the watch for lost tasks
(`requeue_lost`): a declaration no worker has taken whose task the broker no longer
holds is enqueued again within seconds, not after ACCORD_SWEEP_AFTER."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from rules.catalog import Catalog
from schemas.verification import Checkpoint
from settings import Settings
from store import AuditTrails, RedisStore, StoreError, now_rfc3339
from workers import allocation, permits, retention
from workers.submission import Send

log = logging.getLogger(__name__)

CHECKPOINT_PIECE = 250  # trails per audit checkpoint
CHECKPOINT_PAUSE = 0.01  # seconds between two checkpoints of one tick: others' turn
LOST_SCAN = 1000  # broker messages read at most per look; a longer queue is a backlog
LOST_RECHECK = 1.0  # seconds between the two looks that must both miss a declaration


def allocation_runs(store: RedisStore, catalog: Catalog, send: Send) -> None:
    """The daily pro-rata runs: every day before today with requests waiting is run (an
    administrator may run a day earlier with POST /v1/quotas/{id}/runs); and the
    permits that expired unused give their units back."""
    today = datetime.now(UTC).date()
    allocation.run_due(store, catalog, today, send)
    for number in permits.expire_all(store, catalog, today):
        log.info("permit %s expired unused; its units returned", number)


def requeue_stale(store: RedisStore, queues: Sequence[str], sweep_after: float, send: Send) -> None:
    """Enqueue again what was stored but not decided long ago: a message lost between
    the store and the broker, or dropped by a broker that restarted, is found here.
    Only when the queues are empty, so a long but healthy backlog is not duplicated."""
    if any(store.queue_depth(queue) > 0 for queue in queues):
        return
    now = time.time()
    stale = store.pending_since(now - sweep_after)
    for declaration_id in stale:
        store.touch_pending(declaration_id, now)
    if stale:
        # a healthy service never gets here: each of these lost its first task
        log.warning(
            "re-enqueueing %d declarations stored %d s ago or more without a verdict: %s",
            len(stale),
            sweep_after,
            " ".join(stale[:10]) + (" …" if len(stale) > 10 else ""),
        )
        store.count({"requeued:sweeper": len(stale)})
        send(stale)


def requeue_lost(
    store: RedisStore,
    queues: Sequence[str],
    lost_after: float,
    send: Send,
    recheck: float = LOST_RECHECK,
) -> list[str]:
    """Enqueue again the declarations whose task is lost: stored more than `lost_after`
    seconds ago, still `queued` (no worker has taken them: store/lua/begin.lua makes a
    take `evaluating`), and named by no task message the broker holds, neither waiting
    in the queues nor taken by a worker in the last `lost_after` seconds and still
    unacknowledged. Returns them.

    Kombu's Redis transport takes a message off the queue with BRPOP, then records it in
    its `unacked` hash, then hands it to a pool process. A message dropped between the
    pop and the record is in neither place; one recorded but never handed on stays in
    `unacked` until the visibility timeout and kombu's restore cadence return it (five
    minutes and more). Either way its declarations would wait for the sweeper
    (ACCORD_SWEEP_AFTER, minutes). A worker holds one message beyond the one it runs
    (workers/app.py), and a task takes a second or so, so a message taken `lost_after`
    ago whose declarations no worker has begun is stranded, not waiting its turn.

    A message is in neither place for the moment between the pop and the record, so a
    declaration must be missed by two looks `recheck` seconds apart. A backlog is left
    alone: with more than LOST_SCAN messages waiting, the declarations behind it are
    waiting, not lost, and the sweeper is there for the rare one that is. Evaluations
    are idempotent, so a declaration enqueued twice (by a race, or when kombu restores
    its stranded message later) is decided once."""
    suspects = _unheld(store, queues, lost_after)
    if not suspects:
        return []
    time.sleep(recheck)
    lost = sorted(set(suspects) & set(_unheld(store, queues, lost_after)))
    if not lost:
        return []
    now = time.time()
    for declaration_id in lost:
        store.touch_pending(declaration_id, now)
    log.warning(
        "re-enqueueing %d declarations no worker took, whose task the broker no longer holds: %s",
        len(lost),
        " ".join(lost[:10]) + (" …" if len(lost) > 10 else ""),
    )
    store.count({"requeued:lost": len(lost)})
    send(lost)
    return lost


def _unheld(store: RedisStore, queues: Sequence[str], lost_after: float) -> list[str]:
    """Declarations stored more than `lost_after` s ago, still queued, with no task in
    the broker (none when the queues hold a backlog)."""
    old = store.pending_since(time.time() - lost_after)
    if not old:
        return []
    queued = [
        item for item, status in zip(old, store.statuses(old), strict=True) if status == "queued"
    ]
    if not queued:
        return []
    holds = store.broker_holds(queues, LOST_SCAN, taken_since=time.time() - lost_after)
    if holds is None:
        return []
    held = set(holds.waiting)
    # A message taken a while ago is running if a declaration of it is begun. While one
    # is, the messages taken beside it wait their turn (a worker holds one beyond the one
    # it runs, and a slow task on a busy machine, or one waiting out a Redis retry, can
    # outlast `lost_after`): they are held, and the sweeper is there for the rare one
    # stranded meanwhile. With none running, a message taken that long ago is stranded.
    running = any(
        any(status != "queued" for status in store.statuses(sorted(named)))
        for named in holds.taken_earlier
    )
    if running:
        for named in holds.taken_earlier:
            held.update(named)
    return [item for item in queued if item not in held]


def write_checkpoints(store: AuditTrails, pause: float = CHECKPOINT_PAUSE) -> list[Checkpoint]:
    """Checkpoint the audit heads that changed since the last tick (none when nothing
    changed), so that an auditor can show what existed at a time (docs/security.md).

    In checkpoints of CHECKPOINT_PIECE trails, a pause between two: one checkpoint of
    the 3,000 trails a busy tick changes held Redis for about 210 ms (its script and
    its one large list entry) and took 0.6 s of the API's CPU, and every declaration
    in flight waited behind it, which was the p99 of the latency at half load whenever
    a tick fell in its window; twelve of 250 take about 5 ms of Redis each, 0.1 s in
    all (docs/performance.md)."""
    written: list[Checkpoint] = []
    while True:
        piece = store.write_checkpoint(now_rfc3339(), limit=CHECKPOINT_PIECE)
        if piece is None:
            return written
        written.append(piece)
        if len(piece.declarations) < CHECKPOINT_PIECE:
            return written
        time.sleep(pause)


def checkpoint(store: AuditTrails) -> None:
    for written in write_checkpoints(store):
        log.info("audit checkpoint %d: %d trails", written.seq, len(written.declarations))


@dataclass(frozen=True)
class Schedule:
    """One API process's periodic jobs, on its store and catalog: `send` takes the
    declarations a job enqueues (the bulk queue's), `queues` are the workers' queues
    the sweeper looks at."""

    store: RedisStore
    catalog: Catalog
    settings: Settings
    queues: Sequence[str]
    send: Send

    def steps(self) -> list[Callable[[], None]]:
        """The tick's jobs in order, each run on its own (the API runs each in a thread,
        off its event loop); one that raises ends the tick, and the next tick tries
        again."""
        return [
            lambda: allocation_runs(self.store, self.catalog, self.send),
            lambda: requeue_stale(self.store, self.queues, self.settings.sweep_after, self.send),
            lambda: checkpoint(self.store),
            lambda: retention.archive_daily(self.store, self.settings),  # one process a day
        ]

    def lost_tasks(self) -> None:
        """The watch for lost tasks, every ACCORD_LOST_AFTER / 4 s. Only when Redis is the
        broker (another broker's queues cannot be read here); Redis away is no error: the
        API's watch of Redis re-enqueues what is pending on its return."""
        if self.settings.broker_url not in (None, self.settings.redis_url):
            return
        try:
            # one API process a tick watches (each would find the same declarations)
            if not self.store.claim("watch:lost", max(1, int(self.settings.lost_after / 4))):
                return
            requeue_lost(self.store, self.queues, self.settings.lost_after, self.send)
        except StoreError as exc:
            log.debug("the watch for lost tasks skipped a tick: %s", exc)
