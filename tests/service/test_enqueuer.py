"""The coalescer of enqueues: a lone declaration goes at once, a stream of them goes in
chunks no more often than once per interval, and nothing is lost or reordered."""

from __future__ import annotations

import itertools
import threading
import time

from service.enqueuer import Coalescer


class Recorder:
    def __init__(self) -> None:
        self.chunks: list[tuple[float, list[str]]] = []
        self.arrived = threading.Event()

    def __call__(self, chunk: list[str]) -> None:
        self.chunks.append((time.monotonic(), chunk))
        self.arrived.set()

    def ids(self) -> list[str]:
        return [item for _, chunk in self.chunks for item in chunk]


def _wait_for(recorder: Recorder, count: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while len(recorder.ids()) < count and time.monotonic() < deadline:
        time.sleep(0.005)


def test_a_lone_declaration_goes_at_once() -> None:
    """After a quiet spell a declaration is sent without waiting for the interval."""
    recorder = Recorder()
    coalescer = Coalescer(recorder, interval=1.0, chunk=25)
    handed = time.monotonic()
    coalescer(["d-1"])
    assert recorder.arrived.wait(0.5)
    assert recorder.chunks[0][0] - handed < 0.5
    assert recorder.ids() == ["d-1"]


def test_a_stream_goes_in_chunks_at_most_once_per_interval() -> None:
    """Declarations arriving faster than the interval share tasks, in order, none lost."""
    recorder = Recorder()
    coalescer = Coalescer(recorder, interval=0.05, chunk=25)
    ids = [f"d-{index}" for index in range(60)]
    for item in ids:
        coalescer([item])
        time.sleep(0.002)
    _wait_for(recorder, len(ids))
    assert recorder.ids() == ids
    assert len(recorder.chunks) < len(ids) / 4
    for (earlier, _), (later, chunk) in itertools.pairwise(recorder.chunks):
        assert later - earlier >= 0.045 or len(chunk) == 25


def test_a_chunk_never_exceeds_its_size() -> None:
    """A batch handed at once leaves in full chunks, the rest in the last one."""
    recorder = Recorder()
    coalescer = Coalescer(recorder, interval=0.01, chunk=25)
    ids = [f"d-{index}" for index in range(60)]
    coalescer(ids)
    _wait_for(recorder, len(ids))
    assert recorder.ids() == ids
    assert max(len(chunk) for _, chunk in recorder.chunks) == 25


class Flaky(Recorder):
    """Fails its first `failures` sends, as a broker connection found dead does."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.tries = 0

    def __call__(self, chunk: list[str]) -> None:
        self.tries += 1
        if self.tries <= self.failures:
            raise ConnectionError("Connection closed by server.")
        super().__call__(chunk)


def test_a_send_that_fails_is_tried_again_not_left_to_the_sweeper() -> None:
    """A send that fails (a stale broker connection after Redis's return) is tried again
    with back-off: every declaration goes, once, in order, within seconds."""
    flaky = Flaky(failures=3)
    coalescer = Coalescer(flaky, interval=0.01, chunk=25)
    coalescer(["d-1", "d-2"])
    coalescer(["d-3"])
    _wait_for(flaky, 3)
    assert flaky.ids() == ["d-1", "d-2", "d-3"]
    assert flaky.tries >= 4


def test_a_send_that_keeps_failing_is_given_up_after_its_time() -> None:
    """After `retry_for` seconds of failures the chunk is left to the sweeper and the next
    declarations still go."""
    flaky = Flaky(failures=10**6)
    coalescer = Coalescer(flaky, interval=0.01, chunk=25, retry_for=0.5)
    coalescer(["lost-1"])
    time.sleep(1.5)
    flaky.failures = 0
    coalescer(["d-2"])
    _wait_for(flaky, 1)
    assert flaky.ids() == ["d-2"]
