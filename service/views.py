"""The answers of the API as typed values (schemas/responses.py), assembled from the store
and the pack catalog; the routes return them and the dashboard reads their fields."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from pydantic import BaseModel

from rules.catalog import Catalog
from rules.measure import Measure
from rules.measure_checks import measure_checks
from rules.pack import Pack
from rules.quota import terms_on
from rules.translations import PackTexts
from schemas.audit import GENESIS, AuditEvent, Verification
from schemas.declaration import duty_currency
from schemas.ledger import PackRef, QuotaEvent, QuotaView
from schemas.permit import Permit
from schemas.responses import (
    AuditPage,
    AuditTrail,
    Decision,
    Decisions,
    ExportLine,
    Health,
    MeasureChecks,
    MeasureList,
    MeasureSummary,
    PermitView,
    QuotaBrief,
    Readiness,
)
from schemas.verdict import DeclarationStatus
from schemas.verification import (
    ServedState,
    served_verdict,
    unreadable,
    verify_declaration,
)
from service import webhook_views
from service.arrangements import LINKAGE_PREFIX, measure_identity, rates_shown
from service.auth import Principal
from service.errors import ApiError, unservable
from service.language import Language
from store import DeclarationRecord, Operations, Store, StoreError, Unreadable
from workers.app import QUEUES
from workers.evaluation import LATENCY_BUCKETS


def declaration_status(
    record: DeclarationRecord, texts: PackTexts | None = None, language: Language = "en"
) -> DeclarationStatus:
    """`GET /v1/declarations/{id}` (SPEC §6). Only the fields the record has are set, and
    the routes answer only those: a queued declaration has no `outcome`, not a null one.
    The verdict's pack texts are read in `language`; the record is not changed."""
    body: dict[str, Any] = {"declaration_id": record.declaration_id, "status": record.status}
    try:
        if record.verdict:
            verdict = served_verdict(record.verdict)
            if texts is not None and language != "en":
                verdict = pack_texts_in(verdict, texts, language)
            body.update(verdict)
            body["currency"] = duty_currency(json.loads(record.body))
            body["decided_at"] = record.decided_at
        body["audit"] = {"events": record.audit_len, "head": record.audit_head}
        if record.error:
            body["error"] = record.error
        return DeclarationStatus.model_validate(body)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:  # changed by hand
        raise unservable(record.declaration_id, exc) from None


# The fields of an answer that hold a pack's prose (a measure's, a source's or an
# arrangement's title, a party, a charge not assessed and why): each is shown in the
# language asked when a pack catalogue translates it, and ids in the same fields (a
# duty's `measure`) are no catalogue's text, so stay. A finding's message is read back
# into its values and put in the translated template (rules/translations.py).
PACK_TEXT_FIELDS = frozenset({"title", "measure", "party", "tax", "reason"})
_FINDING = frozenset({"rule", "pack", "pack_version", "message"})
Answer = TypeVar("Answer", bound=BaseModel)


def pack_texts_in(value: Any, texts: PackTexts, language: Language) -> Any:
    """A JSON value with the pack texts in it in `language`, everything else as it was."""
    if isinstance(value, list):
        return [pack_texts_in(item, texts, language) for item in value]
    if not isinstance(value, dict):
        return value
    out = {
        key: texts.text(item, language)
        if key in PACK_TEXT_FIELDS and isinstance(item, str)
        else pack_texts_in(item, texts, language)
        for key, item in value.items()
    }
    if out.keys() >= _FINDING and isinstance(out["message"], str):
        out["message"], _ = texts.message(
            str(out["pack"]), str(out["pack_version"]), str(out["rule"]), out["message"], language
        )
    return out


def in_language(answer: Answer, texts: PackTexts, language: Language) -> Answer:
    """A read's answer with its pack texts in `language`: the same model, the same fields
    set, the same values but for the translated words."""
    if language == "en":
        return answer
    body = answer.model_dump(mode="json", exclude_unset=True)
    return type(answer).model_validate(pack_texts_in(body, texts, language))


def served_state(record: DeclarationRecord) -> ServedState:
    """What a reader is served of the record beside body and verdict, for verification."""
    return ServedState(
        business_number=record.business_number,
        status=record.status,
        decided_at=record.decided_at,
        listed=dict(record.listed),
    )


