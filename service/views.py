"""The JSON shapes of the API, assembled from the store and the pack catalog."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from rules import engine
from rules.catalog import Catalog
from rules.engine import percent
from rules.pack import Measure, Pack
from rules.quota import periods_of_year, quota_year_of
from schemas.audit import verify_stored
from schemas.permit import Permit
from schemas.verdict import DeclarationStatus
from service.auth import Principal
from store.errors import StoreError
from store.redis_store import DeclarationRecord, RedisStore
from workers.app import QUEUE
from workers.evaluation import LATENCY_BUCKETS


def declaration_status(record: DeclarationRecord | None) -> dict[str, Any]:
    """`GET /v1/declarations/{id}` (SPEC §6), checked against its schema."""
    if record is None:
        return {}
    body: dict[str, Any] = {"declaration_id": record.declaration_id, "status": record.status}
    if record.verdict:
        verdict = json.loads(record.verdict)
        verdict.pop("as_of", None)
        body.update(verdict)
        body["decided_at"] = record.decided_at
    body["audit"] = {"events": record.audit_len, "head": record.audit_head}
    if record.error:
        body["error"] = record.error
    return DeclarationStatus.model_validate(body).model_dump(mode="json", exclude_unset=True)


def audit_trail(store: RedisStore, declaration_id: str) -> dict[str, Any]:
    record = store.get(declaration_id)
    events, verification = verify_stored(
        store.audit_raw(declaration_id),
        record.audit_head if record else None,
        record.audit_len if record else None,
    )
    return {
        "declaration_id": declaration_id,
        "verified": verification.verified,
        "head": verification.head,
        "first_bad_seq": verification.first_bad_seq,
        "problem": verification.problem,
        "events": [event.model_dump() for event in events],
    }


def permit(permit: Permit) -> dict[str, Any]:
    return {**permit.model_dump(mode="json"), "remaining": permit.remaining}


def quota_measures(catalog: Catalog) -> list[tuple[Pack, Measure]]:
    return [
        (pack, measure)
        for pack in catalog.current
        for measure in pack.measures
        if measure.quota is not None
    ]


def _period_view(period: Any, ledger: dict[str, str] | None, as_of: date) -> dict[str, Any]:
    def number(name: str) -> int:
        return int(ledger.get(name) or 0) if ledger else 0

    carried, allocated, returned = number("carried"), number("allocated"), number("returned")
    remaining = period.volume + carried + returned - allocated
    carried_forward = 0
    if ledger and ledger.get("status") == "closed":
        # its unused units moved to the next period when that one opened
        carried_forward, remaining = remaining, 0
    if period.end < as_of or period.start > as_of:
        status = "closed"
    elif ledger and ledger.get("status"):
        status = ledger["status"]
    else:
        status = "open"
    return {
        "start": period.start.isoformat(),
        "end": period.end.isoformat(),
        "volume": period.volume,
        "carried_over": carried,
        "used": allocated,
        "returned": returned,
        "remaining": remaining,
        "carried_forward": carried_forward,
        "status": status,
        "sub_quotas": [
            {
                "name": name,
                "reserved": reserved + number(f"reserved_carried:{name}"),
                "used": number(f"reserved_used:{name}") - number(f"reserved_returned:{name}"),
                "remaining": reserved
                + number(f"reserved_carried:{name}")
                + number(f"reserved_returned:{name}")
                - number(f"reserved_used:{name}"),
            }
            for name, reserved in period.reserved.items()
        ],
    }


def quota(
    store: RedisStore,
    pack: Pack,
    measure: Measure,
    as_of: date,
    brief: bool,
    viewer: Principal | None = None,
) -> dict[str, Any]:
    """A quota as SPEC §5 shows it. A submitter sees balances and events, but only its own
    declarations named in them and only its own allocation account."""
    quota_block = measure.quota
    assert quota_block is not None
    year = max(quota_year_of(measure, as_of), 1)
    ledger = store.quota_periods(measure.id)
    periods = [
        _period_view(period, ledger.get(period.key), as_of)
        for period in periods_of_year(measure, year)
    ]
    current = next(
        (view for view in periods if view["start"] <= as_of.isoformat() <= view["end"]), None
    )
    body: dict[str, Any] = {
        "quota_id": measure.id,
        "measure": measure.title,
        "pack": {"id": pack.id, "version": pack.version, "sha256": pack.sha256},
        "mode": quota_block.mode,
        "unit": quota_block.unit,
        "critical_threshold": str(quota_block.critical_threshold),
        "quota_year": year,
        "period": current,
    }
    if brief:
        return body
    starts = {view["start"] for view in periods}
    body["periods"] = periods
    events = [event for event in store.quota_events(measure.id) if event.get("period") in starts]
    accounts = (
        store.accounts(measure.id, year) if quota_block.mode == "importer_allocation" else None
    )
    if viewer is not None and viewer.role == "submitter":
        named = list({event["declaration_id"] for event in events if event.get("declaration_id")})
        own = {
            record.declaration_id
            for record in store.get_many(named)
            if record.business_number == viewer.business_number
        }
        events = [
            {
                **event,
                "declaration_id": event.get("declaration_id")
                if event.get("declaration_id") in own
                else None,
            }
            for event in events
        ]
        if accounts is not None:
            accounts = [row for row in accounts if row["business_number"] == viewer.business_number]
    if accounts is not None:
        body["accounts"] = accounts
    if quota_block.mode == "daily_pro_rata":
        body["runs_pending"] = [day.isoformat() for day in store.pro_rata_days(measure.id)]
    body["events"] = events
    return body


def _measure_summary(pack: Pack, measure: Measure) -> dict[str, Any]:
    source = pack.body.sources[measure.source]
    return {
        "id": measure.id,
        "title": measure.title,
        "pack": {"id": pack.id, "version": pack.version, "sha256": pack.sha256},
        "source": {"title": source.title, "url": source.url},
        "effective": {
            "from": measure.effective.start.isoformat(),
            "to": measure.effective.end.isoformat() if measure.effective.end else None,
        },
        "scope": measure.scope.model_dump(mode="json"),
        "rates": {name: percent(spec.rate) for name, spec in measure.rates.items()},
        "quota": None
        if measure.quota is None
        else {"mode": measure.quota.mode, "unit": measure.quota.unit},
        "rules": [rule.id for rule in measure.rules],
    }


def measures(catalog: Catalog, as_of: date) -> dict[str, Any]:
    return {
        "as_of": as_of.isoformat(),
        "measures": [
            _measure_summary(pack, measure)
            for pack in catalog.current
            for measure in pack.measures
            if measure.effective.contains(as_of)
        ],
    }


def measure_on(catalog: Catalog, measure_id: str, as_of: date) -> tuple[Pack, Measure] | None:
    """The definition of a measure in force on a date, else its latest definition."""
    candidates = [
        (pack, measure)
        for pack in catalog.current
        for measure in pack.measures
        if measure.id == measure_id
    ]
    in_force = [item for item in candidates if item[1].effective.contains(as_of)]
    found = in_force or candidates
    return found[0] if found else None


def checks(pack: Pack, measure: Measure, as_of: date) -> dict[str, Any]:
    in_force = measure.effective.contains(as_of)
    findings = engine.measure_checks(pack, measure, as_of) if in_force else ()
    return {
        "measure": measure.id,
        "as_of": as_of.isoformat(),
        "in_force": in_force,
        "findings": [item.finding.model_dump(mode="json") for item in findings],
    }


def decisions(
    store: RedisStore, rule: str, start: float | None, end: float | None
) -> dict[str, Any]:
    found = store.decisions(
        rule, start if start is not None else 0, end if end is not None else float("inf")
    )
    unique = list(dict.fromkeys(declaration_id for declaration_id, _, _ in found))
    records = {record.declaration_id: record for record in store.get_many(unique)}
    out = []
    for declaration_id, line, at in found:
        record = records.get(declaration_id)
        verdict = json.loads(record.verdict) if record and record.verdict else {}
        match = next(
            (
                item
                for item in verdict.get("findings", [])
                if item["rule"] == rule and item["line"] == line
            ),
            None,
        )
        out.append(
            {
                "declaration_id": declaration_id,
                "line": line,
                "severity": match["severity"] if match else None,
                "at": datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds"),
                "pack_version": match["pack_version"] if match else None,
                "outcome": verdict.get("outcome"),
            }
        )
    return {"rule": rule, "decisions": out}


def health(store: RedisStore) -> JSONResponse:
    try:
        store.ping()
        workers = store.workers_alive()
    except StoreError:
        # Anyone may ask, without a token: so it says that Redis is down, not why; the
        # error's text names Redis's host and port.
        return JSONResponse(
            {"status": "unavailable", "redis": "down", "workers": None}, status_code=503
        )
    return JSONResponse(
        {"status": "ok" if workers else "degraded", "redis": "up", "workers": workers}
    )


def metrics(store: RedisStore, catalog: Catalog) -> tuple[bytes, str]:
    stats = store.stats()
    registry = CollectorRegistry()

    class Collector:
        def collect(self) -> Any:
            submissions = CounterMetricFamily(
                "accord_submissions", "Declarations stored by the API"
            )
            submissions.add_metric([], stats.get("submissions", 0))
            yield submissions
            verdicts = CounterMetricFamily(
                "accord_verdicts", "Verdicts by outcome", labels=["outcome"]
            )
            for outcome in ("accepted", "rejected", "held", "failed"):
                verdicts.add_metric([outcome], stats.get(f"verdicts:{outcome}", 0))
            yield verdicts
            buckets = []
            cumulative = 0
            for bound in LATENCY_BUCKETS:
                cumulative += stats.get(f"latency_le:{bound}", 0)
                buckets.append((str(bound), cumulative))
            cumulative += stats.get("latency_le:+Inf", 0)
            buckets.append(("+Inf", cumulative))
            yield HistogramMetricFamily(
                "accord_evaluation_latency_seconds",
                "Submission to verdict",
                buckets=buckets,
                sum_value=stats.get("latency_sum_ms", 0) / 1000,
            )
            depth = GaugeMetricFamily(
                "accord_queue_depth", "Messages waiting in the evaluation queue"
            )
            depth.add_metric([], store.queue_depth(QUEUE))
            yield depth
            remaining = GaugeMetricFamily(
                "accord_quota_remaining",
                "Units remaining per quota period",
                labels=["quota", "period"],
            )
            for _, measure in quota_measures(catalog):
                for start, fields in store.quota_periods(measure.id).items():
                    balance = sum(
                        int(fields.get(name) or 0) for name in ("volume", "carried", "returned")
                    ) - int(fields.get("allocated") or 0)
                    # a closed period's units went to the next one with carry-over
                    closed = fields.get("status") == "closed"
                    remaining.add_metric([measure.id, start], 0 if closed else balance)
            yield remaining

    registry.register(Collector())
    return generate_latest(registry), CONTENT_TYPE_LATEST


def export_line(store: RedisStore, declaration_id: str) -> dict[str, Any]:
    """One declaration for an export: its body, its status and verdict, its trail."""
    record = store.get(declaration_id)
    if record is None:
        return {"declaration_id": declaration_id, "missing": True}
    trail = audit_trail(store, declaration_id)
    return {
        "declaration": json.loads(record.body),
        "status": declaration_status(record),
        "audit": trail,
    }
