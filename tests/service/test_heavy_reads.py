"""Reads that cost per item, not per verdict size (SPEC §7): GET /v1/decisions is paged
and lists what the index kept of each decision as it was decided, reading no verdict."""

from __future__ import annotations

import contextlib
from typing import Any

import httpx
import pytest

from conftest import InProcess, unique_id
from helpers import declaration
from rules.catalog import load_catalog
from store_calls import decision_index_as_before

RULE = "ELIG-EVTRQ-PERMIT-MISSING"


def rejected(api: InProcess, count: int) -> list[str]:
    """Declarations the rule rejects (no permit for a CN EV in March 2026), decided."""
    ids = []
    with api.client() as client:
        for _ in range(count):
            body = declaration(unique_id(), accepted_at="2026-03-12T10:00:00-05:00")
            assert client.post("/v1/declarations", json=body).status_code == 202
            ids.append(body["declaration_id"])
        for declaration_id in ids:
            client.get(f"/v1/declarations/{declaration_id}", params={"wait": 20})
    return ids


def pages(api: InProcess, limit: int) -> list[dict[str, Any]]:
    out = []
    cursor: int | None = 0
    with api.client("auditor") as client:
        while cursor is not None:
            params: dict[str, Any] = {"rule": RULE, "limit": limit, "cursor": cursor}
            page = client.get("/v1/decisions", params=params).json()
            out.append(page)
            cursor = page["next_cursor"]
    return out


def test_decisions_are_paged_and_read_no_verdict(
    api: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three decisions in pages of two: two, then one and no next cursor, in time order,
    each with its severity, pack version and outcome, and no declaration read to list
    them."""
    ids = rejected(api, 3)
    store = api.api_store
    assert store is not None
    reads: list[Any] = []
    monkeypatch.setattr(store, "get_many", lambda wanted: reads.append(wanted) or [])
    found = pages(api, 2)
    assert [len(page["decisions"]) for page in found] == [2, 1]
    assert [page["next_cursor"] for page in found] == [2, None]
    listed = [item for page in found for item in page["decisions"]]
    assert [item["declaration_id"] for item in listed] == ids
    found_pack = load_catalog().measure("CA-CN-EV-TRQ-2026")
    assert found_pack is not None
    version = found_pack[0].version  # the EV quota's pack decided them
    assert {(item["severity"], item["pack_version"], item["outcome"]) for item in listed} == {
        ("error", version, "rejected")
    }
    assert all(not wanted for wanted in reads)


def test_decisions_indexed_before_rows_were_kept_are_listed_from_their_verdicts(
    api: InProcess,
) -> None:
    """Without the kept rows (an index written before they were), the same page lists the
    same severity, pack version and outcome, read from the verdicts."""
    rejected(api, 2)
    before = pages(api, 10)
    store = api.store()
    decision_index_as_before(store, rows=False)
    assert pages(api, 10) == before
    store.close()


def test_a_page_of_decisions_is_bounded(api: InProcess) -> None:
    """A limit over 1,000 or a negative cursor is 422 naming it."""
    with api.client("auditor") as client:
        for params, field in (({"limit": 1001}, "limit"), ({"cursor": -1}, "cursor")):
            response = client.get("/v1/decisions", params={"rule": RULE, **params})
            assert response.status_code == 422
            assert field in response.json()["detail"][0]["field"]


def test_a_token_reads_a_bounded_number_of_declarations_at_once(api: InProcess) -> None:
    """While a token holds its 8 reads of declarations, its next status or audit read, or
    its dashboard's page of the declaration, is 429 with Retry-After; another token reads
    meanwhile, and the token again once one slot is free."""
    [declaration_id] = rejected(api, 1)
    services = api.app.state.services
    caller = services.tokens.principal(api.tokens["admin"])
    path = f"/v1/declarations/{declaration_id}"
    with httpx.Client(base_url=api.url, timeout=30.0) as dashboard:
        signed = dashboard.post("/dashboard/login", data={"token": api.tokens["admin"]})
        assert signed.status_code == 303, signed.text
        page = f"/dashboard/declarations/{declaration_id}"
        with contextlib.ExitStack() as held:
            for _ in range(services.settings.reads_per_caller):
                held.enter_context(services.reads.slot(caller.token_key))
            refused = dashboard.get(page)
            assert refused.status_code == 429, refused.text
        assert dashboard.get(page).status_code == 200
    with contextlib.ExitStack() as held:
        for _ in range(services.settings.reads_per_caller):
            held.enter_context(services.reads.slot(caller.token_key))
        with api.client() as client:
            for wanted in (path, f"{path}/audit"):
                refused = client.get(wanted)
                assert refused.status_code == 429, refused.text
                assert refused.headers["retry-after"] == "1"
        with api.client("auditor") as client:
            assert client.get(path).status_code == 200
            assert client.get(f"{path}/audit").status_code == 200
    with api.client() as client:
        assert client.get(path).status_code == 200
