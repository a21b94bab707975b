"""Connections that never finish their request head are closed.

uvicorn times out idle keep-alive connections, but h11 has no timeout on reading a
request head: a client dripping one header line every few seconds holds its connection
(and a file descriptor) forever, and a few hundred such clients exhaust the process.
This protocol gives every request head `ACCORD_HEADER_TIMEOUT` seconds (default 10) from
the moment the connection opens or its previous response completes; whatever has not
delivered a complete head by then is closed. A slow body or a long poll is not affected:
the clock stops as soon as the head is complete.

`accord run` serves the API with it (`uvicorn --http service.connections:HeadTimeoutProtocol`).
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from settings import get_settings

PROTOCOL = "service.connections:HeadTimeoutProtocol"


class HeadTimeoutProtocol(H11Protocol):
    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.header_timeout = get_settings().header_timeout
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_clock()
        super().connection_lost(exc)

    def _await_head(self) -> None:
        self._stop_clock()
        if not self.transport.is_closing():
            self._head_timer = self.loop.call_later(self.header_timeout, self._head_overdue)

    def _stop_clock(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_overdue(self) -> None:
        self._head_timer = None
        # IDLE: h11 has not seen a complete request head since the clock started.
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()
