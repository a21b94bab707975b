"""The OpenAPI document declares every answer: a schema for each operation's success,
`{error, detail}` for each of its errors, and references that all resolve; /docs loads
Swagger UI from the service itself, nothing from another host."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from conftest import Stack
from rules.catalog import Catalog
from service.api import create_app
from service.auth import TokenBook, TokenEntry
from settings import Settings
from store import RedisStore

METHODS = ("get", "post", "put", "patch", "delete")
NO_TOKEN = {("/healthz", "get"), ("/readyz", "get")}  # what anyone may call


@pytest.fixture
def document(stack: Stack) -> dict[str, Any]:
    answer = httpx.get(f"{stack.url}/openapi.json")
    assert answer.status_code == 200
    found: dict[str, Any] = answer.json()
    return found


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def refs(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "$ref" and isinstance(inner, str):
                yield inner
            else:
                yield from refs(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from refs(inner)


def api_routes(routes: Sequence[BaseRoute]) -> Iterator[APIRoute]:
    """The app's routes, through the routers it includes (FastAPI keeps an included
    router as one entry that holds the router, not as copies of its routes)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from api_routes(included.routes)


def test_every_operation_declares_a_schema_for_its_success(document: dict[str, Any]) -> None:
    """Each operation has a 2xx answer, and each of its media types names a schema."""
    missing = []
    for path, method, operation in operations(document):
        successes = {
            code: answer for code, answer in operation["responses"].items() if code[0] == "2"
        }
        typed = [
            media.get("schema")
            for answer in successes.values()
            for media in answer.get("content", {}).values()
        ]
        if not typed or not all(typed):
            missing.append(f"{method.upper()} {path}")
    assert missing == []
    assert len(list(operations(document))) >= 20


def test_every_error_is_declared_as_the_one_error_model(document: dict[str, Any]) -> None:
    """Every 4xx and 5xx an operation declares is `{error, detail}` as JSON, and every
    operation but /healthz declares the 401 its token check answers."""
    error = {"$ref": "#/components/schemas/ErrorAnswer"}
    wrong = []
    for path, method, operation in operations(document):
        for code, answer in operation["responses"].items():
            schema = answer.get("content", {}).get("application/json", {}).get("schema")
            if code[0] in "45" and (path, method) not in NO_TOKEN and schema != error:
                wrong.append(f"{method.upper()} {path} {code}")
        if (path, method) not in NO_TOKEN and "401" not in operation["responses"]:
            wrong.append(f"{method.upper()} {path}: no 401")
    assert wrong == []
    assert set(document["components"]["schemas"]["ErrorAnswer"]["properties"]) == {
        "error",
        "detail",
    }


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    """Every $ref of the document names a schema of its components."""
    schemas = document["components"]["schemas"]
    dangling = {
        ref for ref in refs(document) if ref.removeprefix("#/components/schemas/") not in schemas
    }
    assert dangling == set()
    assert "HTTPValidationError" not in schemas  # 422 is Accord's own, not FastAPI's shape


def test_every_route_is_defined_under_service_routes(
    store: RedisStore, catalog: Catalog, redis_url: str
) -> None:
    """Each route of the app (API and dashboard) has its endpoint in a service.routes module."""
    settings = Settings.from_environ({"REDIS_URL": redis_url})
    book = TokenBook((TokenEntry(token="a-token-for-the-route-walk", role="admin"),))
    app = create_app(settings, store, lambda ids: None, catalog=catalog, tokens=book)
    routes = list(api_routes(app.routes))
    elsewhere = [
        f"{route.path} in {route.endpoint.__module__}"
        for route in routes
        if not route.endpoint.__module__.startswith("service.routes.")
    ]
    assert elsewhere == []
    assert any(route.path.startswith("/dashboard") for route in routes)


def test_docs_load_nothing_from_another_host(stack: Stack) -> None:
    """/docs names only paths of this service, and the script and stylesheet it names
    answer 200 from the service with their content types."""
    page = httpx.get(f"{stack.url}/docs")
    assert page.status_code == 200
    linked = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", page.text)
    assert linked, page.text
    assert [item for item in linked if not item.startswith("/")] == []
    assert "//" not in "".join(linked)
    assets = [item for item in linked if item.startswith("/docs/assets/")]
    assert {item.rsplit(".", 1)[1] for item in assets} == {"js", "css"}
    for asset in assets:
        answer = httpx.get(f"{stack.url}{asset}")
        assert answer.status_code == 200, asset
        assert answer.headers["content-type"].startswith(("text/javascript", "text/css"))
        assert len(answer.content) > 10_000
    assert httpx.get(f"{stack.url}/openapi.json").status_code == 200


def test_docs_serve_only_the_two_files_the_page_names(stack: Stack) -> None:
    """Another file of the bundle, or a path out of it, is 404, not served."""
    for name in ("index.html", "swagger-ui.js.map", "..%2F..%2F__init__.py"):
        assert httpx.get(f"{stack.url}/docs/assets/{name}").status_code == 404, name
