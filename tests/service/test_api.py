"""The HTTP API: the real app and HTTP server in the test process on a real Redis, with
verdicts from the workers' own evaluation (conftest `api`); the live workers' health on
the running stack."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from conftest import IMPORTER, OTHER_IMPORTER, Accord, InProcess, Stack, audit_of, unique_id
from helpers import declaration, vin
from rules.catalog import Catalog
from schemas.audit import GENESIS, AuditEvent
from schemas.verification import head_mac, verify_checkpoints
from service import views
from store import RedisStore, free_port
from store_calls import change_stored_event, checkpoints_raw, rewrite_trail, stored_trail


def submit(api: Accord, body: dict[str, Any], role: str = "admin") -> Any:
    with api.client(role) as client:
        return client.post("/v1/declarations", json=body)


def wait_for(api: Accord, declaration_id: str, role: str = "admin") -> dict[str, Any]:
    with api.client(role) as client:
        response = client.get(f"/v1/declarations/{declaration_id}", params={"wait": 20})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_surtax_declaration_is_decided_with_the_surtax(api: InProcess) -> None:
    """A CN EV of 1 December 2025, 2 vehicles at 80,000.00, owes 93,334.00 (duty, surtax, excise, GST)."""
    declaration_id = unique_id()
    response = submit(api, declaration(declaration_id))
    assert response.status_code == 202
    assert response.json() == {"declaration_id": declaration_id, "status": "queued"}
    verdict = wait_for(api, declaration_id)
    assert verdict["status"] == "decided"
    assert verdict["outcome"] == "accepted"
    assert verdict["total_duty"] == "93334.00"
    assert [line["treatment"] for line in verdict["lines"]] == ["surtax"]
    assert verdict["rule_packs"][0]["id"] == "CA-CN-SURTAX-2024"
    assert verdict["audit"]["events"] > 3


def test_same_body_again_answers_200_and_evaluates_once(api: InProcess) -> None:
    """Resubmitting the same declaration is 200 with the current status, not a new evaluation."""
    body = declaration(unique_id())
    assert submit(api, body).status_code == 202
    wait_for(api, body["declaration_id"])
    again = submit(api, body)
    assert again.status_code == 200
    assert again.json()["status"] == "decided"
    with api.client() as client:
        trail = client.get(f"/v1/declarations/{body['declaration_id']}/audit").json()
    assert [event["type"] for event in trail["events"]].count("verdict") == 1


def test_same_id_with_another_body_is_a_conflict(api: InProcess) -> None:
    """The declaration id is the idempotency key: another body under it is 409."""
    body = declaration(unique_id())
    assert submit(api, body).status_code == 202
    changed = {**body, "accepted_at": "2025-12-02T10:00:00-05:00"}
    response = submit(api, changed)
    assert response.status_code == 409
    assert response.json()["error"].startswith("declaration id already used")


ID_TAKEN = {
    "error": "declaration id already used",
    "detail": [{"field": "declaration_id", "message": "declaration id taken"}],
}


def test_an_id_another_importer_took_says_only_that_it_is_taken(api: InProcess) -> None:
    """Reusing another importer's id is a 409 that tells nothing of that declaration."""
    theirs = declaration(unique_id(), importer={"business_number": OTHER_IMPORTER, "name": "Other"})
    assert submit(api, theirs, role="other_submitter").status_code == 202
    wait_for(api, theirs["declaration_id"], role="other_submitter")
    mine = declaration(theirs["declaration_id"])
    single = submit(api, mine, role="submitter")
    with api.client("submitter") as client:
        batch = client.post("/v1/declarations/batch", json={"declarations": [mine]})
        assert client.get(f"/v1/declarations/{mine['declaration_id']}").status_code == 404
    assert (single.status_code, single.json()) == (409, ID_TAKEN)
    assert batch.json()["results"] == [{"index": 0, "status_code": 409, **ID_TAKEN}]


def test_the_owner_resubmitting_its_own_body_still_sees_its_status(api: InProcess) -> None:
    """The same body again from its own importer is 200 with the status, single or batched."""
    body = declaration(unique_id())
    assert submit(api, body, role="submitter").status_code == 202
    wait_for(api, body["declaration_id"], role="submitter")
    again = submit(api, body, role="submitter")
    with api.client("submitter") as client:
        batch = client.post("/v1/declarations/batch", json={"declarations": [body]})
    assert (again.status_code, again.json()["status"]) == (200, "decided")
    [result] = batch.json()["results"]
    assert (result["status_code"], result["status"]) == (200, "decided")


