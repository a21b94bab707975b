"""Celery tasks: ten-line adapters around `workers.evaluation`.

A declaration that cannot be evaluated ends `failed` with the error in words, inside
`decide_many`, without stopping the others of its chunk.

Redis being unreachable is waited out here, in the task, and the chunk decided again as
soon as Redis answers. Not with `task.retry`: the retry is a new message, published to
the very Redis that is down, and Celery drops the original (`Reject(requeue=False)`)
when that publish fails, which left declarations undecided until the sweeper found them
minutes later. If Redis stays away past the wait, the task gives up; the declarations are
still stored and pending, and the API re-enqueues every pending declaration the moment it
sees Redis again (`service/recovery.py`).
"""

from __future__ import annotations

import logging
import time

from settings import get_settings
from store import Operations, StoreError, StoreUnavailable
from workers import context, evaluation, webhook_delivery
from workers.app import BULK_QUEUE, app

log = logging.getLogger(__name__)


@app.task(name="accord.evaluate", acks_late=True)
def evaluate(declaration_id: str) -> str:
    return _decide_all([declaration_id])[0]


# Lines a bulk task decides before it hands the rest of its chunk back to the queue.
LINES_PER_TASK = 1000


@app.task(name="accord.evaluate_many", acks_late=True)
def evaluate_many(declaration_ids: list[str]) -> list[str]:
    """A chunk of a batch submission; each declaration is decided on its own. At most
    LINES_PER_TASK lines of it (one declaration at least) are decided here, and the rest
    goes to the back of the bulk queue: behind whatever other importers queued meanwhile,
    and with the worker free for the single declarations between, so that no importer's
    thousands of lines hold a worker for seconds. (Should the worker die between the
    two, the whole chunk comes back: what was decided returns at once.)"""
    now, rest = first_lines(declaration_ids, context.store().line_counts(declaration_ids))
    statuses = _decide_all(now)
    if rest:
        app.send_task("accord.evaluate_many", args=[rest], queue=BULK_QUEUE)
    return statuses


def first_lines(
    declaration_ids: list[str], line_counts: list[int], limit: int = LINES_PER_TASK
) -> tuple[list[str], list[str]]:
    """The leading declarations of a chunk that hold at most `limit` lines together (at
    least one, however long), and the rest."""
    total = 0
    for position, lines in enumerate(line_counts):
        total += lines
        if total > limit and position > 0:
            return declaration_ids[:position], declaration_ids[position:]
    return declaration_ids, []


WAIT_FOR_REDIS = 30.0  # seconds a task waits for Redis to answer again, per attempt
POLL = 0.2


def _decide_all(declaration_ids: list[str]) -> list[str]:
    store = context.store()
    attempts = get_settings().task_retries + 1
    for attempt in range(1, attempts + 1):
        try:
            # the whole chunk again: the declarations already decided return at once
            return evaluation.decide_many(store, context.catalog(), declaration_ids)
        except StoreUnavailable as exc:
            if attempt == attempts or not _wait_for(store, WAIT_FOR_REDIS):
                log.error("declarations %s: Redis kept failing: %s", declaration_ids, exc)
                raise  # still stored and pending: re-enqueued when Redis is seen again
            log.warning("Redis was away (%s); deciding %d again", exc, len(declaration_ids))
    raise AssertionError("unreachable")


def _wait_for(store: Operations, seconds: float) -> bool:
    """Whether Redis answers within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            return store.ping()
        except StoreError:
            time.sleep(POLL)
    return False


@app.task(name="accord.noop", acks_late=True)
def noop(counter: str) -> None:
    """Does nothing but count: the ceiling `make bench` compares evaluation against."""
    context.store().count({counter: 1})


@app.task(name=webhook_delivery.DELIVER_TASK, acks_late=True)
def deliver_webhook(delivery: str) -> str:
    """One attempt at one webhook delivery (the delivery worker's queue only)."""
    return webhook_delivery.deliver(context.store(), delivery, get_settings())
