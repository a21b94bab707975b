"""The watch for lost tasks on a real Redis, with task messages placed where kombu keeps
them: what it takes for lost, and what it leaves (workers/schedule.py `requeue_lost`)."""

from __future__ import annotations

import base64
import time

import orjson
import pytest

from rules.catalog import Catalog
from settings import ConfigError, Settings
from store import RedisStore
from workers.app import BULK_QUEUE, QUEUES
from workers.schedule import Schedule, requeue_lost

BN = "123456789RM0001"


def stored(store: RedisStore, *ids: str, ago: float = 60) -> None:
    for declaration_id in ids:
        store.submit(declaration_id, '{"not": "read"}', "0" * 64, BN, time.time() - ago, [])


def message(*ids: str) -> dict[str, object]:
    """A task message as kombu stores it: the body `[args, kwargs, embed]`, base64."""
    body = orjson.dumps([[list(ids)], {}, {}])
    return {
        "body": base64.b64encode(body).decode(),
        "headers": {"task": "accord.evaluate_many"},
        "properties": {"body_encoding": "base64"},
    }


def taken(store: RedisStore, tag: str, ago: float, *ids: str) -> None:
    """Recorded as kombu's QoS records a message a worker took `ago` seconds ago."""
    raw = orjson.dumps([message(*ids), BULK_QUEUE, BULK_QUEUE])
    store.client.hset(store.key("celery", "unacked"), tag, raw)
    store.client.zadd(store.key("celery", "unacked_index"), {tag: time.time() - ago})


def lost(store: RedisStore) -> list[str]:
    sent: list[str] = []
    found = requeue_lost(store, QUEUES, 10, sent.extend, recheck=0)
    assert sent == found
    return found


def test_a_declaration_with_no_message_anywhere_is_lost(store: RedisStore) -> None:
    stored(store, "a", "b")
    stored(store, "young", ago=1)  # not yet ACCORD_LOST_AFTER old
    assert lost(store) == ["a", "b"]
    assert store.stats()["requeued:lost"] == 2
    assert lost(store) == []  # moved to the back of the pending set


def test_a_declaration_waiting_in_a_queue_is_not_lost(store: RedisStore) -> None:
    stored(store, "a", "b")
    store.client.lpush(store.key("celery", BULK_QUEUE), orjson.dumps(message("a")))
    assert lost(store) == ["b"]


def test_a_message_taken_lately_is_not_lost(store: RedisStore) -> None:
    stored(store, "a")
    taken(store, "tag-1", 2, "a")
    assert lost(store) == []


def test_a_message_taken_long_ago_is_running_if_one_of_its_declarations_is_begun(
    store: RedisStore,
) -> None:
    stored(store, "a", "b")
    taken(store, "tag-1", 60, "a", "b")
    store.client.hset(store.key("decl", "a"), "status", "evaluating")
    assert lost(store) == []


def test_a_message_taken_long_ago_none_of_whose_declarations_is_begun_is_stranded(
    store: RedisStore,
) -> None:
    stored(store, "a", "b")
    taken(store, "tag-1", 60, "a", "b")
    assert lost(store) == ["a", "b"]


def test_a_backlog_is_not_read(store: RedisStore) -> None:
    stored(store, "a")
    store.client.lpush(store.key("celery", BULK_QUEUE), *[b"{}"] * 1001)
    assert lost(store) == []


def test_the_watch_waits_ten_seconds_unless_told_and_names_a_bad_setting() -> None:
    assert Settings.from_environ({}).lost_after == 10
    assert Settings.from_environ({"ACCORD_LOST_AFTER": "2.5"}).lost_after == 2.5
    with pytest.raises(ConfigError, match="ACCORD_LOST_AFTER"):
        Settings.from_environ({"ACCORD_LOST_AFTER": "soon"})


def test_the_watch_leaves_a_broker_it_cannot_read_alone(
    store: RedisStore, catalog: Catalog, redis_url: str
) -> None:
    """With RabbitMQ as the broker the queues are not in Redis: nothing there says a
    task is lost, so the watch enqueues nothing (the sweeper remains)."""
    stored(store, "a")
    sent: list[str] = []
    for broker, expected in (("amqp://guest@127.0.0.1//", []), ("", ["a"])):
        settings = Settings.from_environ({"REDIS_URL": redis_url, "ACCORD_BROKER_URL": broker})
        schedule = Schedule(store, catalog, settings, QUEUES, sent.extend)
        schedule.lost_tasks()
        assert sent == expected


def test_a_message_taken_beside_a_running_one_waits_its_turn(store: RedisStore) -> None:
    """A worker holds one message beyond the one it runs: while a task taken long ago is
    running (a declaration of it begun), the message taken beside it is waiting, not
    stranded, however slow the running task; a declaration no message names is lost."""
    stored(store, "running", "next", "nowhere")
    taken(store, "tag-1", 60, "running")
    taken(store, "tag-2", 60, "next")
    store.client.hset(store.key("decl", "running"), "status", "evaluating")
    assert lost(store) == ["nowhere"]


def test_an_entry_of_the_broker_that_is_not_json_names_nothing(store: RedisStore) -> None:
    """Another client's message in the queue or in kombu's unacked hash is no task of
    ours: the watch reads past it rather than failing every tick."""
    stored(store, "a")
    store.client.lpush(store.key("celery", BULK_QUEUE), b"not json")
    store.client.hset(store.key("celery", "unacked"), "tag-x", b"\xff not json")
    store.client.zadd(store.key("celery", "unacked_index"), {"tag-x": time.time() - 60})
    assert lost(store) == ["a"]


def test_one_api_process_watches_a_tick(
    store: RedisStore, catalog: Catalog, redis_url: str
) -> None:
    """Several API processes each run the watch; the first to claim a tick does it, so a
    lost declaration is enqueued again once, not once per process."""
    settings = Settings.from_environ({"REDIS_URL": redis_url})
    sent: list[str] = []
    first, second = (Schedule(store, catalog, settings, QUEUES, sent.extend) for _ in "ab")
    stored(store, "a")
    first.lost_tasks()
    assert sent == ["a"]
    stored(store, "b")
    second.lost_tasks()  # the same tick: the first process has it
    assert sent == ["a"]