def audit_trail(
    store: Store, declaration_id: str, record: DeclarationRecord | None = None
) -> AuditTrail:
    """`GET /v1/declarations/{id}/audit`: the events and what they prove of what users read
    (schemas/verification.py; the dashboard and the export show the same)."""
    record = record or store.get(declaration_id)
    raw = store.audit_raw(declaration_id)
    named = store.checkpoint_named(declaration_id) if store.audit_key else None
    newest = max(named or 0, record.checkpoint or 0) if record else 0
    events, verification = verify_declaration(
        declaration_id,
        raw,
        body=record.body if record else "",
        verdict=record.verdict if record else None,
        recorded_head=record.audit_head if record else GENESIS,
        recorded_count=record.audit_len if record else 0,
        recorded_mac=record.audit_mac if record else None,
        key=store.audit_key,
        checkpoint=store.checkpoint_raw(newest) if newest else None,
        served=served_state(record) if record else None,
        checkpoint_named=named,
        checkpoint_pointer=record.checkpoint if record else None,
        list_end=store.checkpoint_list_end() if store.audit_key else None,
    )
    return _trail(declaration_id, events, verification)


def unreadable_trail(exc: Unreadable) -> AuditTrail:
    """The audit of a declaration whose stored record does not read back: it fails
    verification at the first event the unreadable value holds, naming it."""
    return _trail(exc.declaration_id, [], unreadable(exc.seq, str(exc)))


def _trail(
    declaration_id: str, events: Sequence[AuditEvent], verification: Verification
) -> AuditTrail:
    return AuditTrail(
        declaration_id=declaration_id,
        verified=verification.verified,
        authenticated=verification.authenticated,
        authentication=verification.authentication,
        head=verification.head,
        first_bad_seq=verification.first_bad_seq,
        problem=verification.problem,
        checkpoint=verification.checkpoint,
        events=tuple(events),
    )


AUDIT_PAGE = 100  # events per page of GET /v1/declarations/{id}/audit, by default
MAX_AUDIT_PAGE = 1000  # and at most


def audit_page(trail: AuditTrail, cursor: int, limit: int) -> AuditPage:
    """One page of a verified trail: the events from position `cursor` (0-based), at most
    `limit` of them, and where the next page starts (None after the last). Verification
    covered every event, not only the page: `verified_events` says how many."""
    events = trail.events
    end = cursor + limit
    return AuditPage(
        **{**dict(trail), "events": events[cursor:end]},
        verified_events=len(events),
        cursor=cursor,
        limit=limit,
        next_cursor=end if end < len(events) else None,
    )


def permit(permit: Permit) -> PermitView:
    """`GET /v1/permits/{number}` (SPEC §5)."""
    return PermitView.of(permit)


def quota_measures(catalog: Catalog) -> list[tuple[Pack, Measure]]:
    return [
        (pack, measure)
        for pack in catalog.current
        for measure in pack.measures
        if measure.quota is not None
    ]


def quota(
    store: Store,
    pack: Pack,
    measure: Measure,
    as_of: date,
    brief: bool,
    viewer: Principal | None = None,
    cursor: int = 0,
    limit: int = 100,
    latest: bool = False,
) -> QuotaView:
    """A quota as SPEC §5 shows it, from the ledger's read model. A submitter sees the
    balances and events, but only its own declarations and permits named in them and
    only its own allocation account."""
    quota_block = measure.quota
    assert quota_block is not None
    terms = terms_on(measure, as_of)
    submitter = viewer is not None and viewer.role == "submitter"
    holders: list[str] = []
    if quota_block.mode == "importer_allocation" and not brief:
        holders = store.ledger.account_holders(measure.id, terms.year)
        if submitter:
            holders = [bn for bn in holders if bn == viewer.business_number]  # type: ignore[union-attr]
    year = store.ledger.view(
        terms, as_of, cursor=cursor, limit=limit, accounts=holders, latest=latest,
        today=datetime.now(UTC).date(),
    )  # fmt: skip
    view = QuotaView(
        quota_id=measure.id,
        measure=measure.title,
        pack=PackRef(id=pack.id, version=pack.version, sha256=pack.sha256),
        mode=quota_block.mode,
        drawn_at=quota_block.drawn_at,
        unit=quota_block.unit,
        critical_threshold=str(quota_block.critical_threshold),
        quota_year=terms.year,
        as_of=as_of,
        period=year.current,
    )
    if brief:
        return view
    events = year.events
    if submitter:
        own = viewer.business_number  # type: ignore[union-attr]
        events = events.model_copy(
            update={"events": tuple(_masked(event, own) for event in events.events)}
        )
    return view.model_copy(
        update={
            "periods": year.periods,
            "events": events,
            "accounts": year.accounts if quota_block.mode == "importer_allocation" else None,
            "runs_pending": (
                tuple(store.ledger.pro_rata_days(measure.id))
                if quota_block.mode == "daily_pro_rata"
                else None
            ),
        }
    )


