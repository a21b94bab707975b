"""Permit applications that cannot burn the quota or squat a number (SPEC §5, §7): dates
that end before they begin, sizes beyond the quota and loosely typed values are refused
naming the field with nothing drawn; the service's numbers are its own and random; a
number another importer holds answers exactly as an unknown one."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from conftest import IMPORTER, InProcess
from schemas.permit import SERVICE_PERMIT_PREFIX

QUOTA = "CA-CN-EV-TRQ-2026"


def application(**change: Any) -> dict[str, Any]:
    today = datetime.now(UTC).date().isoformat()
    return {"business_number": IMPORTER, "measure": QUOTA, "quantity": 1, "issued_on": today,
            **change}  # fmt: skip


def remaining(api: InProcess) -> int:
    today = datetime.now(UTC).date().isoformat()
    with api.client() as client:
        body = client.get(f"/v1/quotas/{QUOTA}", params={"as_of": today}).json()
    return int(body["period"]["remaining"])


YESTERDAY = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        # issued_on defaulted to today: the check still runs
        ({"issued_on": None, "expires_on": "1990-01-01"}, "expires_on"),
        ({"issued_on": None, "expires_on": YESTERDAY}, "expires_on"),
        ({"expires_on": YESTERDAY}, "expires_on"),
        ({"quantity": True}, "quantity"),
        ({"quantity": "1"}, "quantity"),
        ({"quantity": "1.0"}, "quantity"),
        ({"quantity": 1.0}, "quantity"),
        ({"quantity": 49_001}, "quantity"),  # the quota year holds 49,000
        ({"issued_on": datetime.now(UTC).strftime("%Y-%m-%dT00:00:00")}, "issued_on"),
        ({"expires_on": datetime.now(UTC).strftime("%Y-%m-%dT00:00:00Z")}, "expires_on"),
        ({"issued_on": 20260301}, "issued_on"),
        ({"permit_number": f"{SERVICE_PERMIT_PREFIX}1-AAAAA-BBBBB"}, "permit_number"),
        ({"permit_number": "accord-1-00001"}, "permit_number"),
    ],
)
def test_an_application_that_could_burn_the_quota_is_refused_naming_the_field(
    api: InProcess, change: dict[str, Any], field: str
) -> None:
    """A submitter's application ending before it begins (issued_on given or defaulted),
    larger than the quota year, loosely typed, or naming a service number is 422 naming
    the field, and draws nothing."""
    before = remaining(api)
    body = {key: value for key, value in application(**change).items() if value is not None}
    with api.client("submitter") as client:
        response = client.post("/v1/permits", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["field"] == field
    assert remaining(api) == before


def test_the_service_numbers_permits_in_its_own_namespace_at_random(api: InProcess) -> None:
    """Auto-assigned numbers carry the service's prefix, are readable (no I, L, O, U) and
    share no sequence: two in a row differ in their random part, which tells nothing of
    how many came before."""
    with api.client("submitter") as client:
        numbers = [client.post("/v1/permits", json=application()).json()["permit_number"]
                   for _ in range(3)]  # fmt: skip
    pattern = re.compile(
        rf"{SERVICE_PERMIT_PREFIX}[0-9]+-[0-9A-HJKMNP-TV-Z]{{5}}-[0-9A-HJKMNP-TV-Z]{{5}}"
    )
    assert all(pattern.fullmatch(number) for number in numbers), numbers
    assert len(set(numbers)) == 3
    with api.client("submitter") as client:
        for number in numbers:
            assert client.get(f"/v1/permits/{number}").json()["status"] == "issued"


def test_another_importers_number_answers_as_an_unknown_one(api: InProcess) -> None:
    """Reading or cancelling a permit number the other importer holds gets the same status
    and the same body as a number nobody holds, and cancels nothing."""
    with api.client("other_submitter") as client:
        theirs = client.post("/v1/permits", json=application(business_number="987654321RM0001"))
        assert theirs.status_code == 201, theirs.text
    held = theirs.json()["permit_number"]
    unknown = held[:-1] + ("0" if held[-1] != "0" else "1")
    with api.client("submitter") as client:
        for method, suffix in (("GET", ""), ("POST", "/cancel")):
            answers = [client.request(method, f"/v1/permits/{number}{suffix}")
                       for number in (held, unknown)]  # fmt: skip
            assert answers[0].status_code == answers[1].status_code == 404
            same_for_held = {"permit_number": held,
                             "message": f"no permit {held} that this token may see"}  # fmt: skip
            assert answers[0].json() == {**answers[1].json(), "detail": same_for_held}
            assert answers[1].json()["detail"]["message"] == (
                f"no permit {unknown} that this token may see"
            )
            assert answers[0].headers.get("content-length") == answers[1].headers.get(
                "content-length"
            )
    with api.client("other_submitter") as client:
        assert client.get(f"/v1/permits/{held}").json()["status"] == "issued"
