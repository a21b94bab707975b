"""The quota ledger on a real Redis: permit applications (each one atomic script that
derives the period's figures, draws and records its events) and reads of the ledger as
of a date, against a script that only round-trips the same payload, in the same run."""

from __future__ import annotations

import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from rules.catalog import load_catalog
from rules.quota import terms_of
from schemas.permit import PermitTerms
from store import EmbeddedRedis, RedisStore, now_rfc3339

TRQ = "CA-CN-EV-TRQ-2026"
IMPORTER = "123456789RM0001"
ECHO = "return ARGV[2]"  # the baseline: one EVAL carrying the same payload, no work


def permit(index: int) -> PermitTerms:
    """One vehicle, issued on one of the first 180 days of quota year 1."""
    issued_on = date(2026, 3, 1) + timedelta(days=index % 180)
    return PermitTerms(
        permit_number=f"B-{index}",
        business_number=IMPORTER,
        measure=TRQ,
        quantity=1,
        issued_on=issued_on,
        expires_on=issued_on + timedelta(days=59),
    )


def run(count: int = 5000) -> dict[str, Any]:
    found = load_catalog().measure(TRQ)
    assert found is not None
    terms = terms_of(found[1], 1)
    with tempfile.TemporaryDirectory(prefix="accord-ledger-bench-") as scratch:
        redis = EmbeddedRedis(Path(scratch) / "redis", fsync="no").start()
        try:
            store = RedisStore.from_url(redis.url, prefix="bench")
            echo = store.client.register_script(ECHO)
            permits = [permit(index) for index in range(count)]
            payload = terms.model_dump_json()
            started = time.perf_counter()
            for terms_of_permit in permits:
                echo(
                    keys=[], args=["[]", payload + terms_of_permit.model_dump_json(), now_rfc3339()]
                )
            echo_s = time.perf_counter() - started
            started = time.perf_counter()
            for terms_of_permit in permits:
                store.ledger.apply_permit(terms, terms_of_permit, now_rfc3339())
            apply_s = time.perf_counter() - started
            reads = 500
            started = time.perf_counter()
            for index in range(reads):
                store.ledger.view(terms, date(2026, 3, 1) + timedelta(days=index % 365))
            view_s = time.perf_counter() - started
            issued = sum(item.used for item in store.ledger.view(terms, date(2027, 2, 28)).periods)
            store.close()
        finally:
            redis.stop()
    return {
        "permits_per_s": round(count / apply_s),
        "echo_per_s": round(count / echo_s),
        "permits_vs_echo": round(echo_s / apply_s, 2),
        "as_of_reads_per_s": round(reads / view_s),
        "permits_issued": issued,
    }
