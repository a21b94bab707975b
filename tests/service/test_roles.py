"""Every endpoint for every role (SPEC §7): what each role may read and write."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from conftest import Accord, InProcess, unique_id
from helpers import declaration

ROLES = ("admin", "auditor", "submitter", "other_submitter", "nobody")


def decided(api: Accord) -> str:
    """A new declaration of the submitter's importer, decided."""
    body = declaration(unique_id("roles"))
    with api.client("submitter") as client:
        assert client.post("/v1/declarations", json=body).status_code == 202
        client.get(f"/v1/declarations/{body['declaration_id']}", params={"wait": 20})
    return str(body["declaration_id"])


@pytest.fixture
def decided_id(api: InProcess) -> str:
    return decided(api)


def call(api: Accord, role: str, method: str, path: str, body: Any = None) -> int:
    headers = {} if role == "nobody" else {"Authorization": f"Bearer {api.tokens[role]}"}
    response = httpx.request(method, f"{api.url}{path}", json=body, headers=headers, timeout=30)
    return response.status_code


TODAY = datetime.now(UTC).date().isoformat()  # a permit of today does not expire mid-run

# (method, path, body, expected status per role in ROLES order); {id} is a declaration
# of the submitter's importer, {fresh} one made for this case alone and decided, NEW a
# declaration body of the submitter's importer under an id nobody used, NEW_BATCH a batch
# of one. Roles call in ROLES order, so the submitter resubmits what the admin stored.
NEW, NEW_BATCH = "new declaration", "new batch"
MATRIX: list[tuple[str, str, Any, tuple[int, ...]]] = [
    ("POST", "/v1/declarations", NEW, (202, 403, 200, 403, 401)),
    ("POST", "/v1/declarations/batch", NEW_BATCH, (202, 403, 202, 202, 401)),
    ("POST", "/v1/declarations/{fresh}/cancel", None, (200, 403, 200, 404, 401)),
    ("GET", "/v1/declarations/{id}", None, (200, 200, 200, 404, 401)),
    ("GET", "/v1/declarations/{id}/audit", None, (200, 200, 200, 404, 401)),
    ("GET", "/v1/quotas", None, (200, 200, 200, 200, 401)),
    ("GET", "/v1/quotas/CA-CN-EV-TRQ-2026?as_of=2026-03-10", None, (200, 200, 200, 200, 401)),
    ("GET", "/v1/measures?as_of=2026-03-10", None, (200, 200, 200, 200, 401)),
    ("GET", "/v1/measures/CA-CN-EV-TRQ-2026/checks?as_of=2026-03-10", None, (200, 200, 200, 200, 401)),
    ("GET", "/v1/decisions?rule=DUTY-SUR-EV-MFN", None, (200, 200, 403, 403, 401)),
    ("POST", "/v1/replay", {"declaration_id": "{id}"}, (200, 200, 403, 403, 401)),
    ("GET", "/v1/export?from=2020-01-01T00:00:00Z&to=2020-01-02T00:00:00Z", None, (200, 200, 403, 403, 401)),
    ("POST", "/v1/permits", {"permit_number": "ROLE-1", "business_number": "123456789RM0001",
                             "measure": "CA-CN-EV-TRQ-2026", "quantity": 1, "issued_on": TODAY},
     (201, 403, 200, 403, 401)),  # the submitter's is the same application again
    ("POST", "/v1/quotas/TEST-TW-EV-PRORATA/runs", {"date": "2020-01-01"}, (200, 403, 403, 403, 401)),
    ("POST", "/v1/quotas/TEST-TH-EV-ALLOC/allocations",
     {"quota_year": 9, "business_number": "123456789RM0001", "initial": 1}, (200, 403, 403, 403, 401)),
    ("POST", "/v1/exchange-rates", {"observations": [{"d": "2026-03-06", "FXUSDCAD": {"v": "1.37"}}]},
     (200, 403, 403, 403, 401)),
    ("GET", "/metrics", None, (200, 200, 403, 403, 401)),
    ("GET", "/healthz", None, (200, 200, 200, 200, 200)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"), MATRIX, ids=[f"{m} {p}" for m, p, _, _ in MATRIX]
)
def test_each_role_gets_what_it_may(
    api: InProcess, decided_id: str, method: str, path: str, body: Any, expected: tuple[int, ...]
) -> None:
    """Admins do everything, auditors read everything, submitters see their own importer only."""
    path = path.replace("{id}", decided_id)
    if "{fresh}" in path:
        path = path.replace("{fresh}", decided(api))
    if body == NEW:
        body = declaration(unique_id("roles"))
    elif body == NEW_BATCH:
        body = {"declarations": [declaration(unique_id("roles"))]}
    if isinstance(body, dict):
        body = {key: (decided_id if value == "{id}" else value) for key, value in body.items()}
    got = tuple(call(api, role, method, path, body) for role in ROLES)
    assert got == expected


def test_cancel_by_role(api: InProcess) -> None:
    """Another importer's submitter cannot cancel (404); the owner can."""
    body = declaration(unique_id("roles"))
    with api.client("submitter") as client:
        client.post("/v1/declarations", json=body)
        client.get(f"/v1/declarations/{body['declaration_id']}", params={"wait": 20})
    path = f"/v1/declarations/{body['declaration_id']}/cancel"
    assert call(api, "other_submitter", "POST", path) == 404
    assert call(api, "nobody", "POST", path) == 401
    assert call(api, "submitter", "POST", path) == 200


def test_an_auditor_write_changes_nothing(api: InProcess) -> None:
    """What an auditor submits is not stored, and what it cancels stays as it was."""
    single, batched = declaration(unique_id("roles")), declaration(unique_id("roles"))
    existing = decided(api)
    with api.client("auditor") as client:
        assert client.post("/v1/declarations", json=single).status_code == 403
        batch = client.post("/v1/declarations/batch", json={"declarations": [batched]})
        assert batch.status_code == 403
        assert client.post(f"/v1/declarations/{existing}/cancel").status_code == 403
    with api.client("admin") as client:
        assert client.get(f"/v1/declarations/{single['declaration_id']}").status_code == 404
        assert client.get(f"/v1/declarations/{batched['declaration_id']}").status_code == 404
        assert client.get(f"/v1/declarations/{existing}").json()["status"] == "decided"
