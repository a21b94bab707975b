"""From a recorded event to the deliveries due, on a real Redis without processes: who
gets a delivery, an event announced twice made into deliveries once, and the permits a
pro-rata run decides announced."""

from __future__ import annotations

import json
import time
from datetime import date
from typing import Any

import pytest
import yaml

from conftest import IMPORTER, OTHER_IMPORTER, TEST_PACKS
from helpers import declaration, permit_terms
from rules import trail
from rules.catalog import Catalog
from rules.loader import parse_pack
from rules.measure import Measure
from rules.quota import terms_on
from schemas.declaration import Declaration
from store import PermitDecision, RedisStore
from workers import webhook_delivery, webhooks


def pro_rata_measure() -> Measure:
    """TEST-JP-EV-TRQ, its permits shared out at a daily pro-rata run."""
    data = yaml.safe_load((TEST_PACKS / "test-race.yaml").read_text())
    data["measures"][0]["quota"].update(mode="daily_pro_rata", drawn_at="permit")
    return parse_pack(yaml.safe_dump(data).encode(), "test-race, pro rata").measures[0]


def subscribe(store: RedisStore, events: str, business_number: str = "", at: float = 0) -> str:
    sub_id = f"wh_{len(webhooks.hooks_of(store).subscriptions()):016x}"
    webhooks.hooks_of(store).create({
        "id": sub_id, "url": "https://93.184.215.14/", "events": events,
        "business_number": business_number, "secret": "whsec_test",
        "created_at": "2026-01-01T00:00:00Z", "created_ts": repr(at or time.time() - 1),
        "status": "active",
    })  # fmt: skip
    return sub_id


def pump(store: RedisStore, catalog: Catalog) -> list[str]:
    sent: list[str] = []
    webhook_delivery.pump_once(store, catalog, sent.append, lease=30)
    return sorted(sent)


def test_each_subscription_gets_the_events_it_may_have(store: RedisStore, catalog: Catalog) -> None:
    """An unbound subscription gets every importer's permit events of its kinds, a bound
    one only its importer's, one to other kinds none, and one made after the event none."""
    everyone = subscribe(store, "permit.refused,permit.issued")
    mine = subscribe(store, "permit.refused", IMPORTER)
    other_kind = subscribe(store, "permit.expired")
    for number, owner in (("R-1", IMPORTER), ("R-2", OTHER_IMPORTER)):
        terms = permit_terms(number, 1_000_000, "TEST-JP-EV-TRQ", business_number=owner)
        webhooks.announce_application(store, PermitDecision("refused", None, 3), terms)
    later = subscribe(store, "permit.refused", at=time.time() + 60)
    sent = pump(store, catalog)
    by_sub: dict[str, int] = {}
    for member in sent:
        sub_id = member.split("|", 1)[0]
        by_sub[sub_id] = by_sub.get(sub_id, 0) + 1
    assert by_sub == {everyone: 2, mine: 1}
    assert other_kind not in by_sub and later not in by_sub
    delivery = webhooks.hooks_of(store).delivery(f"{mine}|{sent[-1].split('|', 1)[1]}")
    assert delivery is not None
    assert '"remaining":3' in delivery["body"]
    assert webhooks.hooks_of(store).outbox(10) == []


def test_an_event_announced_twice_is_delivered_once(store: RedisStore, catalog: Catalog) -> None:
    """The same permit's refusal announced again (an application retried) makes no second
    delivery: its id is the permit's, and a fanned-out event is remembered."""
    subscribe(store, "permit.refused")
    terms = permit_terms("TWICE", 1_000_000, "TEST-JP-EV-TRQ")
    webhooks.announce_application(store, PermitDecision("refused", None, 0), terms)
    first = pump(store, catalog)
    webhooks.announce_application(store, PermitDecision("refused", None, 0), terms)
    assert pump(store, catalog) == []
    assert len(first) == 1
    assert webhooks.hooks_of(store).due_count() == 1


