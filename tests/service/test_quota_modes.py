"""The allocation modes after the first-come-first-served period, end to end: daily
pro rata (requests of one day allocated together at that day's run) and importer
allocations (each importer draws on its own account)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from conftest import IMPORTER, OTHER_IMPORTER, Accord, InProcess, unique_id
from helpers import declaration


def wait_status(
    api: Accord, declaration_id: str, wanted: str, timeout: float = 20
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    with api.client() as client:
        while True:
            body: dict[str, Any] = client.get(f"/v1/declarations/{declaration_id}").json()
            if body["status"] == wanted or time.monotonic() > deadline:
                return body
            time.sleep(0.05)


@pytest.fixture
def today() -> str:
    # Today (UTC): the scheduled runs take only days before today, so the run is the test's.
    # Declarations are dated a minute ago: none may be dated in the future.
    return (datetime.now(UTC) - timedelta(minutes=1)).date().isoformat()


def test_pro_rata_run_end_to_end(api: InProcess, today: str) -> None:
    """Three same-day requests wait in pending_allocation, then the run shares 500 units pro rata."""
    ids = []
    for quantity in (600, 300, 100):
        body = declaration(
            unique_id("pr"),
            accepted_at=f"{today}T00:00:00Z",
            lines=[
                {
                    "origin": "TW",
                    "quantity": str(quantity),
                    "value_for_duty": f"{quantity * 10000}.00",
                }
            ],
        )
        with api.client() as client:
            assert client.post("/v1/declarations", json=body).status_code == 202
        ids.append(body["declaration_id"])
    withdrawn = declaration(
        unique_id("pr"),
        accepted_at=f"{today}T00:00:01Z",
        lines=[{"origin": "TW", "quantity": "1000", "value_for_duty": "10000000.00"}],
    )
    with api.client() as client:
        assert client.post("/v1/declarations", json=withdrawn).status_code == 202
    for declaration_id in [*ids, withdrawn["declaration_id"]]:
        assert (
            wait_status(api, declaration_id, "pending_allocation")["status"] == "pending_allocation"
        )
    with api.client() as client:
        cancelled = client.post(f"/v1/declarations/{withdrawn['declaration_id']}/cancel")
        assert cancelled.json()["status"] == "cancelled"  # it takes no share at the run
    with api.client() as client:
        quota = client.get("/v1/quotas/TEST-TW-EV-PRORATA", params={"as_of": today}).json()
        assert today in quota["runs_pending"]
        run = client.post("/v1/quotas/TEST-TW-EV-PRORATA/runs", json={"date": today})
        assert run.status_code == 200
        assert run.json()["declarations"] == ids
        submitter = client.post("/v1/quotas/TEST-TW-EV-PRORATA/runs", json={"date": "x"})
        assert submitter.status_code == 422
    verdicts = [wait_status(api, declaration_id, "decided") for declaration_id in ids]
    shares = [
        (v["lines"][0]["in_quota_quantity"], v["lines"][0]["over_quota_quantity"]) for v in verdicts
    ]
    assert shares == [("300", "300"), ("150", "150"), ("50", "50")]
    assert [v["lines"][0]["treatment"] for v in verdicts] == ["split"] * 3
    assert {f["rule"] for f in verdicts[0]["findings"]} == {
        "QUOTA-TPRO-CLAIM", "DUTY-TPRO-IN-QUOTA", "DUTY-TPRO-OVER-QUOTA"
    }  # fmt: skip
    # 300 units in quota at 6.1% of 3,000,000.00, 300 over at 35% of 3,000,000.00
    assert verdicts[0]["total_duty"] == "1233000.00"
    with api.client() as client:
        trail = client.get(f"/v1/declarations/{ids[0]}/audit").json()
    types = [event["type"] for event in trail["events"]]
    assert "allocation_requested" in types
    assert types[-1] == "verdict"
    assert trail["verified"] is True


def test_only_admins_run_allocations_and_only_for_pro_rata_quotas(api: InProcess) -> None:
    """A run by an auditor is 403; a run of a first-come-first-served quota, or an importer allocation on a pro-rata one, is 409 naming the quota's mode."""
    with api.client("auditor") as client:
        assert (
            client.post(
                "/v1/quotas/TEST-TW-EV-PRORATA/runs", json={"date": "2026-05-01"}
            ).status_code
            == 403
        )
    with api.client() as client:
        response = client.post("/v1/quotas/CA-CN-EV-TRQ-2026/runs", json={"date": "2026-05-01"})
        assert (response.status_code, response.json()) == (
            409, {"error": "not a daily pro-rata quota", "detail": {"mode": "fcfs"}},
        )  # fmt: skip
        allocated = client.post(
            "/v1/quotas/TEST-TW-EV-PRORATA/allocations",
            json={"quota_year": 1, "business_number": IMPORTER, "initial": 1},
        )
        assert (allocated.status_code, allocated.json()) == (
            409, {"error": "not an importer-allocation quota", "detail": {"mode": "daily_pro_rata"}},
        )  # fmt: skip
        assert client.post("/v1/quotas/NOPE/runs", json={"date": "2026-05-01"}).status_code == 404


