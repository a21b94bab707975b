"""Bounded memos of the engine's pure functions, and the switch that turns them off.

Each stage keeps its memos beside the function they remember (`rules.matching.FIRINGS`,
`rules.findings.FINDINGS`, `rules.evaluation.IN_FORCE`, `rules.measure_checks.CHECKS`
and `CHECK_FIRINGS`, `rules.declaration_facts.RATE_TEXTS`, `rules.verdict.NOT_ASSESSED`). Every `LRU` registers itself
in `MEMOS`, so that `uncached()` turns them all off together and a forked child takes
fresh locks for them. Figures and bounds: docs/engine.md, docs/performance.md.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import Any, Generic, TypeVar

V = TypeVar("V")

# Every memo of the engine, in the order they were made (each `LRU` adds itself).
MEMOS: list[LRU[Any]] = []


class LRU(Generic[V]):
    """A bounded memo of a pure function, least recently used evicted first; thread-safe
    (the API evaluates measure checks in worker threads). `enabled = False` makes every
    lookup miss and nothing is kept: `uncached()` turns the engine's memos off together,
    which the tests use to show that they change no verdict and no trail."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self.enabled = True
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()
        MEMOS.append(self)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> V | None:
        """The value kept for `key`, or None (a key that is not hashable raises TypeError).
        Without the lock: each OrderedDict call is atomic under the GIL, and an entry
        evicted between the two is simply not moved (the counts are only indicative)."""
        if not self.enabled:
            return None
        found = self._entries.get(key)
        if found is None:
            self.misses += 1
            return None
        self.hits += 1
        # not contextlib.suppress: it builds a context manager on every hit of a hot path
        try:  # noqa: SIM105
            self._entries.move_to_end(key)
        except KeyError:  # evicted meanwhile by another thread
            pass
        return found

    def put(self, key: Hashable, value: V) -> None:
        if not self.enabled:
            return
        with self._lock:
            self._entries[key] = value
            if len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.hits = self.misses = 0

    def forked(self) -> None:
        """In a forked child: the entries stay true, the parent's lock is not ours."""
        self._lock = threading.Lock()


@contextlib.contextmanager
def uncached() -> Iterator[None]:
    """Evaluate with every engine memo off: every fact asserted into durable-rules, every
    finding and measure list built afresh (the tests compare the two paths)."""
    memos = tuple(MEMOS)
    before = [memo.enabled for memo in memos]
    for memo in memos:
        memo.enabled = False
    try:
        yield
    finally:
        for memo, enabled in zip(memos, before, strict=True):
            memo.enabled = enabled


def _forked() -> None:
    """In a forked child: the memos' entries stay true, the parent's locks are not ours."""
    for memo in MEMOS:
        memo.forked()


os.register_at_fork(after_in_child=_forked)


class once(Generic[V]):
    """`functools.cached_property` without the lock Python 3.11 takes on each first read
    (3.12 dropped it): the value is a pure function of the object, so two threads that
    compute it at once compute the same value, and either may keep it."""

    def __init__(self, func: Callable[[Any], V]) -> None:
        self.func = func
        self.name = func.__name__
        self.__doc__ = func.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: Any, owner: type | None = None) -> V:
        value = self.func(instance)
        instance.__dict__[self.name] = value  # read from the instance from now on
        return value
