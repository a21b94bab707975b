"""Celery tasks: ten-line adapters around `workers.evaluation`.

A transient store error (Redis unreachable, loading) is retried with exponential
backoff; anything else, or too many retries, ends the declaration in `failed` with the
error in words rather than in a silent retry loop. If Redis stays down even for that,
the declaration is still stored and unevaluated, and the sweeper enqueues it again.
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
    statuses = []
    for declaration_id in declaration_ids:
        try:
            statuses.append(evaluation.decide(store, context.catalog(), declaration_id))
        except StoreUnavailable as exc:
            # Retry the whole message: the declarations already decided return at once.
            retries = int(task.request.retries)
            if retries < get_settings().task_retries:
                raise task.retry(exc=exc, countdown=min(2**retries, 30)) from exc
            log.error("declaration %s: Redis kept failing: %s", declaration_id, exc)
            evaluation.fail(store, declaration_id, f"the store stayed unavailable: {exc}")
            statuses.append("failed")
        except Exception as exc:
            log.exception("declaration %s could not be evaluated", declaration_id)
            evaluation.fail(store, declaration_id, f"{type(exc).__name__}: {exc}")
            statuses.append("failed")
    return statuses


@app.task(name="accord.noop", acks_late=True)
def noop(counter: str) -> None:
    """Does nothing but count: the ceiling `make bench` compares evaluation against."""
    context.store().count({counter: 1})
