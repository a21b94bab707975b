"""Rules that the shipped packs never fire under their shipped parameters.

The CUSMA Art. 32.10 checks, the missing prior notification and the exceeded bound
rate only fire when the arrangement is recorded differently, so these tests load a
modified copy of the shipped quota pack (same text, a few values replaced) and ask
the engine for its measure-level checks and verdicts. The permit-exhausted allocation
rule only fires when a permit is used up between evaluation and allocation (two
workers racing: both read it issued, the first uses it), which the sequential case
runner cannot arrange; it is staged here against the real ledger.

Rule ids exercised only here: NOTIF-US-CUSMA-NOTICE, NOTIF-US-CUSMA-TEXT,
NOTIF-US-PRIOR-MISSING, WTO-EVTRQ-BOUND-RATE-EXCEEDED, QUOTA-EVTRQ-PERMIT-EXHAUSTED.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from helpers import IMPORTER, declaration
from rules import engine
from rules.catalog import Catalog
from rules.loader import SHIPPED_DIR, parse_pack
from rules.measure import Measure
from rules.measure_checks import measure_checks
from rules.pack import Pack
from schemas.declaration import Declaration
from schemas.permit import Permit, PermitApplication
from schemas.quota import NO_ALLOCATION, Allocation, LineAllocation
from schemas.verdict import Verdict
from store import RedisStore, now_rfc3339
from workers import permits as permit_workflow

TRQ = "CA-CN-EV-TRQ-2026"
# The rule ids no case in cases/*.yaml can fire; the tests below fire each of them.
RULES_EXERCISED_HERE = frozenset(
    {
        "NOTIF-US-CUSMA-NOTICE",
        "NOTIF-US-CUSMA-TEXT",
        "NOTIF-US-PRIOR-MISSING",
        "WTO-EVTRQ-BOUND-RATE-EXCEEDED",
        "WTO-EVTRQ-ILA-5.1-LATE",
        "QUOTA-EVTRQ-PERMIT-EXHAUSTED",
    }
)
TRQ_FILE = SHIPPED_DIR / "ca-cn-ev-trq-2026.yaml"
SHIPPED_NOTIFICATIONS = """      us_notifications:
        - {date: 2026-01-16, kind: informal, what: USTR made aware at the conclusion of the arrangement, source: TORONTO-STAR-USTR}
        - {date: 2026-01-25, kind: informal, what: Minister-level call with USTR, source: LEBLANC-GREER-CALL}
"""
# No source dates the start of negotiations, so the shipped pack records none; classified
# as an FTA, the variant supposes they began on 14 January 2026, the first day of the visit.
FTA = (
    "classification: sectoral_arrangement\n      classification_assumption",
    "classification: fta_non_market\n      negotiations_began_on: 2026-01-14\n"
    "      classification_assumption",
)
AS_OF = date(2026, 3, 10)


def variant(*replacements: tuple[str, str]) -> tuple[Pack, Measure]:
    """The shipped quota pack with each (old, new) text replaced once, and its quota measure."""
    text = TRQ_FILE.read_text()
    for old, new in replacements:
        assert text.count(old) == 1, f"{old!r} is not in the shipped pack exactly once"
        text = text.replace(old, new)
    pack = parse_pack(text.encode(), f"variant of {TRQ_FILE.name}")
    measure = next(measure for measure in pack.measures if measure.id == TRQ)
    return pack, measure


def notifications(*notes: str) -> tuple[str, str]:
    """A replacement of the shipped US notifications by the given flow mappings."""
    if not notes:
        return SHIPPED_NOTIFICATIONS, ""
    lines = "".join(f"        - {note}\n" for note in notes)
    return SHIPPED_NOTIFICATIONS, f"      us_notifications:\n{lines}"


def intent(on: str) -> str:
    return f"{{date: {on}, kind: intent_to_negotiate, what: Notice of intent, source: CUSMA-32.10}}"


def full_text(on: str) -> str:
    return f"{{date: {on}, kind: full_text, what: Full text offered, source: CUSMA-32.10}}"


def checks(pack: Pack, measure: Measure, as_of: date = AS_OF) -> set[str]:
    return {item.rule.id for item in measure_checks(pack, measure, as_of)}


def decide_without_ledger(
    pack: Pack, permits: dict[str, Permit] | None = None, **fields: object
) -> Verdict:
    """The verdict of a declaration that asks nothing of the quota ledger."""
    parsed = Declaration.model_validate(
        declaration("variant", accepted_at="2026-03-10T10:00:00-04:00", **fields)
    )
    evaluation = engine.evaluate(parsed, [pack], permits or {})
    assert evaluation.requests == ()
    return engine.finalize(evaluation, NO_ALLOCATION)


def permitted(quantity: int = 2) -> dict[str, Permit]:
    """The importer's issued permit GAC-EV-0001, drawn on the first half of year 1."""
    return {
        "GAC-EV-0001": Permit(
            permit_number="GAC-EV-0001", business_number=IMPORTER, measure=TRQ,
            quantity=quantity, issued_on=date(2026, 3, 2), expires_on=date(2026, 4, 30),
            status="issued", held=quantity, period="2026-03-01",
        )
    }  # fmt: skip