def _masked(event: QuotaEvent, own: str | None) -> QuotaEvent:
    """An event as a submitter may read it: who acted is named only when it is itself."""
    anonymous = event.business_number is None and not (event.declaration_id or event.permit_number)
    if anonymous or event.business_number == own:
        return event
    return event.model_copy(
        update={
            "declaration_id": None,
            "permit_number": None,
            "business_number": None,
            "to_business_number": None,
            "reason": None,
        }
    )


def _measure_summary(pack: Pack, measure: Measure, as_of: date) -> MeasureSummary:
    quota_block = measure.quota
    return MeasureSummary(
        **measure_identity(pack, measure),
        scope=measure.scope.model_dump(mode="json"),
        rates=rates_shown(pack, measure, as_of),
        quota=None
        if quota_block is None
        else QuotaBrief(mode=quota_block.mode, unit=quota_block.unit),
        rules=tuple(rule.id for rule in measure.rules),
    )


def measures(catalog: Catalog, as_of: date) -> MeasureList:
    return MeasureList(
        as_of=as_of,
        measures=tuple(
            _measure_summary(pack, measure, as_of)
            for pack in catalog.current
            for measure in pack.measures
            if measure.effective.contains(as_of)
        ),
    )


def checks(pack: Pack, measure: Measure, as_of: date, packs: Sequence[Pack] = ()) -> MeasureChecks:
    """The measure-level checks on a date; `packs` are where its counterparts are looked up.
    Outside the measure's effective range only the linkage checks apply (a concession that
    has lapsed while its counterpart runs on is a finding of that date)."""
    in_force = measure.effective.contains(as_of)
    findings = tuple(
        item
        for item in measure_checks(pack, measure, as_of, packs)
        if in_force or item.rule.id.startswith(LINKAGE_PREFIX)
    )
    return MeasureChecks(
        measure=measure.id,
        as_of=as_of,
        in_force=in_force,
        findings=tuple(item.finding for item in findings),
    )


DECISIONS_PAGE = 100  # decisions per page of GET /v1/decisions, by default
MAX_DECISIONS_PAGE = 1000  # and at most


def decisions(
    store: Store, rule: str, start: float | None, end: float | None, cursor: int, limit: int
) -> Decisions:
    """One page of a rule's decisions. Each costs what the index kept of it as it was
    decided, whatever the size of its verdict; a decision indexed before that was kept has
    its verdict read, once per declaration of the page."""
    rows = store.decisions(
        rule, start if start is not None else 0, end if end is not None else float("inf"),
        cursor, limit + 1,
    )  # fmt: skip
    more = len(rows) > limit
    rows = rows[:limit]
    unkept = list(dict.fromkeys(row.declaration_id for row in rows if row.kept is None))
    verdicts = {
        record.declaration_id: json.loads(record.verdict) if record.verdict else {}
        for record in store.get_many(unkept)
    }
    out = []
    for row in rows:
        kept = (
            row.kept
            if row.kept is not None
            else _kept_of(verdicts.get(row.declaration_id), rule, row.line)
        )
        out.append(
            Decision(
                declaration_id=row.declaration_id,
                line=row.line,
                severity=kept.get("severity"),
                at=datetime.fromtimestamp(row.at, UTC).isoformat(timespec="seconds"),
                pack_version=kept.get("pack_version"),
                outcome=kept.get("outcome"),
            )
        )
    return Decisions(
        rule=rule, decisions=tuple(out), cursor=cursor, limit=limit,
        next_cursor=cursor + limit if more else None,
    )  # fmt: skip


def _kept_of(verdict: dict[str, Any] | None, rule: str, line: int | None) -> dict[str, Any]:
    """What the index keeps of a decision, from its verdict."""
    verdict = verdict or {}
    match = next(
        (
            item
            for item in verdict.get("findings", [])
            if item["rule"] == rule and item["line"] == line
        ),
        None,
    )
    return {
        "severity": match["severity"] if match else None,
        "pack_version": match["pack_version"] if match else None,
        "outcome": verdict.get("outcome"),
    }


