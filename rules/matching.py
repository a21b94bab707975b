"""The durable-rules session: the one module that talks to durable-rules.

    fire(pack, facts)     -> [(measure, rule, line)]   every fact asserted
    matched(pack, facts)  -> [(measure, rule, line)]   the same, each distinct projection
                                                        asserted once and remembered

The engine states facts (rules/declaration_facts.py, rules/measure_checks.py), asserts
them here into the pack's durable-rules ruleset and reads which rules fired. Facts, not
events: an event is consumed by the first rule it matches, a fact is seen by every rule.

durable-rules' traps shape this module (see docs/engine.md): one Host per process,
created lazily so that it is created after a fork; one session at a time under a
lock, always the same sid, deleted in `finally` (session ids are compared by a
32-bit hash and at most 1024 may live); facts asserted one at a time, since a batch
in which some fact matches no rule is refused whole; action exceptions land in the
session state, which is checked after every call.

Evaluation matches through `matched`, which asks durable-rules once per distinct
projection of a fact onto the names its rules read and remembers the firing (`FIRINGS`);
`fire` asserts every fact, for the tools that check durable-rules' matching.
"""

from __future__ import annotations

import copy
import os
import threading
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

from rules.compiler import compile_ruleset, reads
from rules.errors import EngineError
from rules.facts import DATE_FACT
from rules.measure import Measure, Rule
from rules.memos import LRU
from rules.pack import Pack

_SID = "0"
_ABSENT = object()  # a name the fact does not state (distinct from any JSON value)
# A stage no pack can name (stages are line, measure and allocation), for the guard fact.
_GUARD_STAGE = "session_guard"
_GUARD_RULE = "accord-session-guard"

# The rules each projected fact fires, per pack version. durable-rules decides a fact on
# the names its rules read, and every compiled rule also matches its stage and measure
# (rules/compiler.py), so what a fact fires is a pure function of (pack, the fact
# projected onto the names read by the rules of its stage and measure). Declarations
# repeat those few values endlessly: each distinct projection is matched by durable-rules
# once and remembered. A projection holds a handful of values (docs/performance.md): an
# entry is about 600 bytes, so full this holds about 5 MB. (5,000 random declarations
# shaped like the rule cases make 1,363 projections; the bench mix makes 48.)
FIRINGS: LRU[tuple[str, ...]] = LRU(maxsize=8_192)


def _no_action(c: Any) -> None:
    """The guard rule's action: the guard decides nothing."""


class Ruleset:
    """One pack version as durable-rules holds it, and what the engine needs to read its
    firings: the rules by key, their order in the pack, and the fact names read by the
    rules of each (stage, measure)."""

    def __init__(self, pack: Pack, session: Session) -> None:
        self.name = f"{pack.id}@{pack.version}@{pack.sha256[:16]}"
        self.sha256 = pack.sha256
        self.index = {
            rule.id: (measure, rule) for measure in pack.measures for rule in measure.rules
        }
        self.order = {key: position for position, key in enumerate(self.index)}
        specs: dict[str, tuple[str, str, Mapping[str, Any]]] = {
            rule.id: (rule.stage, measure.id, rule.when) for measure, rule in self.index.values()
        }
        self.body = compile_ruleset(specs, session.recorder, pack.body.parameters, DATE_FACT)
        # the guard's own rule, matched by the guard fact alone (no pack rule has its stage)
        self.body[_GUARD_RULE] = {"all": [{"m": {"stage": _GUARD_STAGE}}], "run": _no_action}
        groups: dict[tuple[str, str], set[str]] = {}
        for key, (stage, measure_id, _) in specs.items():
            compiled = self.body[key]
            if compiled["all"][0]["m"]["$and"][:2] != [{"stage": stage}, {"measure": measure_id}]:
                # the projection rests on every rule matching its stage and measure first
                raise EngineError(f"rule {key} of {pack.id} does not match its stage and measure")
            groups.setdefault((stage, measure_id), set()).update(reads(compiled))
        self.reads = {group: tuple(sorted(names)) for group, names in groups.items()}


