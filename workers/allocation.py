"""Allocation runs and importer allocations (SPEC §5): the workflows between a caller (an
administrator through the API, the API's periodic sweep, `accord simulate`) and the
ledger for the two quota modes that allocate apart from a declaration. The pro-rata
run of a day is `run_day`, and only there; the ledger's arithmetic is store/ledger.py's.

- A daily pro-rata quota collects the day's requests (declarations drawn at declaration,
  permit applications drawn at issuance) and shares the day's units among them when the
  day is run: the permits it decided are announced, and the declarations it answered are
  handed to `send` to be decided.
- An importer-allocation quota draws from accounts an administrator sets (an initial
  allocation per importer and quota year) and moves (a transfer between importers)."""

from __future__ import annotations

from datetime import date

from rules.catalog import Catalog
from rules.measure import Measure
from rules.quota import terms_of, terms_on, year_volume
from schemas.ledger import AccountFigures
from schemas.requests import ImporterAllocation
from store import HoldsLedger, RunResult, now_rfc3339
from workers import webhooks
from workers.submission import Send


class WrongMode(Exception):
    """The quota does not allocate this way; `mode` is how it does."""

    def __init__(self, mode: str) -> None:
        super().__init__(mode)
        self.mode = mode


class AllocationRefused(Exception):
    """The ledger refused the allocation or transfer; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _mode(measure: Measure, mode: str) -> None:
    assert measure.quota is not None
    if measure.quota.mode != mode:
        raise WrongMode(measure.quota.mode)


# --- daily pro-rata runs --------------------------------------------------------------------


def run_day(store: HoldsLedger, measure: Measure, day: date, send: Send) -> RunResult:
    """Run the pro-rata allocation of `day`: announce the permits it issued or refused,
    and send on the declarations it answered."""
    _mode(measure, "daily_pro_rata")
    result = store.ledger.run(terms_on(measure, day), day, now_rfc3339())
    webhooks.announce_run(store, measure.id, result.permits)
    if result.declarations:
        send(result.declarations)
    return result


def quotas_in_mode(catalog: Catalog, mode: str) -> list[Measure]:
    """Every quota whose current definition (as the quota routes read it) allocates in
    `mode`, by id."""
    return [
        measure
        for measure in catalog.quotas().values()
        if measure.quota is not None and measure.quota.mode == mode
    ]


def due_days(
    store: HoldsLedger, catalog: Catalog, before: date | None
) -> list[tuple[date, Measure]]:
    """Every pro-rata day with requests waiting, before `before` (or all): by day, then
    by quota id."""
    return sorted(
        (
            (day, measure)
            for measure in quotas_in_mode(catalog, "daily_pro_rata")
            for day in store.ledger.pro_rata_days(measure.id)
            if before is None or day < before
        ),
        key=lambda item: (item[0], item[1].id),
    )


def run_due(
    store: HoldsLedger, catalog: Catalog, before: date | None, send: Send
) -> list[RunResult]:
    """Run every pro-rata day with requests waiting before `before` (or all), in
    `due_days`'s order."""
    return [run_day(store, measure, day, send) for day, measure in due_days(store, catalog, before)]


# --- importer allocations ---------------------------------------------------------------------


def open_account(
    store: HoldsLedger, measure: Measure, quota_year: int, business_number: str, units: int
) -> None:
    """Set an importer's initial allocation of a quota year."""
    _mode(measure, "importer_allocation")
    assert measure.quota is not None
    refused = store.ledger.account(
        terms_of(measure, quota_year), "initial", business_number, units,
        year_volume=year_volume(measure.quota, quota_year), now=now_rfc3339(),
    )  # fmt: skip
    if refused:
        raise AllocationRefused(refused)


def transfer(
    store: HoldsLedger,
    measure: Measure,
    quota_year: int,
    business_number: str,
    to_business_number: str,
    units: int,
) -> None:
    """Move units of a quota year from one importer's account to another's."""
    _mode(measure, "importer_allocation")
    refused = store.ledger.account(
        terms_of(measure, quota_year), "transfer", business_number, units,
        to_business_number=to_business_number, now=now_rfc3339(),
    )  # fmt: skip
    if refused:
        raise AllocationRefused(refused)


def change_accounts(
    store: HoldsLedger, measure: Measure, change: ImporterAllocation, today: date
) -> tuple[AccountFigures, ...]:
    """An administrator's initial allocation or transfer; every account of the quota
    year afterwards, as of `today`."""
    if change.initial is not None:
        open_account(store, measure, change.quota_year, change.business_number, change.initial)
    else:
        transfer(
            store, measure, change.quota_year, change.business_number,
            change.transfer_to or "", change.quantity or 0,
        )  # fmt: skip
    holders = store.ledger.account_holders(measure.id, change.quota_year)
    terms = terms_of(measure, change.quota_year)
    return store.ledger.view(terms, today, limit=1, accounts=holders).accounts
