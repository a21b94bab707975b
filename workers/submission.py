"""Submitting declarations (SPEC §7, §8): the workflow between a caller that holds parsed
declarations (the API's POST /v1/declarations and /batch, `accord simulate`) and the
store. A declaration customs has not accepted yet is refused; the others are stored, each
in one atomic step with the first events of its trail, and the ones new to the store are
handed to `send` to be decided.

Storing is what a 202 promises, not the hand-over: should `send` fail, the stored
declarations stay pending and the sweeper enqueues them again (workers/schedule.py)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from rules import trail
from schemas.declaration import Declaration, body_sha256_of
from store import Declarations, SubmitResult

log = logging.getLogger(__name__)

Send = Callable[[list[str]], None]
"""Hands declaration ids on to be decided: the API's enqueuer, or `accord simulate`'s
own deciding; every workflow that sends declarations on takes one."""


@dataclass(frozen=True)
class TooEarly:
    """Not stored: customs has not accepted the declaration yet; `message` says so."""

    message: str


def submit(
    store: Declarations,
    declarations: Sequence[Declaration],
    by: str,
    send: Send,
    now: datetime,
) -> list[SubmitResult | TooEarly]:
    """Store each declaration on behalf of `by` (in one round trip), and send the new ones
    on; one result per declaration, in order: TooEarly, or the store's outcome (created,
    existing, conflict) with the stored status. `now` is the time the too-early check
    reads; the time stored, which the sweeper goes by, is the clock's."""
    results: list[SubmitResult | TooEarly | None] = [None] * len(declarations)
    good: list[tuple[int, Declaration]] = []
    for index, declaration in enumerate(declarations):
        early = declaration.too_early(now)
        if early is not None:
            results[index] = TooEarly(early)
        else:
            good.append((index, declaration))
    submitted_at = time.time()
    bodies = [declaration.canonical_json() for _, declaration in good]
    stored = store.submit_many([
        (declaration.declaration_id, body, sha, declaration.importer.business_number,
         submitted_at, trail.received(declaration, by, sha))
        for (_, declaration), body, sha in zip(
            good, bodies, map(body_sha256_of, bodies), strict=True
        )
    ]) if good else []  # fmt: skip
    created = []
    for (index, declaration), result in zip(good, stored, strict=True):
        results[index] = result
        if result.outcome == "created":
            created.append(declaration.declaration_id)
    if created:
        try:
            send(created)
        except Exception:  # stored is what 202 promises; the sweeper enqueues them again
            log.exception("could not enqueue %d declarations; the sweeper will", len(created))
    return [result for result in results if result is not None]
