"""Parts of the benchmarks: how the permit rush sizes its applications, how the memory
map names a key's shape, and how the latency part readies Redis for its window."""

from __future__ import annotations

import re

from bench.e2e_bench import rewrite_append_only_file
from bench.memory_map import group, shape
from bench.rush_bench import applicant_number, units_each
from schemas.identifiers import BN15
from store import RedisStore


def test_the_rush_asks_for_more_than_the_period_in_sizes_that_divide_it() -> None:
    """Each applicant's quantity divides what the period holds, and together they ask for
    at least 1.5 times it, so the units run out exactly and the rest are refused."""
    for holds in (49_000, 24_500, 1_000, 997):
        size = units_each(holds, 400)
        assert holds % size == 0
        assert size * 400 >= 1.5 * holds
    assert units_each(49_000, 400) == 196


def test_every_applicant_has_a_business_number_of_its_own() -> None:
    """The 400 applicants' business numbers are distinct and valid BN15s."""
    numbers = {applicant_number(index) for index in range(400)}
    assert len(numbers) == 400
    assert all(re.fullmatch(BN15, number) for number in numbers)


def test_the_memory_map_names_keys_by_shape_and_part() -> None:
    """Ids, permit numbers, hashes, dates, rules and business numbers are replaced by
    what they are, and each shape falls in its part of the store."""
    assert shape("decl:y1000-17") == "decl:{id}"
    assert shape("{CA-CN-EV-TRQ-2026}:permit:y0-P31") == "{quota}:permit:{permit}"
    assert shape("decisions:WTO-EVTRQ-ILA-1.4A") == "decisions:{rule}"
    assert shape("submitted:123456789RM0001") == "submitted:{business_number}"
    assert shape("checks:" + "ab" * 32) == "checks:{sha}"
    assert group("audit:{id}") != group("audit:checkpoints")
    assert group("decisions:{rule}") == group("decided")


def test_the_latency_window_starts_after_a_rewrite_of_the_append_only_file(
    store: RedisStore,
) -> None:
    """The latency part rewrites the stack's append-only file and waits for it, so that
    Redis's own rewrite (a child taking a core for about a second) is not in the window."""
    forks = store.client.info("stats")["total_forks"]
    rewrite_append_only_file(store.client)
    after = store.client.info("persistence")
    assert store.client.info("stats")["total_forks"] == forks + 1
    assert after["aof_last_bgrewrite_status"] == "ok"
    assert after["aof_rewrite_in_progress"] == 0
    assert after["aof_rewrite_scheduled"] == 0
