"""The store's pipelines run Lua scripts by hash without asking Redis first, and still
run them exactly once when Redis has lost its script cache (a restart, a failover)."""

from __future__ import annotations

import uuid

from store import connection

COUNTING = "return redis.call('INCR', KEYS[1])"


def _script_exists_calls(client: connection.ScriptRedis) -> int:
    stats = client.info("commandstats")
    return int(stats.get("cmdstat_script|exists", {}).get("calls", 0))


def test_a_pipeline_of_a_loaded_script_asks_redis_nothing_first(redis_url: str) -> None:
    """A pipeline holding a script sends no SCRIPT EXISTS: one round trip, not two."""
    client = connection.client(redis_url, 2.0)
    script = client.register_script(COUNTING)
    key = f"t-scripts:{uuid.uuid4().hex}"
    client.script_load(COUNTING)
    before = _script_exists_calls(client)
    for _ in range(3):
        pipe = client.pipeline(transaction=False)
        script(keys=[key], client=pipe)
        pipe.get(key)
        pipe.execute()
    assert _script_exists_calls(client) == before
    assert client.get(key) == b"3"
    client.close()


def test_a_script_redis_lost_runs_once_after_loading(redis_url: str) -> None:
    """After SCRIPT FLUSH the pipeline loads its script and runs it once, not twice."""
    client = connection.client(redis_url, 2.0)
    script = client.register_script(COUNTING)
    key = f"t-scripts:{uuid.uuid4().hex}"
    client.script_flush()
    pipe = client.pipeline(transaction=False)
    script(keys=[key], client=pipe)
    pipe.get(key)
    assert pipe.execute() == [1, b"1"]
    assert client.get(key) == b"1"
    client.close()


def test_a_call_that_ran_is_not_sent_again_when_another_was_missing(redis_url: str) -> None:
    """When one script of a pipeline is missing and another is held (a client loaded it
    after a restart), only the missing one is sent again: each runs once."""
    client = connection.client(redis_url, 2.0)
    other = "return redis.call('INCRBY', KEYS[1], 10)"
    first, second = client.register_script(COUNTING), client.register_script(other)
    key_a, key_b = (f"t-scripts:{uuid.uuid4().hex}" for _ in range(2))
    client.script_flush()
    client.script_load(other)  # held; COUNTING is not
    pipe = client.pipeline(transaction=False)
    first(keys=[key_a], client=pipe)
    second(keys=[key_b], client=pipe)
    pipe.get(key_a)
    assert pipe.execute() == [1, 10, b"1"]
    assert (client.get(key_a), client.get(key_b)) == (b"1", b"10")
    client.close()