def health(store: Operations) -> JSONResponse:
    """`GET /healthz`, with its status code: 503 when Redis is down."""
    try:
        store.ping()
        workers = store.workers_alive()
    except StoreError:
        # Anyone may ask, without a token: so it says that Redis is down, not why; the
        # error's text names Redis's host and port.
        down = Health(status="unavailable", redis="down", workers=None)
        return JSONResponse(down.model_dump(mode="json"), status_code=503)
    up = Health(status="ok" if workers else "degraded", redis="up", workers=workers)
    return JSONResponse(up.model_dump(mode="json"))


def readiness(store: Operations) -> JSONResponse:
    """`GET /readyz`, with its status code. The packs are loaded when this answers at all:
    the API process refuses to start on a pack it cannot load."""
    reason = None
    try:
        store.check_writable()
        if not store.workers_alive():
            reason = "no worker is consuming"
    except StoreError:
        reason = "Redis is unavailable or does not take writes"
    if reason is None:
        return JSONResponse(Readiness(status="ready").model_dump(mode="json"))
    answer = Readiness(status="not ready", reason=reason)
    return JSONResponse(answer.model_dump(mode="json"), status_code=503)


# who enqueued declarations again (workers/schedule.py, service/recovery.py, workers/app.py)
REQUEUED_BY = ("sweeper", "lost", "redis_return", "worker_start")


def metrics(store: Store, catalog: Catalog) -> tuple[bytes, str]:
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
            requeued = CounterMetricFamily(
                "accord_requeued",
                "Declarations enqueued again: by the sweeper (their first task never "
                "decided them), by the watch for lost tasks (no worker took them and the "
                "broker no longer held their task), on Redis's return, or by a worker "
                "starting",
                labels=["by"],
            )
            for by in REQUEUED_BY:
                requeued.add_metric([by], stats.get(f"requeued:{by}", 0))
            yield requeued
            oldest = store.oldest_undecided()
            undecided = GaugeMetricFamily(
                "accord_oldest_undecided_seconds",
                "Age of the oldest declaration stored without a verdict (0 when none)",
            )
            undecided.add_metric([], 0 if oldest is None else max(0.0, time.time() - oldest))
            yield undecided
            depth = GaugeMetricFamily(
                "accord_queue_depth", "Messages waiting in the evaluation queues"
            )
            depth.add_metric([], sum(store.queue_depth(queue) for queue in QUEUES))
            yield depth
            remaining = GaugeMetricFamily(
                "accord_quota_remaining",
                "Units remaining per quota period (today's quota year)",
                labels=["quota", "period"],
            )
            outstanding = GaugeMetricFamily(
                "accord_permits_outstanding",
                "Units of issued permits not yet used or returned, per quota period",
                labels=["quota", "period"],
            )
            today = datetime.now(UTC).date()
            for _, measure in quota_measures(catalog):
                year = store.ledger.view(terms_on(measure, today), today, limit=1, today=today)
                for period in year.periods:
                    labels = [measure.id, period.start.isoformat()]
                    remaining.add_metric(labels, period.remaining)
                    if period.permits is not None:
                        outstanding.add_metric(labels, period.permits.outstanding)
            yield remaining
            yield outstanding
            yield from webhook_views.metric_families(store, stats)

    registry.register(Collector())
    return generate_latest(registry), CONTENT_TYPE_LATEST


def export_line(store: Store, declaration_id: str) -> ExportLine:
    """One declaration for an export: its body, its status and verdict, its trail. Only
    the fields set are exported (`export_text`), as the status route answers them. One
    whose stored record cannot be served (changed by hand) is its id and its trail, which
    fails verification where it was changed."""
    try:
        record = store.get(declaration_id)
        if record is None:
            return ExportLine(declaration_id=declaration_id, missing=True)
        trail = audit_trail(store, declaration_id, record)
    except Unreadable as exc:
        return ExportLine(declaration_id=declaration_id, audit=unreadable_trail(exc))
    try:
        return ExportLine(
            declaration=json.loads(record.body), status=declaration_status(record), audit=trail
        )
    except (ValueError, ApiError):
        return ExportLine(declaration_id=declaration_id, audit=trail)


def export_text(line: ExportLine) -> bytes:
    """One JSONL line of `GET /v1/export`."""
    return (json.dumps(line.model_dump(mode="json", exclude_unset=True)) + "\n").encode()
