"""The verbs that work on this machine rather than through the API: `accord check` (every
check `accord run` makes first, cli/preflight.py, and nothing started) and `accord archive`
(the retention run, on the service's own Redis and archive files). `accord run` is
cli/runner.py and `accord simulate` cli/simulate.py."""

from __future__ import annotations

import argparse
import json
import sys

from cli.output import CliError, emit
from settings import get_settings


def check(args: argparse.Namespace) -> int:
    from cli import preflight

    try:
        found = preflight.run_checks(get_settings(), args.host, args.port)
    except preflight.Refused as exc:
        print(f"accord: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"ok": True, "checks": found}))
    else:
        print("\n".join(found))
        print("configuration ok")
    return 0


def archive(older_than: int | None, as_json: bool) -> int:
    """`accord archive`: on the service's Redis (REDIS_URL, or the embedded one `accord run`
    started from this directory) and ACCORD_ARCHIVE_DIR."""
    from store import RedisStore, StoreError, running_url
    from workers.retention import run_archive

    settings = get_settings()
    redis_url = settings.redis_url or running_url(settings.embedded_redis_dir)
    if not redis_url:
        raise CliError(
            "REDIS_URL is not set and no embedded Redis is running here: archive needs the "
            "service's Redis",
            2,
        )
    audit_key = settings.audit_key
    if audit_key is None and settings.audit_key_file.exists():
        audit_key = settings.audit_key_file.read_text().strip().encode()
    if older_than is not None and older_than < 0:
        raise CliError("--older-than must be 0 or more days", 2)
    store = RedisStore.from_url(
        redis_url, settings.redis_prefix, timeout=30.0, audit_key=audit_key,
        archive_dir=settings.archive_dir,
    )  # fmt: skip
    try:
        run = run_archive(store, settings, older_than, wait=60.0)
    except StoreError as exc:
        raise CliError(str(exc), 1) from exc
    finally:
        store.close()
    report = {
        "scanned": run.scanned, "archived": run.archived, "already_archived": run.already,
        "kept": run.kept, "files": list(run.files), "archive_dir": str(settings.archive_dir),
    }  # fmt: skip
    emit(report, as_json)
    return 0
