"""What a bench part records about the declarations its first tasks did not decide."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from celery import Celery

from bench.e2e_bench import Running, settled
from store import RedisStore
from workers.app import QUEUES
from workers.schedule import requeue_lost


def test_a_part_counts_the_declarations_the_watch_for_lost_tasks_enqueued_again(
    store: RedisStore, tmp_path: Path
) -> None:
    """A declaration stored a minute ago, still queued, with no task in the broker: the
    watch enqueues it again, and the part's figures say so (`requeued_lost`), with a
    copy of the stack's logs kept beyond the run."""
    (tmp_path / "worker.log").write_text("the worker's words\n")
    store.submit("lost-1", '{"not": "read"}', "0" * 64, "123456789RM0001", time.time() - 60, [])
    stack = Running(url="", store=store, sender=Celery("unused"), env={}, pids={}, logs=tmp_path)
    sent: list[str] = []
    figures: dict[str, object] = {}
    with settled(stack, figures):
        assert requeue_lost(store, QUEUES, 10, sent.extend, recheck=0) == ["lost-1"]
        assert requeue_lost(store, QUEUES, 10, sent.extend, recheck=0) == []  # moved back
    assert sent == ["lost-1"]
    assert figures["requeued_lost"] == 1
    assert figures["decided_by_sweeper"] == 0
    kept = Path(str(figures["logs"]))
    assert kept != tmp_path
    assert (kept / "worker.log").read_text() == "the worker's words\n"
    shutil.rmtree(kept)