def test_invalid_declaration_names_every_bad_field_and_stores_nothing(api: InProcess) -> None:
    """A 422 lists each bad field by its path; the declaration does not exist afterwards."""
    body = declaration(
        unique_id(),
        accepted_at="2026-03-10T10:00:00",
        lines=[{"tariff_item": "8703.80", "value_for_duty": "-5", "origin": "ZZ"}],
    )
    response = submit(api, body)
    assert response.status_code == 422
    fields = {item["field"] for item in response.json()["detail"]}
    assert {
        "accepted_at",
        "lines[0].tariff_item",
        "lines[0].value_for_duty",
        "lines[0].origin",
    } <= fields
    with api.client() as client:
        assert client.get(f"/v1/declarations/{body['declaration_id']}").status_code == 404


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        (b"{not json", 422),
        (b"[]", 422),
        (b'"a string"', 422),
        (b"null", 422),
        (json.dumps({"declaration_id": "x"}).encode(), 422),
        ("\udcff".encode("utf-8", "surrogatepass"), 422),
    ],
)
def test_malformed_bodies_are_422_never_5xx(api: InProcess, payload: bytes, status: int) -> None:
    """Whatever the body, the answer is a JSON error with a 4xx status."""
    with api.client() as client:
        response = client.post("/v1/declarations", content=payload)
    assert response.status_code == status
    assert set(response.json()) == {"error", "detail"}


def nested(depth: int) -> bytes:
    return b'{"declaration_id": "deep", "importer": ' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.parametrize(
    ("path", "payload", "field"),
    [
        ("/v1/declarations", nested(1000), "body"),
        ("/v1/declarations", nested(100_000), "body"),
        ("/v1/declarations/batch", b'{"declarations": [' + nested(1000) + b"]}", "body"),
    ],
)
def test_deeply_nested_json_is_422_and_stores_nothing(
    api: InProcess, path: str, payload: bytes, field: str
) -> None:
    """JSON nested a thousand deep or more is refused with a 422 naming the body, not a 500."""
    with api.client() as client:
        response = client.post(path, content=payload)
        assert client.get("/v1/declarations/deep").status_code == 404
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["field"] == field


def test_a_lone_surrogate_is_422_at_its_field(api: InProcess) -> None:
    """A lone surrogate in the importer's name is a 422 naming importer.name; nothing is stored."""
    body = declaration(unique_id(), importer={"business_number": IMPORTER, "name": "Maple \ud800"})
    payload = json.dumps(body).encode()  # ensure_ascii: the surrogate travels as \ud800
    with api.client() as client:
        response = client.post("/v1/declarations", content=payload)
        assert client.get(f"/v1/declarations/{body['declaration_id']}").status_code == 404
    assert response.status_code == 422, response.text
    assert [item["field"] for item in response.json()["detail"]] == ["importer.name"]


def test_a_lone_surrogate_fails_only_its_own_item_of_a_batch(api: InProcess) -> None:
    """In a batch, the item with a lone surrogate gets a 422 and the others are stored."""
    good = declaration(unique_id())
    bad = declaration(unique_id(), lines=[{"description": "Battery \udc00 electric"}])
    payload = json.dumps({"declarations": [good, bad]}).encode()
    with api.client() as client:
        response = client.post("/v1/declarations/batch", content=payload)
        assert client.get(f"/v1/declarations/{bad['declaration_id']}").status_code == 404
    assert response.status_code == 202, response.text
    first, second = response.json()["results"]
    assert first["status_code"] == 202
    assert (second["status_code"], second["detail"][0]["field"]) == (422, "lines[0].description")
    assert wait_for(api, good["declaration_id"])["status"] == "decided"


@pytest.mark.parametrize(
    "path",
    [
        "/v1/permits",
        "/v1/quotas/TEST-TW-EV-PRORATA/runs",
        "/v1/quotas/TEST-TH-EV-ALLOC/allocations",
        "/v1/replay",
        "/v1/declarations",
    ],
)
def test_a_chunked_body_over_the_limit_is_413(api: InProcess, path: str) -> None:
    """Without a Content-Length, a body that grows past 1 MiB is refused with 413 everywhere."""

    def chunks() -> Any:
        yield b'{"padding": "'
        for _ in range(20):
            yield b"x" * 64 * 1024
        yield b'"}'

    with api.client() as client:
        response = client.post(path, content=chunks())
    assert "content-length" not in response.request.headers
    assert response.status_code == 413, response.text
    assert response.json()["error"] == "request body too large"


