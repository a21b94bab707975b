"""/docs in headless Chromium against the running stack: Swagger UI renders every
operation of the OpenAPI document (3.1) and the browser asks no host but the service."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from conftest import Stack

from .conftest import screenshot

pytestmark = [pytest.mark.stack, pytest.mark.browser]


def test_docs_render_every_operation_from_the_service_alone(page: Any, stack: Stack) -> None:
    """Every operation shows, no rendering error, and no request leaves the service's host."""
    hosts: set[str] = set()
    page.on("request", lambda request: hosts.add(urlsplit(request.url).netloc))
    page.goto(f"{stack.url}/docs")
    page.wait_for_selector(".opblock")
    document = httpx.get(f"{stack.url}/openapi.json").json()
    operations = sum(len(item) for item in document["paths"].values())
    assert page.locator(".opblock").count() == operations
    assert page.locator(".errors-wrapper").count() == 0
    assert hosts == {urlsplit(stack.url).netloc}
    screenshot(page, "docs")
