"""Errors are written for people and for machines at once: the API's `detail` keeps its
machine-readable keys and says in words what is wrong (units left, what a business
number or a date looks like, what was not found), and the CLI prints those words."""

from __future__ import annotations

from typing import Any

import pytest

from cli.main import main as accord
from conftest import InProcess

EV_QUOTA = "CA-CN-EV-TRQ-2026"
APPLICATION = {"business_number": "123456789RM0001", "measure": EV_QUOTA, "quantity": 2}


def answer(api: InProcess, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    with api.client("admin") as client:
        response = client.request(method, path, **kwargs)
    return response.status_code, response.json()


def cli(api: InProcess, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = accord(["--api", api.url, "--token", api.tokens["admin"], *args])
    return code, capsys.readouterr().err


def test_a_refused_permit_says_in_words_how_many_units_are_left(
    api: InProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    """A permit for more than its half-year holds (but within the year's volume, the most
    an application may ask) is refused with `remaining` as a number and a sentence saying
    how many units are left; the CLI prints the sentence, not a dict."""
    status, body = answer(
        api, "POST", "/v1/permits",
        json={**APPLICATION, "quantity": 30_000, "issued_on": "2026-05-01"},
    )  # fmt: skip
    assert status == 409
    left = body["detail"]["remaining"]
    assert isinstance(left, int) and left > 0
    assert body["error"] == "quota exhausted"
    assert body["detail"]["message"] == (
        f"{left:,} units are left in the quota, fewer than the 30,000 asked; nothing was drawn"
    )
    code, err = cli(
        api, capsys, "permits", "apply", "--business-number", "123456789RM0001",
        "--measure", EV_QUOTA, "--quantity", "30000", "--issued-on", "2026-05-01",
    )  # fmt: skip
    assert code == 1
    assert f"quota exhausted: {left:,} units are left in the quota" in err
    assert "{" not in err


def test_a_bad_business_number_says_what_a_bn15_looks_like(
    api: InProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    """A permit application with a malformed business number names the field and describes
    a BN15 with an example, never a regular expression; so does the CLI."""
    status, body = answer(
        api, "POST", "/v1/permits", json={**APPLICATION, "business_number": "12345"}
    )
    assert status == 422
    [problem] = body["detail"]
    assert problem["field"] == "business_number"
    assert "BN15" in problem["message"] and "123456789RM0001" in problem["message"]
    assert "[0-9]" not in problem["message"] and "pattern" not in problem["message"]
    code, err = cli(
        api, capsys, "permits", "apply", "--business-number", "12345",
        "--measure", EV_QUOTA, "--quantity", "2",
    )  # fmt: skip
    assert code == 1
    assert "business_number: must be a BN15" in err and "[0-9]" not in err


def test_a_declarations_bad_business_number_describes_a_bn15_or_a_uscc(api: InProcess) -> None:
    """A CA declaration's bad importer number is described as a BN15, a CN declaration's as
    an 18-character unified social credit code, each with an example."""
    from helpers import declaration

    canadian = {**declaration("MSG-BN-1"), "importer": {"business_number": "1", "name": "x"}}
    status, body = answer(api, "POST", "/v1/declarations", json=canadian)
    assert status == 422
    message = body["detail"][0]["message"]
    assert "BN15" in message and "such as 123456789RM0001" in message
    chinese = {**canadian, "declaration_id": "MSG-BN-2", "jurisdiction": "CN", "currency": "CNY"}
    status, body = answer(api, "POST", "/v1/declarations", json=chinese)
    assert status == 422
    message = body["detail"][0]["message"]
    assert "unified social credit code" in message and "91110000600037341L" in message


def test_a_bad_date_names_its_format(api: InProcess, capsys: pytest.CaptureFixture[str]) -> None:
    """A date that does not parse is answered with the format it must have: YYYY-MM-DD for a
    day, RFC 3339 with its offset for an acceptance time; the CLI shows the same words."""
    status, body = answer(api, "GET", f"/v1/quotas/{EV_QUOTA}", params={"as_of": "30/11/2026"})
    assert status == 422
    assert body["detail"][0]["message"] == (
        "must be a date as YYYY-MM-DD, such as 2026-11-30, got '30/11/2026'"
    )
    from helpers import declaration

    late = {**declaration("MSG-DATE-1"), "accepted_at": "10/03/2026 10:00"}
    status, body = answer(api, "POST", "/v1/declarations", json=late)
    assert status == 422
    assert body["detail"][0]["field"] == "accepted_at"
    assert "RFC 3339 timestamp with its UTC offset" in body["detail"][0]["message"]
    assert "2026-03-10T10:00:00-05:00" in body["detail"][0]["message"]
    status, body = answer(api, "GET", "/v1/export", params={"from": "2026-11-01", "to": "Nov 30"})
    assert status == 422
    assert "YYYY-MM-DD or an RFC 3339 timestamp" in body["detail"][0]["message"]
    code, err = cli(api, capsys, "quotas", EV_QUOTA, "--as-of", "30/11/2026")
    assert code == 1
    assert "as_of: must be a date as YYYY-MM-DD" in err


def test_a_404_says_what_was_not_found(api: InProcess, capsys: pytest.CaptureFixture[str]) -> None:
    """Each 404 names the kind and id of what was not found (and, for a route, the method
    and path), in `detail` for machines and in words; the CLI prints the words."""
    status, body = answer(api, "GET", "/v1/declarations/NO-SUCH-1")
    assert (status, body["error"]) == (404, "declaration not found")
    assert body["detail"]["declaration_id"] == "NO-SUCH-1"
    assert body["detail"]["message"] == "no declaration NO-SUCH-1 that this token may see"
    status, body = answer(api, "GET", "/v1/quotas/NO-SUCH-QUOTA")
    assert body["detail"]["message"] == "no quota NO-SUCH-QUOTA"
    status, body = answer(api, "GET", "/v1/nowhere")
    assert status == 404
    assert (
        body["detail"]["message"]
        == "the API has no GET /v1/nowhere; its routes are listed at /docs"
    )
    code, err = cli(api, capsys, "permits", "show", "NO-SUCH-PERMIT")
    assert code == 1
    assert err.strip() == (
        "accord: permit not found: no permit NO-SUCH-PERMIT that this token may see (HTTP 404)"
    )