def decide_in_quota(pack: Pack, **fields: object) -> Verdict:
    """The verdict of a declaration using permit GAC-EV-0001, its 2 vehicles in quota (the
    ledger's answer given, as the permit drew them when it was issued)."""
    parsed = Declaration.model_validate(
        declaration(
            "variant",
            accepted_at="2026-03-10T10:00:00-04:00",
            lines=[{"permit_number": "GAC-EV-0001"}],
            **fields,
        )
    )
    evaluation = engine.evaluate(parsed, [pack], permitted())
    allocation = Allocation(
        applied=True,
        lines=tuple(
            LineAllocation(
                line=request.line, quota_id=request.quota_id, period="2026-03-01",
                status="allocated", in_quota=request.quantity,
            )
            for request in evaluation.requests
        ),
    )  # fmt: skip
    return engine.finalize(evaluation, allocation if evaluation.requests else NO_ALLOCATION)


def rules_of(verdict: Verdict) -> set[str]:
    return {finding.rule for finding in verdict.findings}


def test_rules_exercised_here_are_rules_of_the_shipped_quota_pack() -> None:
    """Every rule id this module claims to exercise is a rule of the shipped quota measure."""
    _, measure = variant()
    assert {rule.id for rule in measure.rules} >= RULES_EXERCISED_HERE


# --- CUSMA Art. 32.10 ------------------------------------------------------------------


def test_fta_classification_without_notices_fires_both_cusma_checks() -> None:
    """Classified as an FTA with a non-market country and no notices, both CUSMA 32.10 checks fire."""
    fired = checks(*variant(FTA))
    assert {"NOTIF-US-CUSMA-NOTICE", "NOTIF-US-CUSMA-TEXT"} <= fired
    assert "NOTIF-US-CUSMA-NOT-TRIGGERED" not in fired


def test_fta_classification_with_timely_notices_passes_cusma() -> None:
    """Notice of intent 3 months before negotiations and the text 46 days before signature pass."""
    fired = checks(*variant(FTA, notifications(intent("2025-10-01"), full_text("2025-12-01"))))
    assert not fired & {"NOTIF-US-CUSMA-NOTICE", "NOTIF-US-CUSMA-TEXT"}
    assert "NOTIF-US-CUSMA-NOT-TRIGGERED" not in fired
    assert "NOTIF-US-PRIOR-MET" in fired


