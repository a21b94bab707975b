"""The webhook endpoints on the real app (in-process, without ACCORD_WEBHOOK_ALLOW_PRIVATE):
who may subscribe to what, what a listing shows and hides, and the targets refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from conftest import IMPORTER, OTHER_IMPORTER, InProcess
from schemas.webhook import MAX_PER_IMPORTER

PUBLIC = "https://93.184.215.14/hooks"  # an address literal: no lookup needed


def post(api: InProcess, role: str, body: dict[str, Any]) -> Any:
    with api.client(role) as client:
        return client.post("/v1/webhooks", json=body)


def listed(api: InProcess, role: str) -> list[dict[str, Any]]:
    with api.client(role) as client:
        answer = client.get("/v1/webhooks")
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["webhooks"]
    return found


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://93.184.215.14/hooks", "https"),
        ("https://127.0.0.1/hooks", "127.0.0.1"),
        ("https://localhost:8443/hooks", "loopback"),
        ("https://10.1.2.3/hooks", "10.1.2.3"),
        ("https://192.168.0.10/hooks", "private"),
        ("https://169.254.169.254/latest/meta-data", "169.254.169.254"),
        ("https://[::1]/hooks", "::1"),
        ("https://[::ffff:10.0.0.1]/hooks", "::ffff:10.0.0.1"),
        ("https://100.100.100.200/hooks", "reserved"),
        ("https://user:pw@93.184.215.14/hooks", "credentials"),
        ("ftp://93.184.215.14/hooks", "https"),
    ],
)
def test_a_target_that_is_not_public_https_is_refused(api: InProcess, url: str, words: str) -> None:
    """A URL that is not https, or whose host is loopback, private, link-local (the
    metadata address) or otherwise not public, is a 422 naming `url`; nothing is stored."""
    answer = post(api, "admin", {"url": url, "events": ["declaration.decided"]})
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"]
    assert detail[0]["field"] == "url"
    assert words in detail[0]["message"]
    assert listed(api, "admin") == []


def test_an_administrator_subscribes_and_the_secret_is_shown_once(api: InProcess) -> None:
    """201 with an id and a secret; the listing shows the subscription, never the secret;
    after DELETE it is gone, and a second DELETE is a 404."""
    events = ["declaration.decided", "quota.critical"]
    answer = post(api, "admin", {"url": PUBLIC, "events": events})
    assert answer.status_code == 201, answer.text
    created = answer.json()
    assert created["secret"].startswith("whsec_")
    assert created["business_number"] is None
    assert created["status"] == "active"
    found = listed(api, "admin")
    assert [item["id"] for item in found] == [created["id"]]
    assert "secret" not in found[0]
    assert found[0]["events"] == events
    assert listed(api, "auditor")[0]["id"] == created["id"]
    with api.client() as client:
        assert client.get(f"/v1/webhooks/{created['id']}/deliveries").json() == {
            "webhook_id": created["id"],
            "attempts": [],
        }
        assert client.delete(f"/v1/webhooks/{created['id']}").status_code == 200
        assert client.delete(f"/v1/webhooks/{created['id']}").status_code == 404
    assert listed(api, "admin") == []


def test_an_auditor_writes_nothing(api: InProcess) -> None:
    """An auditor may read the subscriptions but subscribe, remove or test none (403)."""
    created = post(api, "admin", {"url": PUBLIC, "events": ["permit.issued"]}).json()
    assert post(api, "auditor", {"url": PUBLIC, "events": ["permit.issued"]}).status_code == 403
    with api.client("auditor") as client:
        assert client.delete(f"/v1/webhooks/{created['id']}").status_code == 403
        assert client.post(f"/v1/webhooks/{created['id']}/test").status_code == 403
        assert client.get(f"/v1/webhooks/{created['id']}/deliveries").status_code == 200
    assert len(listed(api, "admin")) == 1


def test_a_submitter_is_bound_to_its_own_importer(api: InProcess) -> None:
    """A submitter's subscription is bound to its business number; another importer's
    number or a quota's events are 403; it sees only its own subscriptions, and another
    importer's answers 404."""
    mine = post(api, "submitter", {"url": PUBLIC, "events": ["declaration.decided"]})
    assert mine.status_code == 201, mine.text
    assert mine.json()["business_number"] == IMPORTER
    foreign = {"url": PUBLIC, "events": ["permit.issued"], "business_number": OTHER_IMPORTER}
    assert post(api, "submitter", foreign).status_code == 403
    quota = post(api, "submitter", {"url": PUBLIC, "events": ["quota.exhausted"]})
    assert quota.status_code == 403
    assert "quota.exhausted" in quota.json()["detail"]
    theirs = post(api, "other_submitter", {"url": PUBLIC, "events": ["permit.refused"]}).json()
    assert [item["id"] for item in listed(api, "submitter")] == [mine.json()["id"]]
    assert len(listed(api, "admin")) == 2
    with api.client("submitter") as client:
        for method, path in (
            ("GET", f"/v1/webhooks/{theirs['id']}/deliveries"),
            ("DELETE", f"/v1/webhooks/{theirs['id']}"),
            ("POST", f"/v1/webhooks/{theirs['id']}/test"),
        ):
            assert client.request(method, path).status_code == 404, path
    assert len(listed(api, "admin")) == 2


