"""The quota read as of a date, through the service (SPEC §5): permits issued and
recorded back-dated, declarations that use them on their acceptance dates, a permit and
a declaration cancelled today; read on each day around those dates, the API, the CLI
(`accord quotas --as-of --json`, a separate process over HTTP) and the dashboard's quota
card show the same figures, and they are the event history replayed up to that day.
Also the permit application's `issued_on` policy: an importer's permit is issued on the
day it is processed; an administrator may record an earlier one, with a reason the
quota's events keep."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from conftest import InProcess, unique_id
from helpers import declaration

QUOTA = "CA-CN-EV-TRQ-2026"
IMPORTER = "123456789RM0001"
REASON = "issued by GAC on paper; entered late"


def issue(client: httpx.Client, quantity: int, day: date, **extra: Any) -> str:
    response = client.post(
        "/v1/permits",
        json={"business_number": IMPORTER, "measure": QUOTA, "quantity": quantity,
              "issued_on": day.isoformat(), **extra},
    )  # fmt: skip
    assert response.status_code == 201, response.text
    return str(response.json()["permit_number"])


def declare(client: httpx.Client, permit: str, quantity: int, day: date) -> str:
    body = declaration(
        unique_id("ASOF"),
        accepted_at=f"{day.isoformat()}T09:00:00+00:00",
        lines=[{"quantity": str(quantity), "value_for_duty": f"{quantity * 41000}.00",
                "fob_unit_price": "41000.00", "permit_number": permit}],
    )  # fmt: skip
    assert client.post("/v1/declarations", json=body).status_code == 202
    decided = client.get(f"/v1/declarations/{body['declaration_id']}", params={"wait": 20}).json()
    assert (decided["status"], decided["outcome"]) == ("decided", "accepted"), decided
    return str(body["declaration_id"])


def cli_view(api: InProcess, day: date) -> dict[str, Any]:
    env = {**os.environ, "ACCORD_API_URL": api.url, "ACCORD_TOKEN": api.tokens["admin"]}
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "--json", "quotas", QUOTA, "--as-of",
         day.isoformat()],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def totals(view: dict[str, Any]) -> dict[str, int]:
    periods = view["periods"]
    return {
        "used": sum(p["used"] for p in periods),
        "returned": sum(p["returned"] for p in periods),
        "issued": sum(p["permits"]["issued"] for p in periods),
        "permits_used": sum(p["permits"]["used"] for p in periods),
        "outstanding": sum(p["permits"]["outstanding"] for p in periods),
    }


def replayed(events: list[dict[str, Any]], day: date) -> dict[str, dict[str, int]]:
    """Each period's used and returned from the events dated on or before `day`."""
    out: dict[str, dict[str, int]] = defaultdict(lambda: {"used": 0, "returned": 0})
    for event in events:
        if date.fromisoformat(event["on"]) > day:
            continue
        if event["type"] == "allocated":
            out[event["period"]]["used"] += event["quantity"]
        elif event["type"] == "returned":
            out[event["period"]]["returned"] += event["quantity"]
    return out