def test_body_over_the_limit_is_413(api: InProcess) -> None:
    """A body over 1 MiB is refused before it is parsed."""
    body = declaration(unique_id(), lines=[{"description": "x" * 400}] * 999)
    payload = json.dumps(body).encode() + b" " * (1024 * 1024)
    with api.client() as client:
        response = client.post("/v1/declarations", content=payload)
    assert response.status_code == 413
    assert response.json()["error"] == "request body too large"


def test_requests_without_a_valid_token_are_401(api: InProcess) -> None:
    """No token, or an unknown one, is 401 on every endpoint but /healthz."""
    import httpx

    assert httpx.post(f"{api.url}/v1/declarations", json=declaration("x")).status_code == 401
    assert (
        httpx.get(f"{api.url}/v1/quotas", headers={"Authorization": "Bearer nope"}).status_code
        == 401
    )
    assert httpx.get(f"{api.url}/healthz").status_code == 200


def test_submitter_submits_and_sees_only_its_own_importer(api: InProcess) -> None:
    """Submitting for another importer is 403; another importer's declaration is 404."""
    mine = declaration(unique_id())
    assert submit(api, mine, role="submitter").status_code == 202
    theirs = declaration(unique_id(), importer={"business_number": OTHER_IMPORTER, "name": "Other"})
    assert submit(api, theirs, role="submitter").status_code == 403
    assert submit(api, theirs, role="other_submitter").status_code == 202
    with api.client("submitter") as client:
        assert client.get(f"/v1/declarations/{mine['declaration_id']}").status_code == 200
        assert client.get(f"/v1/declarations/{theirs['declaration_id']}").status_code == 404
    with api.client("auditor") as client:
        assert client.get(f"/v1/declarations/{theirs['declaration_id']}").status_code == 200


def test_batch_stores_the_valid_and_names_the_invalid(api: InProcess) -> None:
    """One result per item: valid ones 202 and queued, invalid ones 422 with their fields."""
    good = declaration(unique_id())
    bad = declaration(unique_id(), lines=[{"quantity": "1.5"}])
    with api.client() as client:
        response = client.post("/v1/declarations/batch", json={"declarations": [good, bad]})
    assert response.status_code == 202
    first, second = response.json()["results"]
    assert (first["status_code"], first["declaration_id"]) == (202, good["declaration_id"])
    assert second["status_code"] == 422
    assert second["detail"][0]["field"] == "lines[0].quantity"
    assert wait_for(api, good["declaration_id"])["outcome"] == "accepted"
    with api.client() as client:
        assert client.get(f"/v1/declarations/{bad['declaration_id']}").status_code == 404


def apply_for_permit(
    api: Accord, quantity: int, issued_on: str | None = None, role: str = "admin", **extra: Any
) -> dict[str, Any]:
    """An issued permit for the base importer (its units drawn from the quota), issued
    today unless told otherwise (a permit that expires while the suite runs would have
    its units given back by the service's sweep)."""
    issued_on = issued_on or datetime.now(UTC).date().isoformat()
    with api.client(role) as client:
        response = client.post(
            "/v1/permits",
            json={
                "business_number": "123456789RM0001",
                "measure": "CA-CN-EV-TRQ-2026",
                "quantity": quantity,
                "issued_on": issued_on,
                **extra,
            },
        )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def remaining(api: Accord, as_of: str = "2026-03-10") -> int:
    with api.client() as client:
        body = client.get("/v1/quotas/CA-CN-EV-TRQ-2026", params={"as_of": as_of}).json()
    return int(body["period"]["remaining"])


