"""What every verb that is a client of the service shares: `Client`, the HTTP client
(`--api`, `--token`) whose failures are a `CliError` with the exit code they give (1 the API
answered with an error, 3 it could not be reached), the API's errors in its own words, and
`show`, for a verb whose whole work is to print what the API answered."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import httpx

from cli.output import CliError, View, emit, generic


class Client:
    def __init__(self, api: str, token: str | None, timeout: float = 40.0) -> None:
        if not token:
            raise CliError("no token: pass --token or set ACCORD_TOKEN", 2)
        self.http = httpx.Client(
            base_url=api.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
        )

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise CliError(f"cannot reach the API at {self.http.base_url}: {exc}", 3) from exc

    def text(self, method: str, path: str, **kwargs: Any) -> str:
        response = self._send(method, path, **kwargs)
        if response.status_code >= 400:
            raise CliError(_describe_error(response.status_code, _body(response)), 1)
        return response.text

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._send(method, path, **kwargs)
        body = _body(response)
        if response.status_code >= 400:
            raise CliError(_describe_error(response.status_code, body), 1)
        return body


def _body(response: httpx.Response) -> Any:
    # amounts come as decimal strings and stay strings: printed as the API wrote them
    try:
        return response.json()
    except ValueError:
        return {"error": response.text}


def _describe_error(status: int, body: Any) -> str:
    """The API's error in its own words: `error`, then the sentence of `detail` (its
    `message`, or each invalid field on a line of its own), then the status."""
    if not isinstance(body, dict):
        return f"{body} (HTTP {status})"
    text = str(body.get("error"))
    detail = body.get("detail")
    if isinstance(detail, list):
        listed = "".join(f"\n  {item.get('field')}: {item.get('message')}" for item in detail)
        return f"{text} (HTTP {status}){listed}"
    if isinstance(detail, dict):
        detail = detail.get("message") or ", ".join(f"{k} {v}" for k, v in detail.items())
    return f"{text}: {detail} (HTTP {status})" if detail else f"{text} (HTTP {status})"


def show(body: Any, args: argparse.Namespace, view: View = generic) -> int:
    emit(body, args.json, view)
    return 0


# a verb that is a client of the service: what it does with the client and its arguments,
# and the exit code it gives
Verb = Callable[[Client, argparse.Namespace], int]