def test_the_api_cli_and_dashboard_read_the_same_ledger_as_of_each_day(api: InProcess) -> None:
    """Permits issued 30 and 20 days ago (the second recorded late, with a reason), used on
    acceptance dates 25 and 10 days ago, a permit issued and cancelled today and the
    second declaration cancelled today: as of each day around those dates, the API, the
    CLI and the dashboard agree, only what is dated on or before the day counts, and the
    figures are the event history replayed up to it."""
    today = datetime.now(UTC).date()
    ago = {n: today - timedelta(days=n) for n in (31, 30, 26, 25, 21, 20, 11, 10, 1)}
    with api.client() as admin:
        first = issue(admin, 5, ago[30])
        declare(admin, first, 2, ago[25])  # 3 undeclared units return on its acceptance date
        second = issue(admin, 3, ago[20], reason=REASON)
        late = declare(admin, second, 3, ago[10])
        third = issue(admin, 4, today)
        assert admin.post(f"/v1/permits/{third}/cancel").json()["status"] == "cancelled"
        assert admin.post(f"/v1/declarations/{late}/cancel").status_code == 200
        assert admin.get(f"/v1/permits/{second}").json()["status"] == "issued"
        history = admin.get(
            f"/v1/quotas/{QUOTA}", params={"as_of": today.isoformat(), "limit": 1000}
        ).json()  # fmt: skip
        recorded = [e for e in history["events"]["events"] if e.get("permit_number") == second]
        assert [(e["type"], e["reason"]) for e in recorded if e["type"] == "allocated"] == [
            ("allocated", REASON)
        ]
        expected = {
            ago[31]: {"used": 0, "returned": 0, "issued": 0, "permits_used": 0, "outstanding": 0},
            ago[30]: {"used": 5, "returned": 0, "issued": 5, "permits_used": 0, "outstanding": 5},
            ago[26]: {"used": 5, "returned": 0, "issued": 5, "permits_used": 0, "outstanding": 5},
            ago[25]: {"used": 5, "returned": 3, "issued": 5, "permits_used": 2, "outstanding": 0},
            ago[21]: {"used": 5, "returned": 3, "issued": 5, "permits_used": 2, "outstanding": 0},
            ago[20]: {"used": 8, "returned": 3, "issued": 8, "permits_used": 2, "outstanding": 3},
            ago[11]: {"used": 8, "returned": 3, "issued": 8, "permits_used": 2, "outstanding": 3},
            ago[10]: {"used": 8, "returned": 3, "issued": 8, "permits_used": 5, "outstanding": 0},
            ago[1]: {"used": 8, "returned": 3, "issued": 8, "permits_used": 5, "outstanding": 0},
            today: {"used": 12, "returned": 7, "issued": 12, "permits_used": 2, "outstanding": 3},
            today + timedelta(days=5): {
                "used": 12, "returned": 7, "issued": 12, "permits_used": 2, "outstanding": 3,
            },
        }  # fmt: skip
        with httpx.Client(base_url=api.url, follow_redirects=True, timeout=30) as browser:
            assert browser.post(
                "/dashboard/login", data={"token": api.tokens["admin"]}
            ).status_code == 200  # fmt: skip
            for day, wanted in expected.items():
                seen = admin.get(
                    f"/v1/quotas/{QUOTA}", params={"as_of": day.isoformat(), "limit": 1000}
                ).json()  # fmt: skip
                assert totals(seen) == wanted, day
                # the CLI is a separate process over HTTP: the same answer
                assert cli_view(api, day) == seen, day
                # the history up to the day, in the order written, and replayed
                dated = [
                    e for e in history["events"]["events"] if date.fromisoformat(e["on"]) <= day
                ]
                assert seen["events"]["events"] == dated, day
                shown = {p["start"]: {"used": p["used"], "returned": p["returned"]}
                         for p in seen["periods"]}  # fmt: skip
                for start, figures in replayed(dated, day).items():
                    assert shown[start] == figures, (day, start)
                # the dashboard's card charts the current period with the same figures
                page = browser.get("/dashboard", params={"as_of": day.isoformat()}).text
                card = re.search(
                    rf'data-quota-id="{QUOTA}"[^>]*data-used="(\d+)" data-total="(\d+)"', page
                )
                current = seen["period"]
                assert card is not None and current is not None
                assert (int(card.group(1)), int(card.group(2))) == (
                    current["net_used"], current["available"],
                ), day  # fmt: skip


def test_an_importer_permit_is_issued_on_the_day_it_is_processed(api: InProcess) -> None:
    """A submitter's application naming a past issued_on, or a reason, is refused with 422
    naming the field and draws nothing; today's (or none) is issued. An administrator may
    record an earlier day; a future issued_on is refused for everyone."""
    today = datetime.now(UTC).date()
    yesterday = today - timedelta(days=1)
    application = {"business_number": IMPORTER, "measure": QUOTA, "quantity": 2}
    with api.client("submitter") as mine, api.client() as admin:
        before = admin.get(f"/v1/quotas/{QUOTA}").json()["period"]["remaining"]
        for extra, field in (
            ({"issued_on": yesterday.isoformat()}, "issued_on"),
            ({"issued_on": today.isoformat(), "reason": "late"}, "reason"),
            ({"issued_on": (today + timedelta(days=1)).isoformat()}, "issued_on"),
        ):
            refused = mine.post("/v1/permits", json={**application, **extra})
            assert refused.status_code == 422, refused.text
            assert [item["field"] for item in refused.json()["detail"]] == [field]
        future = admin.post(
            "/v1/permits", json={**application, "issued_on": (today + timedelta(days=1)).isoformat()}
        )  # fmt: skip
        assert future.status_code == 422 and future.json()["detail"][0]["field"] == "issued_on"
        assert admin.get(f"/v1/quotas/{QUOTA}").json()["period"]["remaining"] == before
        assert mine.post("/v1/permits", json=application).json()["issued_on"] == today.isoformat()
        same_day = mine.post("/v1/permits", json={**application, "issued_on": today.isoformat()})
        assert same_day.status_code == 201, same_day.text
        recorded = admin.post(
            "/v1/permits", json={**application, "issued_on": yesterday.isoformat(), "reason": REASON}
        )  # fmt: skip
        assert recorded.status_code == 201, recorded.text
        assert recorded.json()["reason"] == REASON
        assert admin.get(f"/v1/quotas/{QUOTA}").json()["period"]["remaining"] == before - 6