class Session:
    """The process's durable-rules host, its compiled packs and the firing log."""

    def __init__(self) -> None:
        from durable import engine as durable_engine  # imported late: a C extension

        self.pid = os.getpid()
        self.host = durable_engine.Host()
        self.not_handled = durable_engine.MessageNotHandledException
        self.lock = threading.Lock()
        self.rulesets: dict[str, Ruleset] = {}
        self.log: list[tuple[str, int]] = []

    def ruleset(self, pack: Pack) -> Ruleset:
        ruleset = self.rulesets.get(pack.sha256)
        if ruleset is None:
            ruleset = Ruleset(pack, self)
            self.host.set_rulesets(copy.deepcopy({ruleset.name: ruleset.body}))
            self.rulesets[pack.sha256] = ruleset
        return ruleset

    def recorder(self, key: str) -> Any:
        log = self.log

        def record(c: Any) -> None:
            log.append((key, c.m["line"]))

        return record

    def assert_facts(
        self, pack: Pack, ruleset: Ruleset, facts: Iterable[Mapping[str, Any]]
    ) -> None:
        """Assert the facts in a fresh session (under the lock), firings to `self.log`.

        durable-rules 2.0.28 crashes the process in `delete_state` for a session in which
        no fact matched a rule (tests/rules/test_oracle.py reproduces it), and a fact
        decided alone on a cache miss often matches none: the session's first fact is a
        guard that its own rule always matches, and that no pack rule can."""
        try:
            state = self.host.assert_fact(ruleset.name, {"sid": _SID, "stage": _GUARD_STAGE})
            if isinstance(state, dict) and "exception" in state:
                raise EngineError(f"the session guard failed in {pack.id}: {state['exception']}")
            for fact in facts:
                # One fact at a time: a batch in which one fact matches no rule is
                # refused whole, and a fact that matches none is no error here.
                try:
                    state = self.host.assert_fact(ruleset.name, {**fact, "sid": _SID})
                except self.not_handled:
                    continue
                except Exception as exc:  # the C core reports errors as bare exceptions
                    raise EngineError(f"durable-rules refused a fact of {pack.id}: {exc}") from exc
                if isinstance(state, dict) and "exception" in state:
                    raise EngineError(f"a rule action failed in {pack.id}: {state['exception']}")
        finally:
            self.host.delete_state(ruleset.name, _SID)

    @staticmethod
    def _ordered(
        ruleset: Ruleset, fired: Iterable[tuple[str, int]]
    ) -> list[tuple[Measure, Rule, int]]:
        # A rule fires once per satisfied branch of an `any`; it decides once per line.
        # durable-rules fires in no order a reader would expect: sort by line, then by
        # the rule's place in the pack.
        order = ruleset.order
        unique = sorted(dict.fromkeys(fired), key=lambda item: (item[1], order[item[0]]))
        return [(*ruleset.index[key], line) for key, line in unique]

    def fire(
        self, pack: Pack, facts: Sequence[Mapping[str, Any]]
    ) -> list[tuple[Measure, Rule, int]]:
        """Assert the facts in a fresh session; return (measure, rule, line) in firing order."""
        if not facts:
            return []
        with self.lock:
            ruleset = self.ruleset(pack)
            self.log.clear()
            try:
                self.assert_facts(pack, ruleset, facts)
                fired = list(self.log)
            finally:
                self.log.clear()
        return self._ordered(ruleset, fired)

    def matched(
        self, pack: Pack, facts: Sequence[Mapping[str, Any]], cache: LRU[tuple[str, ...]]
    ) -> list[tuple[Measure, Rule, int]]:
        """`fire`, with each fact decided by its projection: from the cache when that
        projection was matched before, else by asserting the fact itself, alone."""
        if not facts:
            return []
        if not cache.enabled:
            return self.fire(pack, facts)
        fired: list[tuple[str, int]] = []
        with self.lock:
            ruleset = self.ruleset(pack)
            for fact in facts:
                names = ruleset.reads.get((fact.get("stage", ""), fact.get("measure", "")))
                if names is None:
                    continue  # no rule of the pack has this stage and measure
                values = tuple([fact.get(name, _ABSENT) for name in names])
                # types too: True == 1 for a dict, not for durable-rules
                key: Hashable | None = (ruleset.sha256, values, tuple(map(type, values)))
                try:
                    keys = cache.get(key)
                except TypeError:  # a value that is no JSON scalar: decide it uncached
                    key, keys = None, None
                if keys is None:
                    self.log.clear()
                    try:
                        self.assert_facts(pack, ruleset, (fact,))
                        keys = tuple(dict.fromkeys(rule for rule, _ in self.log))
                    finally:
                        self.log.clear()
                    if key is not None:
                        cache.put(key, keys)
                if keys:
                    line = fact["line"]
                    fired.extend((rule, line) for rule in keys)
        return self._ordered(ruleset, fired)


_session: Session | None = None


_session_lock = threading.Lock()


def current_session() -> Session:
    """The process's session, created on first use so that a forked child gets its own
    (and only one, however many threads ask first)."""
    global _session
    session = _session
    if session is not None:
        return session  # the common case: no lock, no system call
    with _session_lock:
        if _session is None or _session.pid != os.getpid():
            _session = Session()
        return _session


def _forget_session() -> None:
    """In a forked child: the parent's Host lost its threads, so the child makes its own;
    a lock some other thread of the parent held at the fork would never be released."""
    global _session, _session_lock
    _session = None
    _session_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_session)


def fire(pack: Pack, facts: Sequence[Mapping[str, Any]]) -> list[tuple[Measure, Rule, int]]:
    """The rules of `pack` that the facts satisfy, as (measure, rule, line) in firing order,
    from durable-rules itself, every fact asserted: for the tests and tools that check
    the matching. Evaluation goes through `matched`, which gives the same answer."""
    return current_session().fire(pack, facts)


def matched(pack: Pack, facts: Sequence[Mapping[str, Any]]) -> list[tuple[Measure, Rule, int]]:
    """`fire`, each distinct projection of a fact matched by durable-rules once per pack
    version and remembered in `FIRINGS`: the path evaluation takes."""
    return current_session().matched(pack, facts, FIRINGS)
