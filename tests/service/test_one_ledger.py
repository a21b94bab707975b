"""One ledger behind every figure: a random stream of permit applications and the
declarations that use them, sent through the API (in-process, on a ledger of its own),
shows the same figures per quota period in the API, the dashboard, the metrics and
`accord simulate` (which runs the same stream on a private Redis). None of them
computes a balance of its own."""

from __future__ import annotations

import random
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from conftest import InProcess, unique_id
from helpers import declaration
from rules.catalog import Catalog
from schemas.declaration import Declaration
from workers.simulation import simulate

QUOTA = "CA-CN-EV-TRQ-2026"
IMPORTER = "123456789RM0001"


def random_stream(seed: int, today: date, count: int) -> list[dict[str, Any]]:
    """Commercial EV declarations accepted on random days of the last 50, in random order
    (a late accounting declaration comes after later ones), each naming the permit it
    will use; one in five is a personal importation, which uses its permit like the others
    (only importations under Chapter 98 are exempt)."""
    rng = random.Random(seed)
    bodies = []
    for index in range(count):
        day = today - timedelta(days=rng.randint(0, 50))
        quantity = rng.randint(1, 6)
        personal = rng.random() < 0.2
        line: dict[str, Any] = {
            "quantity": str(quantity),
            "value_for_duty": f"{quantity * 41000}.00",
            "fob_unit_price": f"{rng.randint(25, 60)}000.00",
        }
        line["permit_number"] = f"ONE-{seed}-{index}"
        bodies.append(
            declaration(
                unique_id("ONE"),
                import_type="personal" if personal else "commercial",
                accepted_at=f"{day.isoformat()}T09:00:00+00:00",
                lines=[line],
            )
        )
    return bodies


def metric_values(text: str, name: str) -> dict[str, int]:
    """{period: value} of one quota's gauge in the Prometheus text."""
    pattern = re.compile(rf'^{name}\{{period="([^"]+)",quota="{QUOTA}"\}} ([0-9.e+-]+)$', re.M)
    return {period: int(float(value)) for period, value in pattern.findall(text)}


def test_the_api_dashboard_metrics_and_simulate_show_the_same_figures(
    api: InProcess, catalog: Catalog
) -> None:
    """Per period: used, returned, carried over, remaining and permit utilisation agree in
    every reader, for a random stream."""
    today = datetime.now(UTC).date()
    bodies = random_stream(seed=7, today=today, count=30)
    with api.client() as admin:
        for body in bodies:  # the importer applies for each permit, then declares
            line = body["lines"][0]
            if "permit_number" in line:
                response = admin.post("/v1/permits", json={
                    "permit_number": line["permit_number"], "business_number": IMPORTER,
                    "measure": QUOTA, "quantity": int(line["quantity"]),
                    "issued_on": body["accepted_at"][:10],
                })  # fmt: skip
                assert response.status_code == 201, response.text
            assert admin.post("/v1/declarations", json=body).status_code == 202
            decided = admin.get(
                f"/v1/declarations/{body['declaration_id']}", params={"wait": 20}
            ).json()
            assert decided["status"] == "decided", decided
        view = admin.get(f"/v1/quotas/{QUOTA}", params={"as_of": today.isoformat()}).json()
        metrics = admin.get("/metrics").text
    assert view["drawn_at"] == "permit"
    periods = {item["start"]: item for item in view["periods"]}
    current = view["period"]

    # the metrics read the same model
    assert metric_values(metrics, "accord_quota_remaining") == {
        start: item["remaining"] for start, item in periods.items()
    }
    assert metric_values(metrics, "accord_permits_outstanding") == {
        start: item["permits"]["outstanding"] for start, item in periods.items()
    }

    # the dashboard shows the current period's figures
    with httpx.Client(base_url=api.url, follow_redirects=True, timeout=30) as browser:
        signed = browser.post("/dashboard/login", data={"token": api.tokens["admin"]})
        assert signed.status_code == 200
        overview = browser.get("/dashboard", params={"as_of": today.isoformat()}).text
    card = re.search(rf'data-quota-id="{QUOTA}"[^>]*data-used="(\d+)" data-total="(\d+)"', overview)
    assert card is not None
    assert (int(card.group(1)), int(card.group(2))) == (current["net_used"], current["available"])

    # accord simulate, on its own Redis, agrees period by period
    stream = [Declaration.model_validate(body) for body in bodies]
    report = simulate(stream, list(catalog.current))
    simulated = {item.start.isoformat(): item for item in report.periods if item.quota_id == QUOTA}
    assert simulated
    for start, item in simulated.items():
        shown = periods[start]
        assert (item.allocated, item.returned, item.carried_over, item.volume) == (
            shown["used"], shown["returned"], shown["carried_over"], shown["volume"],
        ), start  # fmt: skip
        assert item.permits is not None
        assert (item.permits.issued, item.permits.used, item.permits.returned) == (
            shown["permits"]["issued"], shown["permits"]["used"], shown["permits"]["returned"],
        )  # fmt: skip
        if item.as_of == today:
            assert item.remaining == shown["remaining"]
    used = sum(int(body["lines"][0]["quantity"]) for body in bodies
               if "permit_number" in body["lines"][0])  # fmt: skip
    assert sum(item["used"] for item in periods.values()) == used
