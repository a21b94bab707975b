"""What /metrics says of webhooks: subscriptions by status (a failing one gave up a
delivery after its retries), deliveries waiting, and attempts by what came of them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from store import Store
from workers.webhooks import hooks_of


def metric_families(store: Store, stats: Mapping[str, int]) -> Iterator[Any]:
    hooks = hooks_of(store)
    subscriptions = GaugeMetricFamily(
        "accord_webhook_subscriptions", "Webhook subscriptions by status", labels=["status"]
    )
    statuses = [fields.get("status") or "active" for fields in hooks.subscriptions()]
    for status in ("active", "failing"):
        subscriptions.add_metric([status], statuses.count(status))
    yield subscriptions
    waiting = GaugeMetricFamily(
        "accord_webhook_deliveries_pending", "Webhook deliveries not yet made (due or retrying)"
    )
    waiting.add_metric([], hooks.due_count())
    yield waiting
    attempts = CounterMetricFamily(
        "accord_webhook_attempts",
        "Webhook delivery attempts by outcome (delivered, retrying, gave_up)",
        labels=["outcome"],
    )
    for outcome in ("delivered", "retrying", "gave_up"):
        attempts.add_metric([outcome], stats.get(f"webhooks:{outcome}", 0))
    yield attempts