def test_a_permit_draws_the_quota_and_a_declaration_uses_it(api: InProcess) -> None:
    """Issuing a permit for 10 vehicles draws 10 units; the declaration that uses it owes
    MFN on them and draws nothing more; cancelling the declaration makes the permit usable
    again, and cancelling the permit returns its units. (Today's dates: units come back to
    the period open on the day they are given back.)"""
    now = datetime.now(UTC)
    today = now.date().isoformat()
    before = remaining(api, today)
    permit = apply_for_permit(api, 10, issued_on=today, role="submitter")
    number = permit["permit_number"]
    assert (permit["status"], permit["held"]) == ("issued", 10)
    assert permit["expires_on"] == (now.date() + timedelta(days=59)).isoformat()
    assert remaining(api, today) == before - 10
    body = declaration(
        unique_id(),
        accepted_at=(now - timedelta(minutes=1)).isoformat(timespec="seconds"),
        lines=[{"quantity": "10", "value_for_duty": "300000.00", "permit_number": number,
                "vins": [vin(serial) for serial in range(900000, 900010)]}],
    )  # fmt: skip
    assert submit(api, body).status_code == 202
    verdict = wait_for(api, body["declaration_id"])
    # MFN 18,300.00 + excise 10 x 100.00 + GST 5% of 319,300.00 = 15,965.00
    assert (verdict["outcome"], verdict["total_duty"]) == ("accepted", "35265.00")
    assert verdict["lines"][0]["treatment"] == "in_quota"
    assert verdict["lines"][0]["quota"] == {
        "quota_id": "CA-CN-EV-TRQ-2026",
        "period": permit["period"],
        "sub_quota": None,
    }
    assert remaining(api, today) == before - 10
    with api.client() as client:
        used = client.get(f"/v1/permits/{number}").json()
        assert (used["status"], used["used_by"], used["remaining"]) == (
            "used", body["declaration_id"], 0,
        )  # fmt: skip
        refused = client.post(f"/v1/permits/{number}/cancel")
        assert (refused.status_code, refused.json()["error"]) == (409, "permit used")
        cancelled = client.post(f"/v1/declarations/{body['declaration_id']}/cancel")
        assert cancelled.status_code == 200
        assert cancelled.json()["status"] == "cancelled"
        again = client.get(f"/v1/permits/{number}").json()
        assert (again["status"], again["remaining"]) == ("issued", 10)
        trail = client.get(f"/v1/declarations/{body['declaration_id']}/audit").json()
    assert trail["verified"] is True
    assert remaining(api, today) == before - 10
    with api.client("submitter") as client:
        ended = client.post(f"/v1/permits/{number}/cancel").json()
    assert (ended["status"], ended["returned"]) == ("cancelled", 10)
    assert remaining(api, today) == before
    reused = declaration(unique_id(), accepted_at=body["accepted_at"], lines=body["lines"])
    assert submit(api, reused).status_code == 202
    refused = wait_for(api, reused["declaration_id"])
    assert refused["outcome"] == "rejected"
    assert refused["lines"][0]["treatment"] == "no_permit"


def test_quota_declaration_without_permit_is_rejected_and_consumes_nothing(api: InProcess) -> None:
    """A commercial CN EV after 1 March 2026 without a permit is rejected for want of a
    permit (treatment no_permit, not over_quota), and draws nothing."""
    before = remaining(api)
    body = declaration(unique_id(), accepted_at="2026-03-10T10:00:00-05:00")
    submit(api, body)
    verdict = wait_for(api, body["declaration_id"])
    assert verdict["outcome"] == "rejected"
    assert verdict["lines"][0]["treatment"] == "no_permit"
    errors = [item["rule"] for item in verdict["findings"] if item["severity"] == "error"]
    assert errors == ["ELIG-EVTRQ-PERMIT-MISSING"]
    assert remaining(api) == before


def test_who_may_apply_for_permits(api: InProcess) -> None:
    """A submitter applies for its own importer only, an auditor never; a bad application
    is 422 naming the field; none of these draws a unit."""
    application = {"business_number": "123456789RM0001", "measure": "CA-CN-EV-TRQ-2026",
                   "quantity": 1, "issued_on": "2026-03-01"}  # fmt: skip
    before = remaining(api)
    with api.client("auditor") as client:
        assert client.post("/v1/permits", json=application).status_code == 403
    with api.client("submitter") as client:
        other = {**application, "business_number": "987654321RM0001"}
        assert client.post("/v1/permits", json=other).status_code == 403
    with api.client() as client:
        for change, field in (
            ({"measure": "CA-CN-SUR-2024-EV"}, "measure"),
            ({"quantity": 0}, "quantity"),
            ({"issued_on": "2099-01-01"}, "issued_on"),
            ({"issued_on": "2026-02-27"}, "issued_on"),
            ({"expires_on": "2026-04-30"}, "expires_on"),  # 61 days
            ({"sub_quota": "cheap"}, "sub_quota"),
            ({"permit_number": ".."}, "permit_number"),
            ({"business_number": "123456789RT0001"}, "business_number"),
        ):
            response = client.post("/v1/permits", json={**application, **change})
            assert response.status_code == 422, (change, response.text)
            assert response.json()["detail"][0]["field"] == field
    assert remaining(api) == before


