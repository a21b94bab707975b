"""Connections that hold the process without finishing a request are closed.

uvicorn times out idle keep-alive connections, but h11 has no timeout on reading a
request: a client dripping one header line every few seconds, or sending a complete head
and then a body that never ends, holds its connection (and a file descriptor) forever,
and a few hundred such clients exhaust the process. This protocol gives every request
head `ACCORD_HEADER_TIMEOUT` seconds (default 10), and the whole request, body included,
`ACCORD_READ_TIMEOUT` seconds (default 30), both from the moment the connection opens or
its previous response completes; whatever has not delivered its part by then is closed.
A long poll is not affected: the clocks stop mattering once the request is read.

One client address holds at most `ACCORD_CONNECTIONS_PER_ADDRESS` connections (default
64) of a process at once; the next is answered 503 and closed before anything is read.

`accord run` serves the API with it (`uvicorn --http service.connections:HeadTimeoutProtocol`).

It reads requests with httptools (llhttp, in C), as uvicorn's own `--http httptools`
does: h11, in Python, took about a sixth of the API's CPU per request
(docs/performance.md, "End to end").
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any, ClassVar

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from settings import get_settings

PROTOCOL = "service.connections:HeadTimeoutProtocol"

# what a connection over its address's bound is told before it is closed
_TOO_MANY_BODY = b'{"error": "too many connections", "detail": "from this address; retry later"}'
TOO_MANY = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
    b"retry-after: 1\r\nconnection: close\r\n"
    + f"content-length: {len(_TOO_MANY_BODY)}\r\n\r\n".encode()
    + _TOO_MANY_BODY
)


class HeadTimeoutProtocol(HttpToolsProtocol):
    # open connections per client address, for all the protocol instances of the
    # process's event loop
    open_by_address: ClassVar[Counter[str]] = Counter()

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        settings = get_settings()
        self.header_timeout = settings.header_timeout
        self.read_timeout = settings.read_timeout
        self.per_address = settings.connections_per_address
        self._head_timer: asyncio.TimerHandle | None = None
        self._read_timer: asyncio.TimerHandle | None = None
        self._address: str | None = None
        # requests whose head, and whose whole body, the parser has read, and responses
        # completed: the request being waited for is the one after the answered ones (a
        # pipelined request may have been read before its predecessor's answer ended)
        self._heads = self._ends = self._answered = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        peer = transport.get_extra_info("peername")
        address = peer[0] if isinstance(peer, tuple) and peer else None  # None: a Unix socket
        if address is not None:
            if self.open_by_address[address] >= self.per_address:
                transport.write(TOO_MANY)
                transport.close()
                return
            self.open_by_address[address] += 1
            self._address = address
        self._await_request()

    def on_headers_complete(self) -> None:
        self._heads += 1
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._ends += 1
        super().on_message_complete()

    def on_response_complete(self) -> None:
        self._answered += 1
        super().on_response_complete()
        self._await_request()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_clocks()
        if self._address is not None:
            self.open_by_address[self._address] -= 1
            if self.open_by_address[self._address] <= 0:
                del self.open_by_address[self._address]
            self._address = None
        super().connection_lost(exc)

    def _await_request(self) -> None:
        self._stop_clocks()
        if not self.transport.is_closing():
            self._head_timer = self.loop.call_later(self.header_timeout, self._head_overdue)
            self._read_timer = self.loop.call_later(self.read_timeout, self._read_overdue)

    def _stop_clocks(self) -> None:
        for timer in (self._head_timer, self._read_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._read_timer = None

    def _head_overdue(self) -> None:
        self._head_timer = None
        # the head of the request after the answered ones has not come
        if self._heads <= self._answered and not self.transport.is_closing():
            self.transport.close()

    def _read_overdue(self) -> None:
        self._read_timer = None
        # that request, head or body, has not been read to its end
        if self._ends <= self._answered and not self.transport.is_closing():
            self.transport.close()