@pytest.mark.parametrize(
    ("notice_on", "fires"),
    [("2025-10-14", False), ("2025-10-15", True)],
    ids=["exactly-3-months", "one-day-short"],
)
def test_cusma_notice_needs_three_whole_months(notice_on: str, fires: bool) -> None:
    """Negotiations began 2026-01-14: notice on 2025-10-14 is 3 months before, 2025-10-15 is not."""
    pack, measure = variant(FTA, notifications(intent(notice_on), full_text("2025-12-01")))
    assert ("NOTIF-US-CUSMA-NOTICE" in checks(pack, measure)) is fires


@pytest.mark.parametrize(
    ("text_on", "fires"),
    [("2025-12-16", False), ("2025-12-17", True)],
    ids=["exactly-30-days", "29-days"],
)
def test_cusma_full_text_needs_thirty_days(text_on: str, fires: bool) -> None:
    """Signed 2026-01-15: the full text on 2025-12-16 is 30 days before, 2025-12-17 only 29."""
    pack, measure = variant(FTA, notifications(intent("2025-10-01"), full_text(text_on)))
    assert ("NOTIF-US-CUSMA-TEXT" in checks(pack, measure)) is fires


def test_cusma_checks_ignore_notices_dated_after_as_of() -> None:
    """As of 2025-11-01 the full text offered on 2025-12-01 is not known yet; by 2026-03-10 it is."""
    pack, measure = variant(FTA, notifications(intent("2025-10-01"), full_text("2025-12-01")))
    assert "NOTIF-US-CUSMA-TEXT" in checks(pack, measure, date(2025, 11, 1))
    assert "NOTIF-US-CUSMA-NOTICE" not in checks(pack, measure, date(2025, 11, 1))
    assert "NOTIF-US-CUSMA-TEXT" not in checks(pack, measure, AS_OF)


def test_fta_classification_without_notices_holds_declarations() -> None:
    """An unmet CUSMA notice requirement holds a declaration instead of accepting it."""
    pack, _ = variant(FTA)
    verdict = decide_in_quota(pack, import_type="personal")
    assert verdict.outcome == "held"
    assert verdict.total_duty == Decimal("0.00")
    assert {"NOTIF-US-CUSMA-NOTICE", "NOTIF-US-CUSMA-TEXT"} <= rules_of(verdict)


# --- the pack's own prior-notification requirement -------------------------------------


def test_no_us_notification_fires_prior_missing() -> None:
    """Without any recorded US notification the prior-notification check fails."""
    fired = checks(*variant(notifications()))
    assert "NOTIF-US-PRIOR-MISSING" in fired
    assert "NOTIF-US-PRIOR-MET" not in fired


def test_notification_on_entry_into_force_day_is_not_prior() -> None:
    """A notification on the day of entry into force (2026-03-01) is not before it."""
    note = "{date: 2026-03-01, kind: informal, what: Late call, source: LEBLANC-GREER-CALL}"
    fired = checks(*variant(notifications(note)))
    assert "NOTIF-US-PRIOR-MISSING" in fired
    assert "NOTIF-US-PRIOR-MET" not in fired


def test_notification_the_day_before_entry_into_force_is_prior() -> None:
    """A notification on 2026-02-28, the day before entry into force, meets the requirement."""
    note = "{date: 2026-02-28, kind: informal, what: Call, source: LEBLANC-GREER-CALL}"
    fired = checks(*variant(notifications(note)))
    assert "NOTIF-US-PRIOR-MET" in fired
    assert "NOTIF-US-PRIOR-MISSING" not in fired


def issued_permit() -> Permit:
    """A two-vehicle permit issued on 2 March 2026, as the ledger holds it."""
    return Permit(
        permit_number="GAC-EV-0001",
        business_number=IMPORTER,
        measure=TRQ,
        quantity=2,
        issued_on=date(2026, 3, 2),
        expires_on=date(2026, 4, 30),
        status="issued",
        held=2,
        period="2026-03-01",
    )