def test_a_submitter_holds_a_bounded_number_of_subscriptions(api: InProcess) -> None:
    """An importer's submitters hold at most MAX_PER_IMPORTER subscriptions (each one more
    delivery of every event): the next is a 409 that stores nothing, another importer is
    not counted, and removing one makes room."""
    made = [
        post(api, "submitter", {"url": PUBLIC, "events": ["permit.issued"]})
        for _ in range(MAX_PER_IMPORTER)
    ]
    assert [answer.status_code for answer in made] == [201] * MAX_PER_IMPORTER
    over = post(api, "submitter", {"url": PUBLIC, "events": ["permit.issued"]})
    assert over.status_code == 409, over.text
    assert len(listed(api, "submitter")) == MAX_PER_IMPORTER
    other = post(api, "other_submitter", {"url": PUBLIC, "events": ["permit.issued"]})
    assert other.status_code == 201, other.text
    with api.client("submitter") as client:
        assert client.delete(f"/v1/webhooks/{made[0].json()['id']}").status_code == 200
    again = post(api, "submitter", {"url": PUBLIC, "events": ["permit.issued"]})
    assert again.status_code == 201, again.text


def test_bad_subscriptions_name_the_field(api: InProcess) -> None:
    """Unknown or repeated events, none at all, a bad business number, quota events bound
    to an importer: 422 naming the field, and nothing stored."""
    cases = [
        ({"url": PUBLIC, "events": ["declaration.exploded"]}, "events"),
        ({"url": PUBLIC, "events": []}, "events"),
        ({"url": PUBLIC, "events": ["permit.issued", "permit.issued"]}, "events"),
        ({"url": PUBLIC, "events": ["permit.issued"], "business_number": "12"}, "business_number"),
        ({"url": PUBLIC, "events": ["quota.critical"], "business_number": IMPORTER}, "events"),
        ({"events": ["permit.issued"]}, "url"),
    ]
    for body, field in cases:
        answer = post(api, "admin", body)
        assert answer.status_code == 422, (body, answer.text)
        assert field in {item["field"] for item in answer.json()["detail"]}, (body, answer.text)
    assert listed(api, "admin") == []


def test_an_unknown_id_is_a_404_and_a_malformed_one_a_422(api: InProcess) -> None:
    """Ids are `wh_` and 16 hex digits: another shape is a 422, an unknown one a 404."""
    with api.client() as client:
        assert client.get("/v1/webhooks/wh_0123456789abcdef/deliveries").status_code == 404
        assert client.get("/v1/webhooks/../deliveries").status_code in (404, 422)
        assert client.post("/v1/webhooks/nope/test").status_code == 422


def test_the_openapi_document_types_every_webhook_answer(api: InProcess) -> None:
    """The five operations are in the document, each success with a schema."""
    with api.client() as client:
        document = client.get("/openapi.json").json()
    expected = {
        ("/v1/webhooks", "post", "201"),
        ("/v1/webhooks", "get", "200"),
        ("/v1/webhooks/{webhook_id}", "delete", "200"),
        ("/v1/webhooks/{webhook_id}/deliveries", "get", "200"),
        ("/v1/webhooks/{webhook_id}/test", "post", "202"),
    }
    for path, method, status in expected:
        answer = document["paths"][path][method]["responses"][status]
        assert "$ref" in answer["content"]["application/json"]["schema"], (path, method)


def test_metrics_count_webhook_subscriptions(api: InProcess) -> None:
    """/metrics reports subscriptions by status and the deliveries waiting."""
    post(api, "admin", {"url": PUBLIC, "events": ["permit.issued"]})
    with api.client("auditor") as client:
        text = client.get("/metrics").text
    assert 'accord_webhook_subscriptions{status="active"} 1.0' in text
    assert 'accord_webhook_subscriptions{status="failing"} 0.0' in text
    assert "accord_webhook_deliveries_pending 0.0" in text


def accord(api: InProcess, *args: str, role: str = "admin") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ACCORD_API_URL": api.url, "ACCORD_TOKEN": api.tokens[role]}
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip


def test_the_cli_verbs_print_tables_and_json(api: InProcess) -> None:
    """`accord webhooks add|list|test|deliveries|remove`: tables by default, the API's
    JSON with --json; the secret printed by add only; a second test event at once is a
    409; a refused target exits 1 saying why."""
    added = accord(api, "--json", "webhooks", "add", PUBLIC, "--events",
                   "declaration.decided,permit.issued")  # fmt: skip
    assert added.returncode == 0, added.stderr
    created = json.loads(added.stdout)
    assert created["events"] == ["declaration.decided", "permit.issued"]
    table = accord(api, "webhooks", "list")
    assert table.returncode == 0, table.stderr
    header, row = table.stdout.splitlines()[:2]
    assert header.split()[:3] == ["id", "status", "pending"]
    assert row.split()[:3] == [created["id"], "active", "0"]
    assert created["secret"] not in table.stdout
    assert (
        json.loads(accord(api, "webhooks", "list", "--json").stdout)["webhooks"][0]["id"]
        == (created["id"])
    )
    tested = accord(api, "webhooks", "test", created["id"])
    assert tested.returncode == 0, tested.stderr
    assert "test event queued" in tested.stdout
    with api.client("admin") as client:  # one test event per subscription at a time
        again = client.post(f"/v1/webhooks/{created['id']}/test")
    assert again.status_code == 409, again.text
    attempts = accord(api, "webhooks", "deliveries", created["id"])
    assert attempts.stdout.startswith(f"{created['id']}: 0 attempts")
    removed = accord(api, "webhooks", "remove", created["id"])
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.startswith("removed")
    assert "(no subscriptions)" in accord(api, "webhooks", "list").stdout
    refused = accord(api, "webhooks", "add", "https://10.0.0.1/", "--events", "permit.issued")
    assert refused.returncode == 1
    assert "url:" in refused.stderr and "10.0.0.1" in refused.stderr
    auditor = accord(api, "webhooks", "add", PUBLIC, "--events", "permit.issued", role="auditor")
    assert auditor.returncode == 1
    assert "HTTP 403" in auditor.stderr
