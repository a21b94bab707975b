"""Cancelling a declaration (SPEC §6): the protocol between a caller (the API) and the
store, kept out of the route so that it reads as one sequence.

First the status becomes `cancelled`, as a compare-and-set on the status read: no worker
can take the declaration afterwards, and one that took it meanwhile makes the cancel a
conflict. Then whatever it holds (quota, a permit's units, VINs) goes back. The second
step is idempotent, so a cancel retried after a failure between the two completes it."""

from __future__ import annotations

from datetime import date
from typing import Any

from store import DeclarationRecord, Store, now_rfc3339


class NotCancellable(Exception):
    """The declaration cannot be cancelled now: `error` says why, `detail` what to do."""

    def __init__(self, error: str, detail: Any) -> None:
        super().__init__(error)
        self.error = error
        self.detail = detail


def cancel(store: Store, record: DeclarationRecord, by: str, day: date) -> DeclarationRecord:
    """Cancel the declaration of `record` (as read just before) on behalf of `by`, with
    `day` as the ledger date of what it gives back; returns the record afterwards."""
    declaration_id = record.declaration_id
    if record.archive is not None:
        raise NotCancellable("declaration is archived", "its trail is closed; nothing to cancel")
    if record.status == "evaluating":
        raise NotCancellable("declaration is being evaluated", "try again in a moment")
    if record.status != "cancelled":
        outcome = store.record(
            declaration_id,
            [("cancelled", {"by": by, "previous_status": record.status})],
            {"status": "cancelled"},
            allowed=(record.status,),
            done=True,
        )
        if outcome != "ok":
            raise NotCancellable("declaration changed status meanwhile", "try again")
    returned = store.ledger.give_back(declaration_id, day, now_rfc3339())
    if returned:
        store.record(
            declaration_id, [("returned", item) for item in returned], allowed=("cancelled",)
        )
    after = store.get(declaration_id)
    if after is None:  # removed between the two steps (retention): it held nothing more
        raise NotCancellable("declaration changed status meanwhile", "try again")
    return after
