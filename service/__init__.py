"""The HTTP API (FastAPI): its routes, authentication, the dashboard and the ASGI app
uvicorn serves. No business logic: routes validate, call the store, a workflow or the
queue, and answer. The `accord` command is the layer above (cli/)."""