def test_importer_allocation_accounts_bound_each_importer(api: InProcess) -> None:
    """Each importer draws on its own allocation; transfers move units; cancelling returns them."""
    year = {"quota_year": 1}  # 2026; no other test uses this quota
    with api.client() as client:
        path = "/v1/quotas/TEST-TH-EV-ALLOC/allocations"
        assert (
            client.post(path, json={**year, "business_number": IMPORTER, "initial": 10}).status_code
            == 200
        )
        assert (
            client.post(
                path, json={**year, "business_number": OTHER_IMPORTER, "initial": 5}
            ).status_code
            == 200
        )
        too_much = client.post(
            path, json={**year, "business_number": OTHER_IMPORTER, "initial": 95}
        )
        assert (too_much.status_code, too_much.json()["error"]) == (409, "allocation refused")
        assert too_much.json()["detail"].startswith("the initial allocations would exceed")
        moved = client.post(
            path,
            json={
                **year,
                "business_number": IMPORTER,
                "transfer_to": OTHER_IMPORTER,
                "quantity": 3,
            },
        )
        assert moved.status_code == 200
        accounts = {row["business_number"]: row for row in moved.json()["accounts"]}
        assert (accounts[IMPORTER]["remaining"], accounts[OTHER_IMPORTER]["remaining"]) == (7, 8)
        assert client.post(path, json={**year, "business_number": IMPORTER}).status_code == 422
    over = declaration(unique_id("al"), accepted_at="2026-02-02T10:00:00-05:00",
                       lines=[{"origin": "TH", "quantity": "8", "value_for_duty": "80000.00"}])  # fmt: skip
    fits = declaration(unique_id("al"), accepted_at="2026-02-02T10:00:00-05:00",
                       lines=[{"origin": "TH", "quantity": "7", "value_for_duty": "70000.00"}])  # fmt: skip
    with api.client() as client:
        client.post("/v1/declarations", json=over)
        refused = wait_status(api, over["declaration_id"], "decided")
        assert refused["outcome"] == "rejected"
        assert "QUOTA-TALLOC-REFUSED" in {f["rule"] for f in refused["findings"]}
        client.post("/v1/declarations", json=fits)
        decided = wait_status(api, fits["declaration_id"], "decided")
        assert (decided["outcome"], decided["total_duty"]) == ("accepted", "4270.00")
        assert {f["rule"] for f in decided["findings"]} == {
            "QUOTA-TALLOC-CLAIM",
            "DUTY-TALLOC-IN-QUOTA",
        }
        quota = client.get("/v1/quotas/TEST-TH-EV-ALLOC", params={"as_of": "2026-02-02"}).json()
        mine = next(row for row in quota["accounts"] if row["business_number"] == IMPORTER)
        assert (mine["used"], mine["remaining"]) == (7, 0)
        client.post(f"/v1/declarations/{fits['declaration_id']}/cancel")
        quota = client.get("/v1/quotas/TEST-TH-EV-ALLOC", params={"as_of": "2026-02-02"}).json()
        mine = next(row for row in quota["accounts"] if row["business_number"] == IMPORTER)
        assert (mine["returned"], mine["remaining"]) == (7, 7)