def test_missing_prior_notification_holds_a_permitted_commercial_declaration() -> None:
    """A missing notification holds the declaration before any quota is asked for."""
    pack, _ = variant(notifications())
    permit = issued_permit()
    verdict = decide_without_ledger(
        pack, {"GAC-EV-0001": permit}, lines=[{"permit_number": "GAC-EV-0001"}]
    )
    assert verdict.outcome == "held"
    assert verdict.total_duty == Decimal("0.00")
    assert {"NOTIF-US-PRIOR-MISSING", "QUOTA-EVTRQ-CLAIM"} <= rules_of(verdict)
    assert all(line.duties == () for line in verdict.lines)


def test_missing_prior_notification_holds_a_personal_importation() -> None:
    """Measure-level findings apply to every verdict of the measure, personal imports included
    (a personal importation in 87.03 uses its permit like any other)."""
    pack, _ = variant(notifications())
    permit = issued_permit()
    verdict = decide_without_ledger(
        pack,
        {"GAC-EV-0001": permit},
        import_type="personal",
        lines=[{"permit_number": "GAC-EV-0001"}],
    )
    assert verdict.outcome == "held"
    assert verdict.total_duty == Decimal("0.00")
    assert {"NOTIF-US-PRIOR-MISSING", "QUOTA-EVTRQ-CLAIM"} <= rules_of(verdict)


# --- GATT Art. II ----------------------------------------------------------------------


def test_in_quota_rate_above_bound_rate_is_flagged() -> None:
    """With a 5% bound rate the 6.1% in-quota rate exceeds it."""
    fired = checks(*variant(('bound_rate: "6.1%"', 'bound_rate: "5%"')))
    assert "WTO-EVTRQ-BOUND-RATE-EXCEEDED" in fired
    assert "WTO-EVTRQ-BOUND-RATE-MET" not in fired


def test_in_quota_rate_equal_to_bound_rate_is_met() -> None:
    """A 6.1% bound rate is met by the 6.1% in-quota rate (not exceeded)."""
    fired = checks(*variant(('bound_rate: "6.1%"', 'bound_rate: "6.10%"')))
    assert "WTO-EVTRQ-BOUND-RATE-MET" in fired
    assert "WTO-EVTRQ-BOUND-RATE-EXCEEDED" not in fired


def test_exceeded_bound_rate_is_a_warning_that_does_not_reject() -> None:
    """An exceeded bound rate is information for policy officers; the declaration is accepted."""
    pack, _ = variant(('bound_rate: "6.1%"', 'bound_rate: "5%"'))
    verdict = decide_in_quota(pack, import_type="personal")
    assert verdict.outcome == "accepted"
    assert verdict.total_duty == Decimal("4880.00")
    exceeded = [item for item in verdict.findings if item.rule == "WTO-EVTRQ-BOUND-RATE-EXCEEDED"]
    assert [item.severity for item in exceeded] == ["warning"]


def test_variant_findings_cite_the_pack_version_and_reference() -> None:
    """Every measure-level finding cites its rule, pack version and legal reference."""
    pack, measure = variant(notifications())
    for fired in measure_checks(pack, measure, AS_OF):
        finding = fired.finding
        assert finding.pack_version == "2026.4"
        assert finding.reference
        assert finding.measure == TRQ


# --- ILA Art. 5.1: a late notification stays on record ----------------------------------

NOTIFIED = (
    "      publication: Notice to Importers No. 1162\n",
    "      publication: Notice to Importers No. 1162\n      wto_licensing_notified_on: {on}\n",
)


def _notified_on(on: str) -> tuple[str, str]:
    return NOTIFIED[0], NOTIFIED[1].format(on=on)


