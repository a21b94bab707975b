"""The HTTP API (FastAPI), its authentication, the settings and the `accord` CLI. No
business logic: routes validate, call the store or enqueue, and answer."""
