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
    store = context.store()
    try:
        return evaluation.decide(store, context.catalog(), declaration_id)
    except StoreUnavailable as exc:
        retries = int(self.request.retries)
        if retries < get_settings().task_retries:
            raise self.retry(exc=exc, countdown=min(2**retries, 30)) from exc
        log.error("declaration %s: Redis kept failing: %s", declaration_id, exc)
        evaluation.fail(store, declaration_id, f"the store stayed unavailable: {exc}")
        return "failed"
    except Exception as exc:
        log.exception("declaration %s could not be evaluated", declaration_id)
        evaluation.fail(store, declaration_id, f"{type(exc).__name__}: {exc}")
        return "failed"


@app.task(name="accord.noop", acks_late=True)
def noop(counter: str) -> None:
    """Does nothing but count: the ceiling `make bench` compares evaluation against."""
    context.store().count({counter: 1})
