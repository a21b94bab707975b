"""Exchange rates through the API: an administrator loads the Bank of Canada's Valet JSON
(or China's monthly customs rates), anyone reads the rate that applies on a date, a later
load of the same day replaces it and is recorded, a bad body is refused whole; and the
rates reach verdicts through the worker, are kept in the trail and replay the same."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import InProcess, Stack, unique_id
from helpers import declaration

VALET: dict[str, Any] = {
    "terms": {"url": "https://www.bankofcanada.ca/terms/"},
    "seriesDetail": {
        "FXUSDCAD": {
            "label": "USD/CAD",
            "description": "US dollar to Canadian dollar daily exchange rate",
            "dimension": {"key": "d", "name": "date"},
        },
        "FXEURCAD": {"label": "EUR/CAD", "description": "Euro", "dimension": {}},
    },
    "observations": [
        {"d": "2026-03-05", "FXUSDCAD": {"v": "1.3690"}, "FXEURCAD": {"v": "1.4800"}},
        {"d": "2026-03-06", "FXUSDCAD": {"v": "1.3700"}, "FXEURCAD": {"v": "1.5000"}},
        {"d": "2026-03-09", "FXUSDCAD": {"v": "1.3800"}, "FXEURCAD": {"v": "1.5100"}},
    ],
}


def load(api: InProcess, body: Any, role: str = "admin") -> Any:
    with api.client(role) as client:
        return client.post("/v1/exchange-rates", json=body)


def rate(api: InProcess, role: str = "auditor", **params: str) -> Any:
    with api.client(role) as client:
        return client.get("/v1/exchange-rates", params=params)


def test_an_admin_loads_valet_json_and_a_saturday_takes_fridays_rate(api: InProcess) -> None:
    """The Bank's body loads every FX<CUR>CAD quote; on Saturday 2026-03-07 and Monday the
    rate that applies is Friday's, with its own date, its source and the rule's assumption."""
    response = load(api, VALET)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "into": "CAD", "currencies": ["EUR", "USD"], "first": "2026-03-05",
        "last": "2026-03-09", "loaded": 6, "replaced": 0, "unchanged": 0,
    }  # fmt: skip
    answer = rate(api, currency="EUR", on="2026-03-07")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["rate"], body["rate_date"], body["on"]) == ("1.5000", "2026-03-06", "2026-03-07")
    assert body["source"] == "Bank of Canada, Valet series FXEURCAD (EUR/CAD)"
    assert (body["rule"], body["assumptions"]) == (
        "quoted_before, at most 7 days back", ["RATE-PREVAILING"]
    )  # fmt: skip
    assert (body["pack"], body["loaded_by"], body["replaced"]) == ("CA-TAXES", "admin token:0", [])
    # Monday takes Friday's rate, Tuesday Monday's
    assert rate(api, role="submitter", currency="USD", on="2026-03-09").json()["rate"] == "1.3700"
    assert rate(api, role="submitter", currency="USD", on="2026-03-10").json()["rate"] == "1.3800"


def test_a_later_load_of_the_same_day_replaces_it_and_is_recorded(api: InProcess) -> None:
    """Loading Friday again with another value replaces it; the answer keeps the previous
    value with who replaced it and when; loading the same value again changes nothing."""
    assert load(api, VALET).status_code == 200
    corrected = {"observations": [{"d": "2026-03-06", "FXUSDCAD": {"v": "1.3711"}}]}
    response = load(api, corrected)
    assert response.json()["replaced"] == 1 and response.json()["loaded"] == 0
    assert load(api, corrected).json()["unchanged"] == 1
    body = rate(api, currency="USD", on="2026-03-07").json()
    assert (body["rate"], body["rate_date"]) == ("1.3711", "2026-03-06")
    [replaced] = body["replaced"]
    assert replaced["previous"]["rate"] == "1.3700"
    assert replaced["replaced_by"] == "admin token:0" and replaced["replaced_at"]


@pytest.mark.parametrize("role", ["auditor", "submitter"])
def test_only_an_admin_loads_rates(api: InProcess, role: str) -> None:
    """Auditors and submitters are refused (403) and nothing is stored."""
    assert load(api, VALET, role=role).status_code == 403
    assert rate(api, currency="USD", on="2026-03-07").status_code == 404


GOOD = {"d": "2026-03-06", "FXUSDCAD": {"v": "1.3700"}}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"seriesDetail": {}}, "observations"),
        ({"observations": []}, "observations"),
        ({"observations": [GOOD], "notes": "x"}, "notes"),
        ({"observations": [GOOD, {"d": "2026-02-30", "FXUSDCAD": {"v": "1.3"}}]},
         "observations[1].d"),
        ({"observations": [GOOD, {"d": "2026-03-09", "FXCADUSD": {"v": "0.73"}}]},
         "observations[1].FXCADUSD"),
        ({"observations": [GOOD, {"d": "2026-03-09", "FXUSDCAD": {"v": 1.38}}]},
         "observations[1].FXUSDCAD.v"),
        ({"observations": [GOOD, {"d": "2026-03-09", "FXUSDCAD": {"v": "-1.38"}}]},
         "observations[1].FXUSDCAD.v"),
        ({"observations": [GOOD, {"d": "2026-03-09", "FXUSDCAD": {"v": "0"}}]},
         "observations[1].FXUSDCAD.v"),
        ({"observations": [GOOD, {"d": "2026-03-09", "FXUSDCAD": "1.38"}]},
         "observations[1].FXUSDCAD"),
        ({"observations": [GOOD, {"d": "2026-03-09"}]}, "observations[1]"),
        ({"observations": [GOOD, GOOD]}, "observations[1].FXUSDCAD"),
        ({"observations": [GOOD, {"d": "2026-03-09", "FXCADCAD": {"v": "1"}}]},
         "observations[1].FXCADCAD"),
        ({"observations": [GOOD, {"d": "1900-03-09", "FXUSDCAD": {"v": "1.38"}}]},
         "observations[1].d"),
        ({"observations": [GOOD, {"d": "2026-03-09", "FXUSDCAD": {"v": ""}}]},
         "observations[1].FXUSDCAD.v"),
        ({"into": "CNY", "source": "x", "rates": [{"month": "9999-01", "currency": "USD",
                                                   "rate": "7.1"}]}, "rates[0].month"),
        ({"into": "CAD", "source": "x", "rates": [{"month": "2026-03", "currency": "USD",
                                                   "rate": "7.1"}]}, "into"),
        ({"into": "CNY", "source": "x", "rates": [{"month": "2026-13", "currency": "USD",
                                                   "rate": "7.1"}]}, "rates[0].month"),
        ([GOOD], "body"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)  # fmt: skip
def test_a_bad_body_is_refused_naming_the_field_and_nothing_is_stored(
    api: InProcess, body: Any, field: str
) -> None:
    """A body with one bad field is a 422 naming it; its good quotes are not stored either."""
    response = load(api, body)
    assert response.status_code == 422, response.text
    assert field in [item["field"] for item in response.json()["detail"]]
    assert rate(api, currency="USD", on="2026-03-07").status_code == 404


def test_a_body_that_is_not_json_is_refused(api: InProcess) -> None:
    """Bytes that do not parse are a 422 naming the body."""
    with api.client("admin") as client:
        response = client.post("/v1/exchange-rates", content=b"{observations", headers={
            "Content-Type": "application/json"})  # fmt: skip
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "body"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"currency": "usd", "on": "2026-03-06"}, "currency"),
        ({"currency": "USD", "on": "2026-03-32"}, "on"),
        ({"currency": "USD"}, "on"),
        ({"currency": "USD", "on": "2026-03-06", "into": "XYZ"}, "into"),
        ({"currency": "CAD", "on": "2026-03-06"}, "currency"),
    ],
)
def test_a_bad_question_is_a_422_naming_the_parameter(
    api: InProcess, params: dict[str, str], field: str
) -> None:
    """Bad or missing parameters name themselves; an unknown home currency too."""
    response = rate(api, **params)
    assert response.status_code == 422, response.text
    assert any(item["field"].endswith(field) for item in response.json()["detail"])


def test_no_rate_within_seven_days_is_a_404_saying_where_it_looked(api: InProcess) -> None:
    """A date whose last quote is more than 7 days before the day before has no rate,
    never an older one."""
    assert load(api, VALET).status_code == 200
    assert rate(api, currency="USD", on="2026-03-17").json()["rate_date"] == "2026-03-09"
    response = rate(api, currency="USD", on="2026-03-18")
    assert response.status_code == 404
    assert response.json()["detail"]["searched_from"] == "2026-03-10"
    assert response.json()["detail"]["message"] == (
        "no rate of USD into CAD is loaded for a day from 2026-03-10 to 2026-03-17, the days "
        "whose rate may apply on 2026-03-18"
    )


def _usd_steel(shipped: str) -> dict[str, Any]:
    return declaration(
        unique_id("FX"),
        accepted_at="2026-03-10T10:00:00-04:00",
        shipment_date=shipped,
        currency="USD",
        lines=[{"tariff_item": "7208.51.00.00", "description": "Hot-rolled steel plate",
                "unit": "KGM", "quantity": "12000", "value_for_duty": "10000.00"}],
    )  # fmt: skip


def decide(api: InProcess, body: dict[str, Any]) -> dict[str, Any]:
    with api.client("admin") as client:
        assert client.post("/v1/declarations", json=body).status_code == 202
        verdict = client.get(
            f"/v1/declarations/{body['declaration_id']}", params={"wait": 20}
        ).json()
    assert verdict["status"] == "decided", verdict
    return dict(verdict)


def test_a_usd_declaration_is_converted_at_the_loaded_rate_and_replays_the_same(
    api: InProcess,
) -> None:
    """Shipped on Saturday, a USD declaration is converted at Friday's loaded rate; the
    trail keeps the rates it was handed, so a replay after a later load of another value
    decides the same."""
    assert load(api, VALET).status_code == 200
    body = _usd_steel("2026-03-07")
    verdict = decide(api, body)
    assert verdict["outcome"] == "accepted"
    # 10,000.00 USD x 1.3700 = 13,700.00 CAD; surtax 25% 3,425.00; GST 5% of 17,125.00
    assert verdict["lines"][0]["duties"][0]["base"] == "13700.00"
    shown = verdict["exchange_rate"]
    assert (shown["rate"], shown["on"], shown["conversion_date"]) == (
        "1.3700",
        "2026-03-06",
        "2026-03-07",
    )
    assert shown["source"] == "Bank of Canada, Valet series FXUSDCAD (USD/CAD)"
    with api.client("auditor") as client:
        events = client.get(f"/v1/declarations/{body['declaration_id']}/audit").json()["events"]
    evaluated = next(event for event in events if event["type"] == "evaluated")
    assert [quote["on"] for quote in evaluated["data"]["exchange_rates"]] == [
        "2026-03-05", "2026-03-06"
    ]  # fmt: skip
    load(api, {"observations": [{"d": "2026-03-06", "FXUSDCAD": {"v": "1.2000"}}]})
    with api.client("auditor") as client:
        replayed = client.post("/v1/replay", json={"declaration_id": body["declaration_id"]})
    assert replayed.status_code == 200, replayed.text
    assert replayed.json()["differences"] == []


def test_a_cn_declaration_in_cad_converts_at_the_loaded_monthly_rate(api: InProcess) -> None:
    """With China's rate for March 2026 loaded, canola declared in CAD is valued in CNY."""
    monthly = {
        "into": "CNY",
        "source": "GACC customs exchange rates, March 2026 (example)",
        "rates": [{"month": "2026-03", "currency": "CAD", "rate": "5.2000"}],
    }
    loaded = load(api, monthly)
    assert loaded.status_code == 200, loaded.text
    answer = rate(api, currency="CAD", on="2026-03-31", into="CNY").json()
    assert (answer["rate_date"], answer["rule"], answer["assumptions"]) == (
        "2026-03-01", "the rate of the month", ["CN-RATE-MONTHLY", "CN-CONVERSION-DATE"]
    )  # fmt: skip
    body = declaration(
        unique_id("CN"), jurisdiction="CN", currency="CAD",
        importer={"business_number": "91370200MA3C4EXX0A", "name": "Qingdao Oilseeds Co."},
        accepted_at="2026-03-05T10:00:00+08:00",
        lines=[{"tariff_item": "1205.1090.00", "origin": "CA", "description": "Canola",
                "unit": "KGM", "quantity": "200000", "value_for_duty": "100000.00"}],
    )  # fmt: skip
    verdict = decide(api, body)
    assert verdict["outcome"] == "accepted"
    # 100,000.00 CAD x 5.2000 = 520,000.00 CNY; MFN 9% = 46,800.00
    mfn = next(d for d in verdict["lines"][0]["duties"] if d["type"] == "customs_duty")
    assert (mfn["base"], mfn["amount"]) == ("520000.00", "46800.00")
    assert verdict["exchange_rate"]["source"] == monthly["source"]


