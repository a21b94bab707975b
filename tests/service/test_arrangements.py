"""China's side of the arrangement through the API, and the arrangement as a whole: the
real app over HTTP in the test process, verdicts by the workers' evaluation, a real Redis."""

from __future__ import annotations

from typing import Any

from conftest import InProcess, unique_id
from helpers import declaration

CN_IMPORTER = {"business_number": "91370200MA3C4EXX0A", "name": "Qingdao Oilseeds Co."}


def cn_declaration(tariff_item: str, description: str, **fields: Any) -> dict[str, Any]:
    """A declaration made to China's customs of one Canadian line worth 1,000,000.00 CNY."""
    line = {
        "tariff_item": tariff_item,
        "origin": "CA",
        "description": description,
        "unit": "KGM",
        "quantity": "2000000",
        "value_for_duty": "1000000.00",
    }
    profile: dict[str, Any] = {
        "jurisdiction": "CN",
        "currency": "CNY",
        "importer": CN_IMPORTER,
        "accepted_at": "2026-03-05T10:00:00+08:00",
    }
    return declaration(unique_id(), lines=[line], **{**profile, **fields})


def decided(api: InProcess, body: dict[str, Any]) -> dict[str, Any]:
    with api.client("admin") as client:
        response = client.post("/v1/declarations", json=body)
        assert response.status_code == 202, response.text
        verdict = client.get(
            f"/v1/declarations/{body['declaration_id']}", params={"wait": 20}
        ).json()
    assert verdict["status"] == "decided", verdict
    return dict(verdict)


def test_canadian_rapeseed_in_china_on_2026_03_05_pays_mfn_the_final_anti_dumping_and_vat(
    api: InProcess,
) -> None:
    """Rapeseed worth 1,000,000.00 CNY owes MFN 9% (90,000.00), anti-dumping 5.9% (59,000.00)
    and VAT 9% of 1,149,000.00 (103,410.00), each with its reference."""
    verdict = decided(api, cn_declaration("1205.1090.00", "Canola seed"))
    assert verdict["outcome"] == "accepted"
    assert verdict["total_duty"] == "252410.00"
    [line] = verdict["lines"]
    assert [(duty["type"], duty["rate"], duty["amount"]) for duty in line["duties"]] == [
        ("customs_duty", "0.09", "90000.00"),
        ("anti_dumping", "0.059", "59000.00"),
        ("import_vat", "0.09", "103410.00"),
    ]
    references = {item["rule"]: item["reference"] for item in verdict["findings"]}
    assert "MOFCOM final ruling of 28 February 2026" in references["DUTY-CN-AD-RAPESEED-FINAL"]
    assert "tariff line 1205109000" in references["DUTY-CN-MFN-RAPESEED"]
    assert "[2025] No. 3, §四" in references["DUTY-CN-VAT-IMPORT"]
    assert {pack["id"] for pack in verdict["rule_packs"]} == {
        "CN-CA-RAPESEED-2025",
        "CN-CA-IMPORT-TAXES",
    }


def test_a_rapeseed_deposit_is_grossed_up_by_vat_and_settled_by_the_final_ruling(
    api: InProcess,
) -> None:
    """On 2025-10-01 the deposit is 1,000,000.00 x 75.8% x 1.09 = 826,220.00, outside the
    VAT base (VAT 98,100.00), with the finding that the final ruling recalculates it."""
    verdict = decided(
        api,
        cn_declaration("1205.9090.00", "Rapeseed", accepted_at="2025-10-01T10:00:00+08:00"),
    )
    assert verdict["total_duty"] == "1014320.00"
    [line] = verdict["lines"]
    deposit = next(d for d in line["duties"] if d["type"] == "anti_dumping_deposit")
    assert (deposit["rate"], deposit["amount"]) == ("0.82622", "826220.00")
    vat = next(d for d in line["duties"] if d["type"] == "import_vat")
    assert (vat["base"], vat["amount"]) == ("1090000.00", "98100.00")
    rules = {item["rule"] for item in verdict["findings"]}
    assert "DUTY-CN-AD-DEPOSIT-RECALCULATED" in rules
    assert "DUTY-CN-AD-DEPOSIT-REFUNDED" not in rules


def test_canola_meal_in_china_on_2026_03_05_owes_mfn_and_vat_but_no_anti_discrimination_tariff(
    api: InProcess,
) -> None:
    """During the suspension canola meal is exempt from the additional tariff, a finding says
    why, and it owes MFN 5% (50,000.00) and VAT 9% of 1,050,000.00 (94,500.00)."""
    verdict = decided(api, cn_declaration("2306.4100.00", "Canola meal"))
    assert verdict["outcome"] == "accepted"
    assert verdict["total_duty"] == "144500.00"
    [line] = verdict["lines"]
    assert line["treatment"] == "exempt"
    assert line["measures"] == ["CN-ADT-SUSP-2026", "CN-MFN-OILCAKE", "CN-VAT-IMPORT"]
    assert [(duty["type"], duty["amount"]) for duty in line["duties"]] == [
        ("customs_duty", "50000.00"),
        ("import_vat", "94500.00"),
    ]
    rules = {item["rule"] for item in verdict["findings"]}
    assert "ELIG-CN-ADT-SUSPENDED" in rules and "DUTY-CN-ADT-100" not in rules