def test_a_pro_rata_run_announces_the_permits_it_decides(
    store: RedisStore, catalog: Catalog
) -> None:
    """Applications waiting for their day's run: those it issues announce permit.issued,
    those it refuses permit.refused."""
    subscribe(store, "permit.issued,permit.refused")
    measure = pro_rata_measure()
    day = date(2026, 3, 2)
    year = terms_on(measure, day)
    for number, units in (("A", 30), ("B", 500)):
        decision = store.ledger.apply_permit(
            year, permit_terms(number, units, measure.id, issued_on=day), ""
        )
        assert decision.outcome == "pending_allocation"
    store.ledger.run(year, day, "")  # A and B share the units
    assert store.ledger.apply_permit(
        year, permit_terms("C", 1, measure.id, issued_on=day), ""
    ).outcome == "pending_allocation"  # fmt: skip
    second = store.ledger.run(year, day, "")  # nothing left for C
    first_permits = [{"permit_number": number} for number in ("A", "B")]
    webhooks.announce_run(store, measure.id, first_permits)
    webhooks.announce_run(store, measure.id, second.permits)
    entries: list[dict[str, Any]] = [
        json.loads(member) for member, _ in webhooks.hooks_of(store).outbox(10)
    ]
    assert sorted((e["type"], e["data"]["permit_number"]) for e in entries) == [
        ("permit.issued", "A"), ("permit.issued", "B"), ("permit.refused", "C"),
    ]  # fmt: skip


def decide(store: RedisStore, declaration_id: str) -> None:
    """A declaration stored and decided, as a worker records it."""
    body = Declaration.model_validate(declaration(declaration_id))
    store.submit(
        declaration_id, body.canonical_json(), body.body_sha256(),
        body.importer.business_number, time.time(), trail.received(body, "test"),
    )  # fmt: skip
    fields = {"status": "decided", "verdict": json.dumps({"outcome": "accepted"})}
    store.record(declaration_id, [("decided", {"by": "test"})], fields, done=True)


def test_an_event_nobody_asks_for_leaves_nothing_in_the_outbox(store: RedisStore) -> None:
    """Without a subscription to its type, a decision or a permit's refusal writes no
    outbox entry (the outbox cannot grow where no worker delivers); once a subscription
    asks for the type it does, and after the subscription is removed it no longer does."""
    hooks = webhooks.hooks_of(store)
    refused = PermitDecision("refused", None, 0)
    subscribe(store, "permit.issued")  # another type
    decide(store, "WH-NONE-1")
    webhooks.announce_application(store, refused, permit_terms("N-1", 1, "TEST-JP-EV-TRQ"))
    assert hooks.outbox(10) == []
    sub_id = subscribe(store, "declaration.decided,permit.refused")
    decide(store, "WH-WANTED-1")
    webhooks.announce_application(store, refused, permit_terms("N-2", 1, "TEST-JP-EV-TRQ"))
    found = [json.loads(m)["type"] if m[0] == "{" else m for m, _ in hooks.outbox(10)]
    assert sorted(found) == ["declaration.decided|WH-WANTED-1", "permit.refused"]
    assert hooks.remove(sub_id)
    decide(store, "WH-NONE-2")
    webhooks.announce_application(store, refused, permit_terms("N-3", 1, "TEST-JP-EV-TRQ"))
    assert len(hooks.outbox(10)) == 2


def test_an_event_racing_a_new_subscription_is_not_dropped(
    store: RedisStore, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A subscription made, and an event it wants recorded, while the delivery loop reads
    the subscriptions is delivered at a later turn, never dropped as nobody's."""
    hooks = webhooks.hooks_of(store)
    read = webhooks.RedisWebhooks.subscriptions
    late: list[str] = []

    def racing(self: webhooks.RedisWebhooks) -> list[dict[str, str]]:
        found = read(self)
        if not late:
            late.append("")  # once
            late[0] = subscribe(store, "permit.refused", at=time.time() - 0.5)
            terms = permit_terms("RACE", 1_000_000, "TEST-JP-EV-TRQ")
            webhooks.announce_application(store, PermitDecision("refused", None, 0), terms)
        return found

    monkeypatch.setattr(webhooks.RedisWebhooks, "subscriptions", racing)
    assert pump(store, catalog) == []
    sent = pump(store, catalog)
    assert [member.split("|", 1)[0] for member in sent] == late
    assert hooks.outbox(10) == []