@pytest.mark.parametrize(
    ("notified_on", "as_of", "expected"),
    [
        ("2026-04-26", "2026-05-10", set()),  # day 60: on time
        ("2026-04-27", "2026-04-26", set()),  # not yet notified, not yet overdue
        ("2026-04-27", "2026-04-27", {"WTO-EVTRQ-ILA-5.1-LATE"}),  # day 61: late
        ("2026-05-20", "2026-05-19", {"WTO-EVTRQ-ILA-5.1"}),  # overdue, none yet
        ("2026-05-20", "2026-05-20", {"WTO-EVTRQ-ILA-5.1-LATE"}),  # made late: recorded late
        ("2026-05-20", "2027-03-10", {"WTO-EVTRQ-ILA-5.1-LATE"}),  # and stays so
    ],
)
def test_a_late_wto_licensing_notification_is_recorded_as_late(
    notified_on: str, as_of: str, expected: set[str]
) -> None:
    """A notification more than 60 days after publication does not make the Art. 5.1 warning vanish: it becomes 'late'."""
    fired = checks(*variant(_notified_on(notified_on)), date.fromisoformat(as_of))
    assert fired & {"WTO-EVTRQ-ILA-5.1", "WTO-EVTRQ-ILA-5.1-LATE"} == expected


def test_a_late_notification_names_its_date_and_delay() -> None:
    """The late finding says when the notification was made and how many days after publication."""
    pack, measure = variant(_notified_on("2026-05-20"))
    late = [
        item.finding
        for item in measure_checks(pack, measure, date(2026, 6, 1))
        if item.rule.id == "WTO-EVTRQ-ILA-5.1-LATE"
    ]
    assert [finding.message for finding in late] == [
        "The licensing procedure was notified to the WTO Committee on Import Licensing on "
        "2026-05-20, 84 days after publication on 2026-02-25: late (due within 60 days)."
    ]


# --- a permit used up between evaluation and allocation --------------------------------


def test_permit_used_up_between_evaluation_and_allocation_is_refused(
    store: RedisStore, catalog: Catalog
) -> None:
    """Two declarations that both saw a permit issued: the second to allocate is refused whole."""
    application = PermitApplication(
        permit_number="GAC-EV-RACE",
        business_number=IMPORTER,
        measure=TRQ,
        quantity=10,
        issued_on=date(2026, 3, 2),
    )
    applied = permit_workflow.apply(store, catalog, application, date(2026, 3, 2))
    assert applied.decision.outcome == "issued"
    line = {"quantity": "10", "value_for_duty": "300000.00", "permit_number": "GAC-EV-RACE"}
    first, second = (
        Declaration.model_validate(
            declaration(name, lines=[line], accepted_at="2026-03-10T10:00:00-04:00")
        )
        for name in ("race-1", "race-2")
    )
    issued = store.ledger.permit(TRQ, "GAC-EV-RACE")
    assert issued is not None and issued.status == "issued"
    seen = {"GAC-EV-RACE": issued}  # both read the permit before either allocated
    early = engine.evaluate(first, catalog.current, seen)
    late = engine.evaluate(second, catalog.current, seen)
    assert late.requests, "the stale view of the permit lets the second declaration claim it"

    on = date(2026, 3, 10)
    first_allocation = store.ledger.allocate("race-1", early.requests, on, now_rfc3339(), IMPORTER)
    assert first_allocation.applied
    assert engine.finalize(early, first_allocation).outcome == "accepted"
    allocation = store.ledger.allocate("race-2", late.requests, on, now_rfc3339(), IMPORTER)
    assert not allocation.applied
    verdict = engine.finalize(late, allocation)

    assert verdict.outcome == "rejected"
    assert verdict.total_duty == Decimal("0.00")
    assert "QUOTA-EVTRQ-PERMIT-EXHAUSTED" in rules_of(verdict)
    assert "QUOTA-EVTRQ-IN-QUOTA" not in rules_of(verdict)
    assert [each.treatment for each in verdict.lines] == ["no_permit"]
    stored = store.ledger.permit(TRQ, "GAC-EV-RACE")
    assert stored is not None
    assert (stored.status, stored.used, stored.used_by) == ("used", 10, "race-1")