@pytest.mark.stack
def test_accord_rates_import_sends_the_file_and_show_reads_it(stack: Stack, tmp_path: Path) -> None:
    """`accord rates import FILE` loads a Valet file; `accord rates show` answers the rate."""
    path = tmp_path / "chf.json"
    path.write_text(
        json.dumps({"observations": [{"d": "2019-07-05", "FXCHFCAD": {"v": "1.3300"}}]})
    )
    env = {**os.environ, "ACCORD_API_URL": stack.url, "ACCORD_TOKEN": stack.tokens["admin"]}

    def accord(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "service.cli", "--json", *args], env=env,
                              capture_output=True, text=True, timeout=120, check=False)  # fmt: skip

    imported = accord("rates", "import", str(path))
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout)["currencies"] == ["CHF"]
    shown = accord("rates", "show", "--currency", "CHF", "--on", "2019-07-06")
    assert shown.returncode == 0, shown.stderr
    assert (json.loads(shown.stdout)["rate"], json.loads(shown.stdout)["rate_date"]) == (
        "1.3300",
        "2019-07-05",
    )


def test_replayed_under_the_pack_version_with_a_table_it_shows_what_changed(
    api: InProcess,
) -> None:
    """Under CA-TAXES 2026.1, whose invented table had no rate for 2026-03-07, the same
    declaration would have been rejected: the replay names that difference."""
    assert load(api, VALET).status_code == 200
    body = _usd_steel("2026-03-07")
    assert decide(api, body)["outcome"] == "accepted"
    with api.client("auditor") as client:
        replayed = client.post(
            "/v1/replay",
            json={"declaration_id": body["declaration_id"], "pack_version": "CA-TAXES@2026.1"},
        )
    assert replayed.status_code == 200, replayed.text
    changed = {item["field"]: item for item in replayed.json()["differences"]}
    assert (changed["outcome"]["original"], changed["outcome"]["replayed"]) == (
        "accepted", "rejected"
    )  # fmt: skip