def test_an_administrator_cannot_issue_more_than_the_quota(api: InProcess) -> None:
    """Once one vehicle is drawn, three permits of the whole quota year (49,000 vehicles)
    are refused with the units left, and nothing more is drawn."""
    apply_for_permit(api, 1, issued_on="2026-09-10")
    before = remaining(api, "2026-09-10")
    assert before < 49_000
    with api.client() as client:
        for _ in range(3):
            response = client.post("/v1/permits", json={
                "business_number": "123456789RM0001", "measure": "CA-CN-EV-TRQ-2026",
                "quantity": 49_000, "issued_on": "2026-09-10",
            })  # fmt: skip
            assert response.status_code == 409
            assert response.json()["error"] == "quota exhausted"
            assert response.json()["detail"]["remaining"] == before
    assert remaining(api, "2026-09-10") == before


def test_measures_and_their_checks(api: InProcess) -> None:
    """On 10 March 2026 the quota shows the 21-day and Art. XIII warnings; 5.1 from 27 April."""
    with api.client("auditor") as client:
        measures = client.get("/v1/measures", params={"as_of": "2026-03-10"}).json()["measures"]
        assert "CA-CN-EV-TRQ-2026" in {item["id"] for item in measures}
        assert "CA-CN-SUR-2024-EV" not in {item["id"] for item in measures}
        march = client.get(
            "/v1/measures/CA-CN-EV-TRQ-2026/checks", params={"as_of": "2026-03-10"}
        ).json()
        april = client.get(
            "/v1/measures/CA-CN-EV-TRQ-2026/checks", params={"as_of": "2026-04-27"}
        ).json()
        assert client.get("/v1/measures/NOPE/checks").status_code == 404
    march_rules = {item["rule"] for item in march["findings"]}
    assert {"WTO-EVTRQ-ILA-1.4A", "WTO-EVTRQ-XIII-1"} <= march_rules
    assert "WTO-EVTRQ-ILA-5.1" not in march_rules
    assert "WTO-EVTRQ-ILA-5.1" in {item["rule"] for item in april["findings"]}


def test_held_when_the_notification_requirement_is_unmet(api: InProcess) -> None:
    """A declaration under a measure whose US notification is missing is held, not accepted."""
    body = declaration(
        unique_id(), accepted_at="2026-03-10T10:00:00-05:00", lines=[{"origin": "VN"}]
    )
    submit(api, body)
    verdict = wait_for(api, body["declaration_id"])
    assert verdict["outcome"] == "held"
    assert "NOTIF-TEST-HELD-MISSING" in {item["rule"] for item in verdict["findings"]}


def test_auditor_lists_the_decisions_of_a_rule(api: InProcess) -> None:
    """GET /v1/decisions?rule= lists the declarations a rule decided, for auditors only."""
    body = declaration(unique_id(), accepted_at="2026-03-12T10:00:00-05:00")
    submit(api, body)
    wait_for(api, body["declaration_id"])
    with api.client("auditor") as client:
        found = client.get("/v1/decisions", params={"rule": "ELIG-EVTRQ-PERMIT-MISSING"}).json()
    match = [
        item for item in found["decisions"] if item["declaration_id"] == body["declaration_id"]
    ]
    assert match == [
        {"declaration_id": body["declaration_id"], "line": 1, "severity": "error",
         "at": match[0]["at"], "pack_version": "2026.4", "outcome": "rejected"}
    ]  # fmt: skip
    with api.client("submitter") as client:
        assert client.get("/v1/decisions", params={"rule": "X"}).status_code == 403


def test_audit_trail_verifies(api: InProcess) -> None:
    """The trail runs received → validated → … → verdict and its hash chain verifies."""
    body = declaration(unique_id())
    submit(api, body)
    wait_for(api, body["declaration_id"])
    with api.client("auditor") as client:
        trail = client.get(f"/v1/declarations/{body['declaration_id']}/audit").json()
    types = [event["type"] for event in trail["events"]]
    assert types[:3] == ["received", "validated", "evaluated"]
    assert types[-2:] == ["duties", "verdict"]
    assert "rule_decision" in types
    assert trail["verified"] is True
    assert trail["head"] == trail["events"][-1]["hash"]


