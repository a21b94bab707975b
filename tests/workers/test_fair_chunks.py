"""Bulk work is decided in tasks of at most LINES_PER_TASK lines: the rest of a chunk goes
back to the bulk queue, behind other importers' work, so that no importer's large batch
holds a worker for long (docs/security.md)."""

from __future__ import annotations

import pytest

from conftest import Stack, unique_id
from helpers import declaration
from workers.tasks import LINES_PER_TASK, first_lines


@pytest.mark.parametrize(
    ("counts", "taken"),
    [
        ([999, 999, 999], 1),  # one large declaration per task
        ([400, 400, 400], 2),  # as many as fit
        ([1500, 1], 1),  # one at least, however long
        ([1] * 25, 25),  # small ones all together, as before
        ([LINES_PER_TASK], 1),
    ],
)
def test_a_task_takes_the_leading_declarations_that_fit_its_lines(
    counts: list[int], taken: int
) -> None:
    """The declarations decided now are the leading ones holding at most LINES_PER_TASK
    lines together (one at least); the rest keep their order."""
    ids = [f"d{index}" for index in range(len(counts))]
    now, rest = first_lines(ids, counts)
    assert (now, rest) == (ids[:taken], ids[taken:])


@pytest.mark.stack
def test_a_batch_of_large_declarations_is_decided_across_tasks(stack: Stack) -> None:
    """A batch of three 600-line declarations, more than one task's lines, is decided
    whole: each task hands the rest of its chunk back and the next one decides it."""
    lines = [{"quantity": "1", "value_for_duty": "40000.00"}] * 600
    batch = [declaration(unique_id("large"), lines=lines) for _ in range(3)]
    with stack.client("submitter", timeout=120) as client:
        response = client.post("/v1/declarations/batch", json={"declarations": batch})
        assert response.status_code == 202, response.text
        for body in batch:
            path = f"/v1/declarations/{body['declaration_id']}"
            answer = client.get(path, params={"wait": 30})
            assert answer.json().get("status") == "decided", answer.text[:300]
