"""Long polls (`GET /v1/declarations/{id}?wait=S`) woken by Redis, not by polling it.

The record script publishes a declaration's id whenever its status changes; one thread
per API process holds the subscription and resolves the futures of the requests waiting
on that id. A waiting request costs Redis nothing until its declaration changes: it reads
once after registering (closing the race with a change published before it registered),
and once more when woken. While the subscription is down (Redis restarting, say), waiters
fall back on reading every `FALLBACK_POLL` seconds until it is back.

Each caller (token) may hold `per_caller` long polls at once; one more is refused with
429 and Retry-After, so one client cannot occupy the process with thousands of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import defaultdict
from collections.abc import Iterator

from service.errors import ApiError
from service.words import _
from store.errors import StoreError
from store.redis_store import RedisStore

log = logging.getLogger(__name__)

FALLBACK_POLL = 1.0  # seconds between reads while the subscription is down
RESUBSCRIBE_AFTER = 1.0


class CallerSlots:
    """At most `per_caller` of something at once per caller (token), 429 with Retry-After
    beyond it; safe to hold from the event loop and from the thread pool alike."""

    def __init__(self, per_caller: int, what: str) -> None:
        self.per_caller = per_caller
        self.what = what
        self._held: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()

    def held(self, caller: str) -> int:
        """How many `caller` holds now."""
        return self._held.get(caller, 0)

    @contextlib.contextmanager
    def slot(self, caller: str) -> Iterator[None]:
        """One of the caller's slots, or 429 beyond its share."""
        with self._lock:
            if self._held[caller] >= self.per_caller:
                raise ApiError(
                    429,
                    f"too many {self.what}",
                    _(f"at most {self.per_caller} {self.what} at once per token; retry shortly"),
                    headers={"Retry-After": "1"},
                )
            self._held[caller] += 1
        try:
            yield
        finally:
            with self._lock:
                self._held[caller] -= 1
                if not self._held[caller]:
                    del self._held[caller]


class StatusWaiters:
    def __init__(self, store: RedisStore, per_caller: int) -> None:
        self.store = store
        self.per_caller = per_caller
        self.listening = False
        self._waiting: dict[str, set[asyncio.Future[None]]] = defaultdict(set)
        self._slots = CallerSlots(per_caller, _("long polls"))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop.clear()
        self._thread = threading.Thread(target=self._listen, name="accord-changes", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ends the subscription (blocking for up to a second or two: call it off the loop)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                self.listening = True
                self.store.listen_changes(self._changed, self._stop)
            except StoreError as exc:
                log.warning("long polls fall back on reading: %s", exc)
            except Exception:  # never leave the process without its subscription for good
                log.exception("the change subscription failed; subscribing again")
            finally:
                self.listening = False
            self._stop.wait(RESUBSCRIBE_AFTER)

    def _changed(self, declaration_id: str) -> None:
        if self._loop is not None and declaration_id in self._waiting:
            self._loop.call_soon_threadsafe(self._wake, declaration_id)

    def _wake(self, declaration_id: str) -> None:
        for future in self._waiting.pop(declaration_id, ()):
            if not future.done():
                future.set_result(None)

    def waiting(self, caller: str) -> int:
        """How many long polls `caller` holds now."""
        return self._slots.held(caller)

    def slot(self, caller: str) -> contextlib.AbstractContextManager[None]:
        """One of the caller's long polls, or 429 beyond its share."""
        return self._slots.slot(caller)

    @contextlib.contextmanager
    def watch(self, declaration_id: str) -> Iterator[asyncio.Future[None]]:
        """A future resolved at the next status change of the declaration."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting[declaration_id].add(future)
        try:
            yield future
        finally:
            watchers = self._waiting.get(declaration_id)
            if watchers is not None:
                watchers.discard(future)
                if not watchers:
                    del self._waiting[declaration_id]

    async def changed(self, future: asyncio.Future[None], timeout: float) -> None:
        """Until the future is resolved or `timeout` passes; no longer than FALLBACK_POLL
        while the subscription is down, so that the caller reads again."""
        if not self.listening:
            timeout = min(timeout, FALLBACK_POLL)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(future), timeout)
