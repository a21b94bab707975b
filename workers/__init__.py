"""The Celery app and its tasks: short adapters from a queued declaration id to the
rules engine and the store (load -> rules.engine -> store -> done)."""