def test_the_audit_trail_pages_and_still_verifies_the_whole_chain(api: InProcess) -> None:
    """?limit= and ?cursor= page the events (next_cursor until the last page); every page
    verifies the whole chain, so an event changed on a later page fails the first page too."""
    body = declaration(unique_id(), lines=[{}, {}, {}])
    submit(api, body)
    wait_for(api, body["declaration_id"])
    path = f"/v1/declarations/{body['declaration_id']}/audit"
    with api.client("auditor") as client:
        whole = client.get(path).json()
        total = len(whole["events"])
        assert total > 4 and whole["next_cursor"] is None
        assert (whole["cursor"], whole["limit"]) == (0, views.AUDIT_PAGE)
        pages, cursor = [], 0
        while cursor is not None:
            page = client.get(path, params={"limit": 2, "cursor": cursor}).json()
            assert len(page["events"]) <= 2
            assert page["verified"] is True and page["verified_events"] == total
            pages.append(page)
            cursor = page["next_cursor"]
        assert len(pages) == -(-total // 2)
        assert [event["seq"] for page in pages for event in page["events"]] == list(
            range(1, total + 1)
        )
        assert client.get(path, params={"limit": views.MAX_AUDIT_PAGE + 1}).status_code == 422
        assert client.get(path, params={"cursor": -1}).status_code == 422
    store = api.store()
    last = json.loads(stored_trail(store, body["declaration_id"])[-1])
    last["data"]["outcome"] = "rejected"
    change_stored_event(store, body["declaration_id"], -1, json.dumps(last))
    store.close()
    with api.client("auditor") as client:
        first = client.get(path, params={"limit": 2}).json()
    assert [event["seq"] for event in first["events"]] == [1, 2]
    assert first["verified"] is False
    assert first["first_bad_seq"] == total


def test_wait_answers_with_the_verdict_and_is_bounded(api: InProcess) -> None:
    """GET with wait answers with the decided verdict; a wait over 30 s is a 422."""
    body = declaration(unique_id())
    submit(api, body)
    assert wait_for(api, body["declaration_id"])["status"] == "decided"
    with api.client() as client:
        too_long = client.get(f"/v1/declarations/{body['declaration_id']}", params={"wait": 31})
    assert too_long.status_code == 422
    assert too_long.json()["detail"][0]["field"] == "query.wait"


def test_health_says_up_or_down_and_nothing_more(api: InProcess) -> None:
    """/healthz answers status, redis and workers only; with Redis down, no address or error."""
    import httpx

    assert set(httpx.get(f"{api.url}/healthz").json()) == {"status", "redis", "workers"}
    unreachable = f"redis://127.0.0.1:{free_port()}/0"
    down = views.health(RedisStore.from_url(unreachable, prefix="health"))
    assert down.status_code == 503
    assert json.loads(down.body) == {"status": "unavailable", "redis": "down", "workers": None}


@pytest.mark.stack
def test_health_and_metrics(stack: Stack) -> None:
    """/healthz reports Redis and the live workers; /metrics is Prometheus text."""
    import httpx

    health = httpx.get(f"{stack.url}/healthz").json()
    assert health["redis"] == "up"
    assert health["workers"] >= 1
    with stack.client("auditor") as client:
        text = client.get("/metrics").text
    assert "accord_verdicts_total" in text
    assert "accord_queue_depth" in text


def test_a_declaration_accepted_in_the_future_is_refused(api: InProcess) -> None:
    """Quota periods open by acceptance date, so an accepted_at ahead of the clock is a 422."""
    response = submit(api, declaration(unique_id(), accepted_at="2099-01-01T10:00:00-05:00"))
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "accepted_at"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/quotas?as_of=9999-12-31", None),
        ("GET", "/v1/quotas/CA-CN-EV-TRQ-2026?as_of=0001-01-01", None),
        ("GET", "/v1/measures?as_of=9999-12-31", None),
        ("GET", "/v1/decisions?rule=X&from=nan", None),
        ("GET", "/v1/export?from=0001-01-01T00:00:00&to=2020-01-01T00:00:00Z", None),
        ("GET", "/v1/export?from=2020-01-01T00:00:00Z&to=9999-12-31T23:59:59", None),
        ("POST", "/v1/permits", {"permit_number": "Y9999", "business_number": "123456789RM0001",
                                 "measure": "CA-CN-EV-TRQ-2026", "quantity": 1, "issued_on": "9999-12-31"}),
        ("GET", "/v1/quotas/CA-CN-EV-TRQ-2026?cursor=-1", None),
        ("GET", "/v1/quotas/CA-CN-EV-TRQ-2026?limit=100000", None),
        ("POST", "/v1/declarations", {**declaration("huge-line"), "lines": [{**declaration("x")["lines"][0], "line": 2**60}]}),
    ],
)  # fmt: skip
def test_out_of_range_input_is_422_not_5xx(
    api: InProcess, method: str, path: str, body: Any
) -> None:
    """Dates beyond any declaration's reach and absurd numbers are refused with a 422."""
    with api.client() as client:
        response = client.request(method, path, json=body)
    assert response.status_code == 422, response.text


