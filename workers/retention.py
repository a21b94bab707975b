"""When the retention run happens: once a day from the API's periodic sweep
(workers/schedule.py; whichever API process claims the day first), or on demand with
`accord archive [--older-than DAYS]`. What it does is store/retention.py's; how it is
kept, docs/retention.md."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from settings import Settings
from store import Archive, ArchiveBusy, ArchiveRun, RedisStore, archive_closed

log = logging.getLogger(__name__)

DAY = 24 * 3600


def run_archive(
    store: RedisStore, settings: Settings, older_than: int | None = None, wait: float = 0.0
) -> ArchiveRun:
    """Archive what closed more than `older_than` days ago (default ACCORD_RETAIN_DAYS),
    waiting up to `wait` seconds for a run in progress elsewhere."""
    days = settings.retain_days if older_than is None else older_than
    cutoff = datetime.now(UTC) - timedelta(days=days)
    return archive_closed(store, Archive(settings.archive_dir), cutoff, wait=wait)


def archive_daily(store: RedisStore, settings: Settings) -> None:
    """The sweep's daily archive run: every API process asks, one a day gets it."""
    if not store.claim("archive:daily", DAY):
        return
    try:
        run = run_archive(store, settings)
    except ArchiveBusy:  # `accord archive` is at it: the same work, done
        log.info("the daily archive run found another run at work")
        return
    if run.archived or run.already:
        log.info(
            "archived %d declarations (%d found archived already) to %s",
            run.archived, run.already, ", ".join(run.files),
        )  # fmt: skip