def test_a_cn_declaration_in_cad_without_a_loaded_rate_is_a_stored_rejection(
    api: InProcess,
) -> None:
    """A CN declaration in CAD is stored and decided: without a rate for its month it is
    rejected with a finding that names the missing rate, and owes nothing."""
    verdict = decided(api, cn_declaration("1205.1090.00", "Canola", currency="CAD"))
    assert (verdict["outcome"], verdict["total_duty"]) == ("rejected", "0.00")
    missing = next(f for f in verdict["findings"] if f["rule"] == "ELIG-CN-EXCHANGE-RATE-MISSING")
    assert "No customs rate for CAD is loaded for the month of 2026-03-05" in missing["message"]


def test_the_arrangement_on_2027_01_01_warns_that_chinas_suspension_lapsed(api: InProcess) -> None:
    """Both sides are shown; China's suspension has lapsed while Canada's quota runs on."""
    with api.client("auditor") as client:
        response = client.get("/v1/arrangements/CA-CN-2026", params={"as_of": "2027-01-01"})
    assert response.status_code == 200, response.text
    body = response.json()
    sides = {side["jurisdiction"]: side for side in body["sides"]}
    assert "CA-CN-EV-TRQ-2026" in sides["CA"]["in_force"]
    assert "CN-AD-RAPESEED-FINAL" in sides["CN"]["in_force"]
    assert "CN-ADT-SUSP-2026" not in sides["CN"]["in_force"]
    suspension = next(m for m in sides["CN"]["measures"] if m["id"] == "CN-ADT-SUSP-2026")
    assert (suspension["status"], suspension["effective"]["to"]) == ("lapsed", "2026-12-31")
    warnings = [item for item in body["linkage"] if item["severity"] == "warning"]
    assert {item["rule"] for item in warnings} == {
        "LINK-EVTRQ-COUNTERPART-LAPSED",
        "LINK-CN-SUSP-LAPSED",
    }
    quota = next(item for item in warnings if item["measure"] == "CA-CN-EV-TRQ-2026")
    assert "CA-CN-EV-TRQ-2026" in quota["message"] and "CN-ADT-SUSP-2026" in quota["message"]
    assert body["warnings"] == 2
    assert (body["concluded_on"], body["announced_on"]) == ("2026-01-15", "2026-01-16")


def test_the_arrangement_on_2031_03_01_shows_the_anti_dumping_expiry_as_information(
    api: InProcess,
) -> None:
    """The expiry of the 5.9% duty is information on China's side and no warning on Canada's
    names it; the suspension's lapse is reported with its own date."""
    with api.client("auditor") as client:
        body = client.get("/v1/arrangements/CA-CN-2026", params={"as_of": "2031-03-01"}).json()
    findings = {(item["measure"], item["rule"]): item for item in body["linkage"]}
    expired = findings[("CN-AD-RAPESEED-FINAL", "LINK-CN-AD-EXPIRED")]
    assert expired["severity"] == "info"
    warnings = [item for item in body["linkage"] if item["severity"] == "warning"]
    assert all("CN-AD-RAPESEED-FINAL" not in item["message"] for item in warnings)
    quota = findings[("CA-CN-EV-TRQ-2026", "LINK-EVTRQ-COUNTERPART-LAPSED")]
    assert "CN-ADT-SUSP-2026" in quota["message"] and "2026-12-31" in quota["message"]


def test_the_arrangement_on_2026_12_31_is_matched_on_both_sides(api: InProcess) -> None:
    """On the suspension's last day every linkage finding is information."""
    with api.client("submitter") as client:
        body = client.get("/v1/arrangements/CA-CN-2026", params={"as_of": "2026-12-31"}).json()
        missing = client.get("/v1/arrangements/NOPE")
    assert body["warnings"] == 0
    assert {item["severity"] for item in body["linkage"]} == {"info"}
    assert missing.status_code == 404


def test_a_lapsed_measure_still_shows_its_linkage_checks(api: InProcess) -> None:
    """The measure checks of China's suspension as of 2027-01-01 give the lapse warning."""
    with api.client("auditor") as client:
        body = client.get(
            "/v1/measures/CN-ADT-SUSP-2026/checks", params={"as_of": "2027-01-01"}
        ).json()
    assert body["in_force"] is False
    assert [item["rule"] for item in body["findings"]] == ["LINK-CN-SUSP-LAPSED"]


def test_the_arrangements_are_listed_with_their_parties_and_dates(api: InProcess) -> None:
    """`GET /v1/arrangements` lists each arrangement with its id, title, both parties, the
    day it was concluded and its timeline, under the typed model the OpenAPI document names;
    each id listed opens with `GET /v1/arrangements/{id}`."""
    with api.client("submitter") as client:
        listed = client.get("/v1/arrangements")
        assert listed.status_code == 200, listed.text
        [found] = [
            item for item in listed.json()["arrangements"] if item["arrangement"] == "CA-CN-2026"
        ]
        assert [party["jurisdiction"] for party in found["parties"]] == ["CA", "CN"]
        assert all(party["party"] for party in found["parties"])
        assert found["title"] and found["concluded_on"]
        assert set(found["timeline"]) == {"from", "to"}
        assert found["timeline"]["from"] <= found["timeline"]["to"]
        opened = client.get("/v1/arrangements/CA-CN-2026").json()
        assert (opened["title"], opened["concluded_on"]) == (found["title"], found["concluded_on"])
        document = client.get("/openapi.json").json()
    answer = document["paths"]["/v1/arrangements"]["get"]["responses"]["200"]
    schema = answer["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/ArrangementList"}