def test_audit_verification_notices_truncation_and_garbled_events(api: InProcess) -> None:
    """Removing the last events, or garbling one, makes the trail fail verification (not a 500)."""
    store = api.store()
    for damage in ("truncate", "garble"):
        body = declaration(unique_id())
        submit(api, body)
        wait_for(api, body["declaration_id"])
        events = stored_trail(store, body["declaration_id"])
        if damage == "truncate":
            rewrite_trail(store, body["declaration_id"], events[:-1])
        else:
            change_stored_event(store, body["declaration_id"], 2, '{"seq": 3, "not": "an event"}')
        with api.client("auditor") as client:
            response = client.get(f"/v1/declarations/{body['declaration_id']}/audit")
        assert response.status_code == 200
        trail = response.json()
        assert trail["verified"] is False, damage
        assert trail["first_bad_seq"] is not None
        assert trail["problem"]


def all_events(client: Any, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every event of a quota year, page after page."""
    events: list[dict[str, Any]] = []
    cursor: str | None = "0"
    while cursor is not None:
        page = client.get(
            "/v1/quotas/CA-CN-EV-TRQ-2026", params={**params, "cursor": cursor, "limit": 50}
        ).json()["events"]
        assert len(page["events"]) <= 50
        events.extend(page["events"])
        cursor = page["next_cursor"]
    return events


def test_a_submitter_sees_no_other_importers_declarations_or_permits_in_a_quota(
    api: InProcess,
) -> None:
    """In a quota's events a submitter sees its own declaration ids and permit numbers only."""
    now = datetime.now(UTC)
    number = apply_for_permit(api, 2)["permit_number"]
    body = declaration(
        unique_id(),
        accepted_at=(now - timedelta(minutes=1)).isoformat(timespec="seconds"),
        lines=[{"quantity": "1", "value_for_duty": "30000.00", "permit_number": number}],
    )
    submit(api, body)
    assert wait_for(api, body["declaration_id"])["outcome"] == "accepted"
    params = {"as_of": body["accepted_at"][:10]}
    with api.client("submitter") as client:
        mine = all_events(client, params)
    with api.client("other_submitter") as client:
        theirs = all_events(client, params)
    # the undeclared vehicle went back at once, naming the declaration and the permit
    returned = [event for event in mine if event["permit_number"] == number]
    assert [event["type"] for event in returned] == ["allocated", "returned"]
    assert returned[1]["declaration_id"] == body["declaration_id"]
    assert body["declaration_id"] not in {event["declaration_id"] for event in theirs}
    assert number not in {event["permit_number"] for event in theirs}
    assert "123456789RM0001" not in {event["business_number"] for event in theirs}
    assert len(mine) == len(theirs)


def decided_trail(api: Accord) -> str:
    body = declaration(unique_id())
    submit(api, body)
    wait_for(api, body["declaration_id"])
    return str(body["declaration_id"])


def test_a_changed_stored_verdict_fails_verification_at_the_verdict_event(api: InProcess) -> None:
    """Lowering the total duty inside the stored verdict makes the trail fail at its verdict event."""
    declaration_id = decided_trail(api)
    store = api.store()
    key = store.key("decl", declaration_id)
    record = store.get(declaration_id)
    assert record is not None and record.verdict is not None
    verdict = json.loads(record.verdict)
    assert audit_of(api, declaration_id)["verified"] is True
    verdict["total_duty"] = "0.01"
    store.client.hset(key, "verdict", json.dumps(verdict))
    wait = wait_for(api, declaration_id)
    assert wait["total_duty"] == "0.01"  # what a reader is served ...
    trail = audit_of(api, declaration_id)  # ... is what the chain no longer vouches for
    assert trail["verified"] is False
    assert trail["first_bad_seq"] == trail["events"][-1]["seq"]
    assert trail["events"][-1]["type"] == "verdict"
    assert "verdict" in trail["problem"]
    store.close()


def test_a_changed_stored_body_fails_verification_at_the_received_event(api: InProcess) -> None:
    """Editing the stored declaration body (even with its sha field to match) fails at event 1."""
    declaration_id = decided_trail(api)
    store = api.store()
    key = store.key("decl", declaration_id)
    record = store.get(declaration_id)
    assert record is not None
    body = json.loads(record.body)
    body["importer"]["name"] = "Someone Else Ltd."
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    store.client.hset(key, mapping={"body": text, "sha": hashlib.sha256(text.encode()).hexdigest()})
    trail = audit_of(api, declaration_id)
    assert trail["verified"] is False
    assert trail["first_bad_seq"] == 1
    assert "body" in trail["problem"]
    store.close()


def rebuild_chain(store: RedisStore, declaration_id: str) -> str:
    """Rewrite a trail as someone with write access to Redis could: every event again with
    a fresh time and hash, a new head and count. Returns the new head."""
    events = [AuditEvent.model_validate_json(item) for item in stored_trail(store, declaration_id)]
    head = GENESIS
    rebuilt = []
    for event in events:
        fresh = AuditEvent.chain(event.seq, "2026-01-01T00:00:00.000000Z", event.type,
                                 event.data, head)  # fmt: skip
        rebuilt.append(fresh.model_dump_json())
        head = fresh.hash
    rewrite_trail(store, declaration_id, rebuilt)
    pipe = store.client.pipeline()
    pipe.hset(store.key("decl", declaration_id),
              mapping={"audit_head": head, "audit_len": len(rebuilt)})  # fmt: skip
    pipe.hdel(store.key("decl", declaration_id), "checkpoint")
    pipe.execute()
    return head


def test_a_chain_rebuilt_without_the_key_fails_and_with_it_verifies(api: InProcess) -> None:
    """A trail rebuilt with fresh hashes and head is refused as not authenticated unless
    its head's MAC is made with the service's key, which then verifies it."""
    declaration_id = decided_trail(api)
    store = api.store()
    head = rebuild_chain(store, declaration_id)
    trail = audit_of(api, declaration_id)
    assert trail["head"] == head
    assert (trail["verified"], trail["authenticated"]) == (False, False)
    assert "head not authenticated" in trail["problem"]
    events = len(trail["events"])
    store.client.hset(store.key("decl", declaration_id), "audit_mac",
                      head_mac(api.audit_key, declaration_id, head, events))  # fmt: skip
    trail = audit_of(api, declaration_id)
    assert (trail["verified"], trail["authenticated"]) == (True, True)
    store.close()


def test_the_audit_trail_shows_the_checkpoint_that_covers_its_head(api: InProcess) -> None:
    """After a checkpoint, the trail names it as covering its head; a later event makes it a prefix."""
    declaration_id = decided_trail(api)
    store = api.store()
    store.write_checkpoint("2026-12-01T00:00:00.000000Z")  # what the API's sweep does each tick
    trail = audit_of(api, declaration_id)
    assert trail["verified"] is True
    checkpoint = trail["checkpoint"]
    assert checkpoint is not None
    assert (checkpoint["head"], checkpoint["covers"]) == (trail["head"], "head")
    assert checkpoint["events"] == len(trail["events"])
    with api.client() as client:
        assert client.post(f"/v1/declarations/{declaration_id}/cancel").status_code == 200
    later = audit_of(api, declaration_id)
    assert later["verified"] is True
    assert later["checkpoint"]["covers"] == "prefix"
    count, problem = verify_checkpoints(checkpoints_raw(store), api.audit_key)
    assert problem is None
    assert count >= checkpoint["seq"]
    store.close()


def test_a_store_outage_answers_503_without_the_stores_address(
    catalog: Catalog, redis_url: str
) -> None:
    """With Redis unreachable, a caller gets 503 and Retry-After, and the answer names no
    address, port or driver error (those go to the log)."""
    import asyncio
    import concurrent.futures

    import httpx

    from service.api import create_app
    from service.auth import TokenBook, TokenEntry
    from settings import Settings

    port = free_port()
    unreachable = RedisStore.from_url(f"redis://127.0.0.1:{port}/0", prefix="down", timeout=0.5)
    settings = Settings.from_environ({"REDIS_URL": redis_url})
    token = "a-token-for-the-outage-test"
    book = TokenBook((TokenEntry(token=token, role="admin"),))
    app = create_app(settings, unreachable, lambda ids: None, catalog=catalog, tokens=book)

    async def ask() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://accord") as client:
            headers = {"Authorization": f"Bearer {token}"}
            return await client.get("/v1/declarations/x", headers=headers)

    # a loop of its own, in a thread of its own: the test's thread may hold one already
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        answer = pool.submit(lambda: asyncio.run(ask())).result()
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "2"
    assert str(port) not in answer.text
    assert "127.0.0.1" not in answer.text
    assert answer.json()["error"] == "store unavailable"
