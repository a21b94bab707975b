"""Celery tasks: ten-line adapters around `workers.evaluation`.

A declaration that cannot be evaluated ends `failed` with the error in words, inside
`decide_many`, without stopping the others of its chunk. Redis being unreachable is
retried with exponential backoff; if it stays down past the retries, the declarations
are still stored and undecided, and the sweeper enqueues them again when it is back.
"""

from __future__ import annotations

import logging
from typing import Any

from service.settings import get_settings
from store.errors import StoreUnavailable
from workers import context, evaluation
from workers.app import app

log = logging.getLogger(__name__)


@app.task(name="accord.evaluate", bind=True, acks_late=True)
def evaluate(self: Any, declaration_id: str) -> str:
    return _decide_all(self, [declaration_id])[0]


@app.task(name="accord.evaluate_many", bind=True, acks_late=True)
def evaluate_many(self: Any, declaration_ids: list[str]) -> list[str]:
    """A chunk of a batch submission; each declaration is decided on its own."""
    return _decide_all(self, declaration_ids)


def _decide_all(task: Any, declaration_ids: list[str]) -> list[str]:
    store = context.store()
    try:
        return evaluation.decide_many(store, context.catalog(), declaration_ids)
    except StoreUnavailable as exc:
        # Retry the whole message: the declarations already decided return at once.
        retries = int(task.request.retries)
        if retries < get_settings().task_retries:
            raise task.retry(exc=exc, countdown=min(2**retries, 30)) from exc
        log.error("declarations %s: Redis kept failing: %s", declaration_ids, exc)
        raise  # the declarations stay stored; the sweeper enqueues them again


@app.task(name="accord.noop", acks_late=True)
def noop(counter: str) -> None:
    """Does nothing but count: the ceiling `make bench` compares evaluation against."""
    context.store().count({counter: 1})
