"""Evaluation of one declaration against the rule packs, as of its `accepted_at`.

    evaluate(declaration, packs, permits)  -> Evaluation   steps 2-4 of SPEC §4
    finalize(evaluation, allocation)       -> Verdict      steps 6-7
    measure_checks(pack, measure, as_of, packs) -> findings the WTO / NOTIF / LINK checks

A declaration is held to the packs of its own jurisdiction; the linkage checks look at
every pack, since a measure's counterparts are the other party's.

The engine states facts (one per line and measure in force, one per measure for
its arrangement checks, one per line and quota after allocation), asserts them into
the pack's durable-rules ruleset and records which rules fired. Facts, not events:
an event is consumed by the first rule it matches, a fact is seen by every rule.

durable-rules' traps shape this module (see docs/engine.md): one Host per process,
created lazily so that it is created after a fork; one session at a time under a
lock, always the same sid, deleted in `finally` (session ids are compared by a
32-bit hash and at most 1024 may live); facts asserted one at a time, since a batch
in which some fact matches no rule is refused whole; action exceptions land in the
session state, which is checked after every call.

Evaluation matches through `matched`, which asks durable-rules once per distinct
projection of a fact onto the names its rules read and remembers the firing (`FIRINGS`);
`fire` asserts every fact, for the tools that check durable-rules' matching. Findings,
the measures in force for a line and the measure checks are memoised too; all memos are
bounded and pure, and `uncached()` turns them off (docs/engine.md, docs/performance.md).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import os
import string
import threading
import types
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Generic, Literal, TypeVar

from rules.compiler import compile_ruleset, day_number, reads
from rules.errors import EngineError
from rules.facts import (
    DATE_FACT,
    AllocationFacts,
    LineFacts,
    MeasureFacts,
    StatedFacts,
    resting_on,
)
from rules.facts import reads as rule_reads
from rules.pack import CUMULATIVE_BASES, DutyEffect, Effective, Measure, Pack, Rule, percent
from rules.quota import period_of, quota_year_of, terms_of, terms_on
from schemas.declaration import (
    CONVERTS_CURRENCIES,
    JURISDICTION_CURRENCY,
    Declaration,
    DeclarationLine,
)
from schemas.permit import Permit
from schemas.quota import Allocation, LineAllocation, QuotaRequest
from schemas.rates import RateQuote
from schemas.verdict import (
    Duty,
    ExchangeRate,
    Finding,
    LineQuota,
    LineVerdict,
    NotAssessed,
    Outcome,
    RulePackRef,
    Treatment,
    Verdict,
)

CENT = Decimal("0.01")
EXCHANGE_FACTS = frozenset(
    {"exchange_rate", "exchange_rate_value", "exchange_rate_date", "exchange_rate_basis"}
)
_SID = "0"
V = TypeVar("V")


def basis_points(rate: Decimal) -> int:
    return int((rate * 10000).to_integral_value(rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class Fired:
    """One rule decision: the rule, where it fired and the facts it saw."""

    pack: Pack
    measure: Measure
    rule: Rule
    line: int | None
    facts: Mapping[str, Any]
    as_of: date

    @functools.cached_property
    def assumptions(self) -> tuple[str, ...]:
        """The assumptions this decision rests on, as of its date."""
        found = resting_on(self.pack.body.parameters, self.measure, self.rule, self.as_of)
        basis = self.facts.get("exchange_rate_basis")
        if basis is None or not rule_reads(self.rule)[0] & EXCHANGE_FACTS:
            return found
        # a finding on a conversion rests on the pack's rule for which quote prevails
        extra = conversion_assumptions(self.pack, basis)
        return (*found, *(item for item in extra if item not in found))

    @functools.cached_property
    def finding(self) -> Finding:
        """The finding this decision gives: a pure function of the rule, the line, the
        date and the facts its templates name, so kept in `FINDINGS` by those (findings
        are frozen and shared; measure checks, between verdicts, were already)."""
        names = _placeholders(self.rule.message, self.rule.reference)
        values = tuple([self.facts.get(name, _ABSENT) for name in names])
        # with the values' types, as FIRINGS: True and 1 are equal keys but read apart
        # the conversion's basis decides assumptions even where no template names it
        key = (
            self.pack.sha256, self.measure.id, self.rule.id, self.line, self.as_of,
            values, tuple(map(type, values)), self.facts.get("exchange_rate_basis"),
        )  # fmt: skip
        try:
            found = FINDINGS.get(key)
        except TypeError:  # a fact that is no JSON scalar: built, not kept
            return self._build_finding()
        if found is None:
            found = self._build_finding()
            FINDINGS.put(key, found)
        return found

    def _build_finding(self) -> Finding:
        return Finding(
            rule=self.rule.id,
            severity=self.rule.severity,
            line=self.line,
            message=self.rule.message.format_map(_Blank(self.facts)),
            reference=self.rule.reference.format_map(_Blank(self.facts)),
            measure=self.measure.id,
            pack=self.pack.id,
            pack_version=self.pack.version,
            assumptions=self.assumptions,
        )


@functools.lru_cache(maxsize=1024)
def _placeholders(*templates: str) -> tuple[str, ...]:
    """The fact names message templates read, in order, each once."""
    return tuple(
        dict.fromkeys(
            field
            for template in templates
            for _, field, _, _ in string.Formatter().parse(template)
            if field
        )
    )


class _Blank(dict[str, Any]):
    """Message templates name facts; a fact that is absent reads as a dash."""

    def __missing__(self, key: str) -> str:
        return "-"


@dataclass(frozen=True)
class Applied:
    """A measure in force for a line, and the pack it comes from."""

    pack: Pack
    measure: Measure


@dataclass(frozen=True)
class Conversion:
    """The declaration's values in the jurisdiction's currency, or why they are not."""

    status: str  # not_needed | found | missing
    valued: Declaration  # the declaration with its values converted (as given if not found)
    rate: ExchangeRate | None = None
    day: date | None = None  # the conversion date
    query: RateQuery | None = None  # the quotes that could prevail (packs with loaded rates)

    @property
    def declaration_currency(self) -> str:
        return self.rate.currency if self.rate is not None else self.valued.currency


@dataclass(frozen=True)
class RateQuery:
    """The loaded quotes a declaration's conversion may use: those of `currency` into
    `into` quoted from `first` to `last`; the latest of them prevails on `day`."""

    into: str
    currency: str
    day: date
    basis: Literal["shipment_date", "accepted_at"]
    first: date
    last: date

    def prevailing(self, quotes: Iterable[RateQuote]) -> RateQuote | None:
        """The quote that prevails: the latest one of the window, or None."""
        inside = [
            quote
            for quote in quotes
            if quote.into == self.into
            and quote.currency == self.currency
            and self.first <= quote.on <= self.last
        ]
        return max(inside, key=lambda quote: quote.on) if inside else None


def _conversion_pack(packs: Iterable[Pack], jurisdiction: str) -> Pack | None:
    """The pack of the jurisdiction that says how its values are converted from loaded
    rates (the current one, when handed the current packs)."""
    home = JURISDICTION_CURRENCY[jurisdiction]
    for pack in packs:
        conversion = pack.body.currency_conversion
        if pack.body.jurisdiction == jurisdiction and conversion and conversion.into == home:
            return pack
    return None


def _days_before(day: date, days: int) -> date:
    return day - timedelta(days=days) if day.toordinal() > days else date.min


def rate_query(declaration: Declaration, packs: Sequence[Pack]) -> RateQuery | None:
    """Which loaded quotes a declaration's conversion needs, under the packs' rule
    (`currency_conversion`); None when its values are in the jurisdiction's currency or
    no pack converts from loaded rates. The worker reads these from the store and hands
    them to `evaluate`; `GET /v1/exchange-rates` answers with the same rule."""
    home = JURISDICTION_CURRENCY[declaration.jurisdiction]
    if declaration.currency == home:
        return None
    pack = _conversion_pack(packs, declaration.jurisdiction)
    if pack is None or pack.body.currency_conversion is None:
        return None
    by_shipment = pack.body.currency_conversion.conversion_date == "shipment_date"
    shipped = declaration.shipment_date if by_shipment else None
    basis: Literal["shipment_date", "accepted_at"] = (
        "shipment_date" if shipped is not None else "accepted_at"
    )
    day = shipped or declaration.accepted_on
    return conversion_window(pack, declaration.currency, day, basis)


def conversion_window(
    pack: Pack, currency: str, day: date, basis: Literal["shipment_date", "accepted_at"]
) -> RateQuery:
    """The window of quotes that may prevail on `day` under the pack's conversion rule."""
    conversion = pack.body.currency_conversion
    assert conversion is not None
    if conversion.rates == "monthly":
        first, last = day.replace(day=1), day
    else:
        last = day if conversion.prevailing == "quoted_on_or_before" else _days_before(day, 1)
        first = _days_before(last, conversion.max_days_back)
    return RateQuery(conversion.into, currency, day, basis, first, last)


def conversion_rule(pack: Pack) -> str:
    """Which quote prevails on a date under the pack's rule, in words, as
    `conversion_window` applies it."""
    conversion = pack.body.currency_conversion
    assert conversion is not None
    if conversion.rates == "monthly":
        return "the rate of the month"
    return f"{conversion.prevailing}, at most {conversion.max_days_back} days back"


def rate_query_on(
    packs: Sequence[Pack], into: str, currency: str, day: date
) -> tuple[Pack, RateQuery] | None:
    """The window of quotes that may prevail on `day` for values in `currency` converted
    into `into`, under the rule of the pack that converts into it (None without one)."""
    for jurisdiction, home in JURISDICTION_CURRENCY.items():
        pack = _conversion_pack(packs, jurisdiction) if home == into else None
        if pack is not None and pack.body.currency_conversion is not None:
            dated_by = pack.body.currency_conversion.conversion_date
            return pack, conversion_window(pack, currency, day, dated_by)
    return None


def conversion_problems(packs: Sequence[Pack]) -> list[str]:
    """What is wrong with the currency conversion the current packs configure, in words,
    for the startup checks of `accord check` and `accord run` (empty when sound): every
    jurisdiction whose declarations may be in another currency has exactly one pack that
    converts into its currency, and a pack version with its own rate table is not current."""
    problems = []
    for jurisdiction in sorted(CONVERTS_CURRENCIES):
        home = JURISDICTION_CURRENCY[jurisdiction]
        converting = [
            pack.id
            for pack in packs
            if pack.body.jurisdiction == jurisdiction
            and pack.body.currency_conversion is not None
            and pack.body.currency_conversion.into == home
        ]
        if len(converting) != 1:
            problems.append(
                f"{jurisdiction}: {len(converting)} packs convert values into {home} "
                f"({', '.join(converting) or 'none'}); exactly one must"
            )
    for pack in packs:
        if pack.body.exchange_rates is not None:
            problems.append(
                f"{pack.id} {pack.version} carries its own exchange-rate table: rates are "
                "loaded data (POST /v1/exchange-rates), a table only replays old verdicts"
            )
    return problems


def conversion_assumptions(pack: Pack, basis: str) -> tuple[str, ...]:
    """The assumptions a conversion under the pack's rule rests on."""
    conversion = pack.body.currency_conversion
    if conversion is None:
        return ()
    found = [conversion.assumption]
    if basis == "accepted_at":  # the fallback, or the pack's own conversion date
        found.append(conversion.date_assumption)
    return tuple(item for item in found if item is not None)


def _converted(declaration: Declaration, rate: Decimal, home: str) -> Declaration:
    def money(value: Decimal | None) -> Decimal | None:
        return None if value is None else (value * rate).quantize(CENT, ROUND_HALF_UP)

    lines = tuple(
        line.model_copy(
            update={
                "value_for_duty": money(line.value_for_duty),
                "fob_unit_price": money(line.fob_unit_price),
            }
        )
        for line in declaration.lines
    )
    return declaration.model_copy(update={"lines": lines, "currency": home})


def convert(
    declaration: Declaration, packs: Sequence[Pack], rates: Sequence[RateQuote] = ()
) -> Conversion:
    """The values of the declaration in its jurisdiction's currency. With a pack that
    converts from loaded rates, at the quote of `rates` that prevails on the conversion
    date (`rate_query`); with an older pack version, at its own table's rate of the
    conversion date. A missing rate is never guessed: the status says so."""
    jurisdiction = declaration.jurisdiction
    home = JURISDICTION_CURRENCY[jurisdiction]
    if declaration.currency == home:
        return Conversion("not_needed", declaration)
    query = rate_query(declaration, packs)
    pack = _conversion_pack(packs, jurisdiction)
    if query is not None and pack is not None and pack.body.currency_conversion is not None:
        quote = query.prevailing(rates)
        if quote is None:
            return Conversion("missing", declaration, None, query.day, query)
        law = pack.body.sources[pack.body.currency_conversion.source]
        return Conversion(
            "found",
            _converted(declaration, quote.rate, home),
            ExchangeRate(
                currency=declaration.currency,
                into=home,
                rate=quote.rate,
                on=quote.on,
                basis=query.basis,
                reference=f"{law.title} ({pack.id} {pack.version})",
                conversion_date=query.day,
                source=quote.source,
                assumptions=conversion_assumptions(pack, query.basis),
            ),
            query.day,
            query,
        )
    basis: Literal["shipment_date", "accepted_at"] = (
        "shipment_date" if declaration.shipment_date is not None else "accepted_at"
    )
    day = declaration.shipment_date or declaration.accepted_on
    for pack in packs:
        table = pack.body.exchange_rates
        if table is None or table.into != home or pack.body.jurisdiction != jurisdiction:
            continue
        rate = table.rate_on(declaration.currency, day)
        if rate is None:
            continue
        source = pack.body.sources[table.source]
        return Conversion(
            "found",
            _converted(declaration, rate, home),
            ExchangeRate(
                currency=declaration.currency,
                into=home,
                rate=rate,
                on=day,
                basis=basis,
                reference=f"{source.title} ({pack.id} {pack.version})",
            ),
            day,
        )
    return Conversion("missing", declaration, None, day)


@dataclass(frozen=True)
class Evaluation:
    """Everything `finalize` needs, and everything an auditor may ask about."""

    declaration: Declaration
    as_of: date
    applied: Mapping[int, tuple[Applied, ...]]
    fired: tuple[Fired, ...]
    measure_findings: tuple[Fired, ...]
    requests: tuple[QuotaRequest, ...]
    permits: Mapping[str, Permit] = dataclasses.field(default_factory=dict)
    conversion: Conversion | None = None
    rates: tuple[RateQuote, ...] = ()  # the loaded quotes the evaluation was handed

    @property
    def valued(self) -> Declaration:
        """The declaration with its values in the jurisdiction's currency."""
        return self.conversion.valued if self.conversion is not None else self.declaration

    @functools.cached_property
    def packs(self) -> tuple[Pack, ...]:
        seen: dict[str, Pack] = {}
        for applied in self.applied.values():
            for item in applied:
                seen[item.pack.sha256] = item.pack
        return tuple(sorted(seen.values(), key=lambda pack: pack.id))

    @functools.cached_property
    def blocked(self) -> str | None:
        """'reject' or 'hold' when the rules stop the declaration before allocation."""
        outcomes = {item.rule.outcome for item in (*self.fired, *self.measure_findings)}
        return "reject" if "reject" in outcomes else "hold" if "hold" in outcomes else None


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


# The rules each projected fact fires, per pack version. durable-rules decides a fact on
# the names its rules read, and every compiled rule also matches its stage and measure
# (rules/compiler.py), so what a fact fires is a pure function of (pack, the fact
# projected onto the names read by the rules of its stage and measure). Declarations
# repeat those few values endlessly: each distinct projection is matched by durable-rules
# once and remembered. A projection holds a handful of values (docs/performance.md): an
# entry is about 600 bytes, so full this holds about 5 MB. (5,000 random declarations
# shaped like the rule cases make 1,363 projections; the bench mix makes 48.)
FIRINGS: LRU[tuple[str, ...]] = LRU(maxsize=8_192)
# Findings, by rule, line, date and the facts their templates name (see `Fired.finding`).
# A finding with its message and reference is about 1.6 KB: full, this holds about 7 MB
# (measured over 20,000 declarations of the bench mix; docs/performance.md).
FINDINGS: LRU[Finding] = LRU(maxsize=4_096)
# The measures in force for a line, by the packs, the line's scope inputs and the date.
IN_FORCE: LRU[tuple[tuple[Pack, ...], tuple[Applied, ...]]] = LRU(maxsize=4_096)
# A measure's checks on a day, by the packs its counterparts are looked up in.
CHECKS: LRU[tuple[tuple[Pack, ...], tuple[Fired, ...]]] = LRU(maxsize=4_096)
# ... and by the states of the counterparts themselves, whichever packs hold them.
CHECK_FIRINGS: LRU[tuple[Fired, ...]] = LRU(maxsize=4_096)
# A measure's rates as messages show them, on a day.
RATE_TEXTS: LRU[tuple[Measure, dict[str, str]]] = LRU(maxsize=4_096)
MEMOS: tuple[LRU[Any], ...] = (FIRINGS, FINDINGS, IN_FORCE, CHECKS, CHECK_FIRINGS, RATE_TEXTS)


@contextlib.contextmanager
def uncached() -> Iterator[None]:
    """Evaluate with every engine memo off: every fact asserted into durable-rules, every
    finding and measure list built afresh (the tests compare the two paths)."""
    before = [memo.enabled for memo in MEMOS]
    for memo in MEMOS:
        memo.enabled = False
    try:
        yield
    finally:
        for memo, enabled in zip(MEMOS, before, strict=True):
            memo.enabled = enabled


_ABSENT = object()  # a name the fact does not state (distinct from any JSON value)
# A stage no pack can name (stages are line, measure and allocation), for the guard fact.
_GUARD_STAGE = "session_guard"
_GUARD_RULE = "accord-session-guard"


def _no_action(c: Any) -> None:
    """The guard rule's action: the guard decides nothing."""


class _Ruleset:
    """One pack version as durable-rules holds it, and what the engine needs to read its
    firings: the rules by key, their order in the pack, and the fact names read by the
    rules of each (stage, measure)."""

    def __init__(self, pack: Pack, session: _Session) -> None:
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


class _Session:
    """The process's durable-rules host, its compiled packs and the firing log."""

    def __init__(self) -> None:
        from durable import engine as durable_engine  # imported late: a C extension

        self.pid = os.getpid()
        self.host = durable_engine.Host()
        self.not_handled = durable_engine.MessageNotHandledException
        self.lock = threading.Lock()
        self.rulesets: dict[str, _Ruleset] = {}
        self.log: list[tuple[str, int]] = []

    def ruleset(self, pack: Pack) -> _Ruleset:
        ruleset = self.rulesets.get(pack.sha256)
        if ruleset is None:
            ruleset = _Ruleset(pack, self)
            self.host.set_rulesets(copy.deepcopy({ruleset.name: ruleset.body}))
            self.rulesets[pack.sha256] = ruleset
        return ruleset

    def recorder(self, key: str) -> Any:
        log = self.log

        def record(c: Any) -> None:
            log.append((key, c.m["line"]))

        return record

    def _assert(self, pack: Pack, ruleset: _Ruleset, facts: Iterable[Mapping[str, Any]]) -> None:
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
        ruleset: _Ruleset, fired: Iterable[tuple[str, int]]
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
                self._assert(pack, ruleset, facts)
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
                        self._assert(pack, ruleset, (fact,))
                        keys = tuple(dict.fromkeys(rule for rule, _ in self.log))
                    finally:
                        self.log.clear()
                    if key is not None:
                        cache.put(key, keys)
                if keys:
                    line = fact["line"]
                    fired.extend((rule, line) for rule in keys)
        return self._ordered(ruleset, fired)


_session: _Session | None = None


_session_lock = threading.Lock()


def _current_session() -> _Session:
    """The process's session, created on first use so that a forked child gets its own
    (and only one, however many threads ask first)."""
    global _session
    session = _session
    if session is not None:
        return session  # the common case: no lock, no system call
    with _session_lock:
        if _session is None or _session.pid != os.getpid():
            _session = _Session()
        return _session


def _forget_session() -> None:
    """In a forked child: the parent's Host lost its threads, so the child makes its own;
    a lock some other thread of the parent held at the fork would never be released."""
    global _session, _session_lock
    _session = None
    _session_lock = threading.Lock()
    for memo in MEMOS:
        memo.forked()


os.register_at_fork(after_in_child=_forget_session)


def fire(pack: Pack, facts: Sequence[Mapping[str, Any]]) -> list[tuple[Measure, Rule, int]]:
    """The rules of `pack` that the facts satisfy, as (measure, rule, line) in firing order,
    from durable-rules itself, every fact asserted: for the tests and tools that check
    the matching. Evaluation goes through `matched`, which gives the same answer."""
    return _current_session().fire(pack, facts)


def matched(pack: Pack, facts: Sequence[Mapping[str, Any]]) -> list[tuple[Measure, Rule, int]]:
    """`fire`, each distinct projection of a fact matched by durable-rules once per pack
    version and remembered in `FIRINGS`: the path evaluation takes."""
    return _current_session().matched(pack, facts, FIRINGS)


# --- facts -------------------------------------------------------------------------------

_NOTHING_DERIVED: Mapping[str, Any] = types.MappingProxyType({})


@functools.cache
def _fields(model: type[StatedFacts]) -> tuple[str, ...]:
    return tuple(model.model_fields)


def stated(
    model: type[StatedFacts], data: Mapping[str, Any], derived: Mapping[str, Any] = _NOTHING_DERIVED
) -> dict[str, Any]:
    """`model.model_validate(data).stated(derived)`, without the round trip through
    pydantic (a fifth of an evaluation) for facts the engine builds itself from a
    validated declaration: the model's fields in its order, absent ones left out, dates
    as day numbers (the one serialiser the stage models declare). The tests hold the two
    equal over random declarations (tests/rules/test_engine_facts.py)."""
    facts: dict[str, Any] = {"stage": model.STAGE}
    for name in _fields(model):
        value = data.get(name)
        if value is not None:
            facts[name] = day_number(value) if isinstance(value, date) else value
    facts.update(derived)
    return facts


def _permit_status(
    line: DeclarationLine,
    measure: Measure,
    declaration: Declaration,
    permits: Mapping[str, Permit],
    asked: Mapping[str, Decimal],
    converted: bool = True,
) -> str:
    """What the line's permit allows. `permits` holds the importer's own permits only: a
    number held by another importer reads as unregistered, so that nothing about it
    reaches this importer's verdict or trail."""
    if line.permit_number is None:
        return "none"
    permit = permits.get(line.permit_number)
    if permit is None or permit.business_number != declaration.importer.business_number:
        return "unregistered"
    if permit.measure != measure.id:
        return "other_measure"
    if permit.status != "issued":
        return {"pending_allocation": "pending"}.get(permit.status, permit.status)
    if declaration.accepted_on < permit.issued_on:
        return "not_yet_valid"
    if declaration.accepted_on > permit.expires_on:
        return "expired"
    if permit.remaining < asked[line.permit_number]:
        return "insufficient"
    if permit.sub_quota is not None and measure.quota is not None:
        # a permit for a sub-quota serves only the goods the sub-quota is for, whether or
        # not it holds reserved units (in a year whose reserve is 0%, none): its limit is
        # the permit's condition, not the reserve's. `line` holds its values in CAD, unless
        # no rate prevailed (`converted` false): then the limit is not compared at all.
        sub = next(
            (each for each in measure.quota.sub_quotas if each.name == permit.sub_quota), None
        )
        price = line.fob_unit_price
        if sub is not None and price is not None and not converted:
            return "fob_not_converted"
        if sub is not None and (price is None or price > sub.max_fob_unit_price):
            return "over_fob_limit"
    return "valid"


_EXCISE_LICENCE: dict[bool | None, str] = {
    True: "licensed",
    False: "not_licensed",
    None: "not_declared",
}


def _fob_value_gap_bp(line: DeclarationLine) -> int | None:
    """|FOB unit price x quantity - value for duty| in basis points of the value for duty."""
    if line.fob_unit_price is None:
        return None
    gap = abs(line.fob_unit_price * line.quantity - line.value_for_duty)
    return int((gap * 10000 / line.value_for_duty).to_integral_value(rounding=ROUND_HALF_UP))


def _rate_texts(measure: Measure, as_of: date) -> dict[str, Any]:
    """`rate_<name>` of each of the measure's rates on the day, as messages show them."""
    key = (id(measure), as_of)  # the entry holds the measure, so its id stays its own
    found = RATE_TEXTS.get(key)
    if found is None:
        texts = {f"rate_{name}": measure.rate_text(name, as_of) for name in measure.rates}
        found = (measure, texts)
        RATE_TEXTS.put(key, found)
    return dict(found[1])


def line_facts(
    declaration: Declaration,
    line: DeclarationLine,
    measure: Measure,
    permits: Mapping[str, Permit],
    asked: Mapping[str, Decimal],
    conversion: Conversion | None = None,
) -> dict[str, Any]:
    """What the line rules of a measure may test, stated as plain JSON values. `line` is
    the line with its values in the jurisdiction's currency (see `convert`)."""
    as_of = declaration.accepted_on
    derived: dict[str, Any] = _rate_texts(measure, as_of)
    permit: str | None = None
    permit_number: str | None = None
    period: str | None = None
    over_quota: str | None = None
    quota = measure.quota
    # without a prevailing rate the line's values are still in the declaration's currency:
    # never compared with a limit in the jurisdiction's
    converted = conversion is None or conversion.status != "missing"
    if quota is not None:
        if quota.permits is not None:
            if declaration.import_type in quota.permits.required_for:
                permit = _permit_status(line, measure, declaration, permits, asked, converted)
            else:
                permit = "not_required"
            permit_number = line.permit_number
        for sub in quota.sub_quotas:
            price = line.fob_unit_price
            derived[sub.name] = converted and price is not None and price <= sub.max_fob_unit_price
        open_period = period_of(measure, as_of)
        period = f"{open_period.start}/{open_period.end}"
        over_quota = "reject" if quota.over_quota == "reject" else "rate"
    claim = line.remission_claim
    claimed = " ".join(claim.upper().split()) if claim is not None else None
    remission: str | None = None
    remission_item: str | None = None
    if measure.remission is not None:
        remission, remission_item = measure.remission.status(
            claimed,
            measure.goods_item(line.tariff_item, line.underlying_tariff_item),
            as_of,
            declaration.importer.business_number,
        )
    exchange = conversion.status if conversion is not None else "not_needed"
    rate = conversion.rate if conversion is not None else None
    return stated(
        LineFacts,
        {
            "measure": measure.id,
            "line": line.line,
            "origin": line.origin,
            "tariff_item": line.tariff_item,
            "tariff_chapter": line.tariff_item[:2],
            "tariff_heading": line.tariff_item[:4],
            "underlying_tariff_item": line.underlying_tariff_item,
            "import_type": declaration.import_type,
            "unit": line.unit,
            "quantity": str(line.quantity),
            "accepted_on": as_of,
            "vins_given": bool(line.vins),
            "shipment_date": declaration.shipment_date,
            "remission_claim": claimed,
            "tariff_treatment": line.tariff_treatment or "02",
            "currency": conversion.declaration_currency if conversion else declaration.currency,
            "exchange_rate": exchange,
            "exchange_rate_value": format(rate.rate, "f") if rate is not None else None,
            "exchange_rate_on": (
                conversion.day.isoformat() if conversion and conversion.day else None
            ),
            **_conversion_facts(conversion),
            "excise_licence": _EXCISE_LICENCE[declaration.importer.excise_licensed],
            "fob_value_gap_bp": _fob_value_gap_bp(line),
            "remission": remission,
            "remission_item": remission_item,
            "permit": permit,
            "permit_number": permit_number,
            "period": period,
            "over_quota": over_quota,
        },
        derived,
    )


def _conversion_facts(conversion: Conversion | None) -> dict[str, Any]:
    """The facts of a conversion from loaded rates: which date it is, the quote applied
    and the earliest day whose quote could have prevailed."""
    if conversion is None or conversion.query is None:
        return {}
    rate = conversion.rate
    return {
        "exchange_rate_basis": conversion.query.basis,
        "exchange_rate_date": rate.on.isoformat() if rate is not None else None,
        "exchange_rate_source": rate.source if rate is not None else None,
        "exchange_rate_from": conversion.query.first.isoformat(),
    }


def _months_between(earlier: date, later: date) -> int:
    """Whole calendar months from `earlier` to `later` (negative when later is earlier)."""
    months = (later.year - earlier.year) * 12 + later.month - earlier.month
    return months - 1 if later.day < earlier.day else months


@dataclass(frozen=True)
class Counterpart:
    """A counterpart measure as the linkage checks see it on a date."""

    id: str
    status: str  # not_yet | in_force | lapsed | unknown (in none of the packs looked at)
    last_day: date | None
    # whether the counterpart's end withdraws what it conceded (False for a ceiling, such
    # as an anti-dumping duty of at most 5.9%, which its expiry still honours)
    expiry_withdraws: bool = True


def status_on(ranges: Sequence[Effective], day: date) -> str:
    """A measure's state on a day, from the effective ranges of its definitions."""
    if not ranges:
        return "unknown"
    if any(effective.contains(day) for effective in ranges):
        return "in_force"
    if any(effective.start > day for effective in ranges):
        return "not_yet"
    return "lapsed"


def _last_day(ranges: Sequence[Effective]) -> date | None:
    ends = [effective.end for effective in ranges]
    return None if not ends or None in ends else max(end for end in ends if end is not None)


def counterparts_on(
    measure: Measure, as_of: date, packs: Iterable[Pack]
) -> tuple[Counterpart, ...]:
    """The state on `as_of` of each counterpart the measure's arrangement records."""
    if measure.arrangement is None or not measure.arrangement.counterparts:
        return ()
    ranges: dict[str, list[Effective]] = {}
    withdraws: dict[str, bool] = {}
    for pack in packs:
        for each in pack.measures:
            ranges.setdefault(each.id, []).append(each.effective)
            if each.arrangement is not None and not each.arrangement.expiry_withdraws_concession:
                withdraws[each.id] = False
    return tuple(
        Counterpart(
            name,
            status_on(ranges.get(name, []), as_of),
            _last_day(ranges.get(name, [])),
            withdraws.get(name, True),
        )
        for name in measure.arrangement.counterparts
    )


def _with_days(items: Sequence[Counterpart]) -> str | None:
    """Counterparts by id, each with its own last day: "A (to 2026-12-31), B (to ...)"."""
    named = [
        f"{item.id} (to {item.last_day.isoformat()})" if item.last_day else item.id
        for item in items
    ]
    return ", ".join(named) or None


def _linkage_facts(
    measure: Measure, as_of: date, counterparts: Sequence[Counterpart]
) -> dict[str, Any]:
    in_force = [item.id for item in counterparts if item.status == "in_force"]
    ended = [item for item in counterparts if item.status == "lapsed"]
    # a counterpart whose end withdraws its concession has lapsed; one whose concession is
    # a ceiling its expiry still honours has only expired (information)
    lapsed = [item for item in ended if item.expiry_withdraws]
    expired = [item for item in ended if not item.expiry_withdraws]
    unknown = [item.id for item in counterparts if item.status == "unknown"]
    last_days = [item.last_day for item in lapsed if item.last_day is not None]
    end = measure.effective.end
    return {
        "checked_on": as_of.isoformat(),
        "status": status_on([measure.effective], as_of),
        "last_day": end.isoformat() if end is not None else None,
        "counterparts_in_force": ", ".join(in_force) or None,
        "counterparts_in_force_count": len(in_force),
        "counterparts_lapsed": _with_days(lapsed),
        "counterparts_lapsed_count": len(lapsed),
        "counterparts_lapsed_on": max(last_days).isoformat() if last_days else None,
        "counterparts_expired": _with_days(expired),
        "counterparts_expired_count": len(expired),
        "counterparts_not_loaded": ", ".join(unknown) or None,
        "counterparts_not_loaded_count": len(unknown),
    }


def measure_facts(
    measure: Measure, as_of: date, counterparts: Sequence[Counterpart] = ()
) -> dict[str, Any]:
    """What the arrangement checks may test, as known on `as_of` (nothing later counts).
    The checks are made for any date: outside the measure's effective range its rates are
    those of its nearest day in force."""
    arrangement = measure.arrangement
    if arrangement is None:
        raise ValueError(f"measure {measure.id} records no arrangement")
    rate_day = max(as_of, measure.effective.start)
    if measure.effective.end is not None:
        rate_day = min(rate_day, measure.effective.end)
    rates = {
        name: measure.rate_on(name, rate_day)
        for name, spec in measure.rates.items()
        if not spec.specific
    }
    facts: dict[str, Any] = {
        "measure": measure.id,
        "line": 0,
        "as_of": as_of,
        "measure_kind": arrangement.measure_kind,
        "classification": arrangement.classification,
        "partner": arrangement.partner,
        "country_specific": arrangement.country_specific,
        "bilateral_cap": arrangement.bilateral_cap,
        "claimed_basis": arrangement.claimed_basis,
        "concession": arrangement.concession,
        "sum_rates_bp": sum(basis_points(rate) for rate in rates.values()),
        "sum_rates": percent(sum(rates.values(), Decimal(0))),
        "entry_into_force": measure.effective.start.isoformat(),
    }
    if arrangement.bound_rate is not None:
        facts["bound_rate_bp"] = basis_points(arrangement.bound_rate)
        facts["bound_rate"] = percent(arrangement.bound_rate)
    facts.update(_linkage_facts(measure, as_of, counterparts))
    derived: dict[str, Any] = {}
    for name, rate in rates.items():
        derived[f"rate_{name}_bp"] = basis_points(rate)
        derived[f"rate_{name}"] = percent(rate)
    if measure.quota is not None:
        facts["over_quota"] = "reject" if measure.quota.over_quota == "reject" else "rate"
    known = [note for note in arrangement.us_notifications if note.date <= as_of]
    before_entry = [note for note in known if note.date < measure.effective.start]
    facts["us_notified_before_entry"] = bool(before_entry)
    if before_entry:
        first = min(before_entry, key=lambda note: note.date)
        facts["us_first_notified_on"] = first.date.isoformat()
    intents = [note.date for note in known if note.kind == "intent_to_negotiate"]
    if intents and arrangement.negotiations_began_on is not None:
        facts["us_intent_months_before_negotiations"] = _months_between(
            min(intents), arrangement.negotiations_began_on
        )
    texts = [note.date for note in known if note.kind == "full_text"]
    if texts and arrangement.signed_on is not None:
        facts["us_full_text_days_before_signature"] = (arrangement.signed_on - min(texts)).days
    if arrangement.published_on is not None:
        facts["published_on"] = arrangement.published_on.isoformat()
        facts["publication"] = arrangement.publication or "the measure's publication"
        facts["publication_lead_days"] = (measure.effective.start - arrangement.published_on).days
        facts["days_since_publication"] = (as_of - arrangement.published_on).days
    notified = arrangement.wto_licensing_notified_on
    facts["wto_licensing_notified"] = notified is not None and notified <= as_of
    if notified is not None and notified <= as_of:
        # a notification made late stays on record as late
        facts["wto_licensing_notified_on"] = notified.isoformat()
        if arrangement.published_on is not None:
            facts["wto_licensing_notice_days"] = (notified - arrangement.published_on).days
    return MeasureFacts.model_validate(facts).stated(derived)


def allocation_facts(
    request: QuotaRequest, allocated: LineAllocation, as_of: date
) -> dict[str, Any]:
    period = next((p for p in request.quota.periods if p.key == allocated.period), None)
    return stated(
        AllocationFacts,
        {
            "measure": request.quota_id,
            "line": request.line,
            "allocation": allocated.status,
            "accepted_on": as_of,
            "quantity": request.quantity,
            "in_quota_quantity": allocated.in_quota,
            "over_quota_quantity": allocated.over_quota,
            "period": f"{period.key}/{period.end}" if period else allocated.period,
        },
    )


# --- evaluation --------------------------------------------------------------------------


def measures_in_force(
    packs: Iterable[Pack], line: DeclarationLine, import_type: str, as_of: date
) -> tuple[Applied, ...]:
    packs = tuple(packs)
    # keyed by the packs' identities; the entry holds the packs, so no other object can
    # take one of those ids while it is kept
    underlying = line.underlying_tariff_item
    key = (tuple(map(id, packs)), line.tariff_item, underlying, line.origin, import_type, as_of)
    found = IN_FORCE.get(key)
    if found is None:
        found = (
            packs,
            _measures_in_force(
                packs, line.tariff_item, line.origin, import_type, as_of, underlying
            ),
        )
        IN_FORCE.put(key, found)
    return found[1]


def _measures_in_force(
    packs: Iterable[Pack],
    tariff_item: str,
    origin: str,
    import_type: str,
    as_of: date,
    underlying: str | None = None,
) -> tuple[Applied, ...]:
    applied = tuple(
        Applied(pack, measure)
        for pack in packs
        for measure in pack.measures
        if measure.effective.contains(as_of)
        and measure.in_scope(tariff_item, origin, import_type, underlying)
    )
    # a measure in force for the line may suspend others of its pack for it
    suspended = {(item.pack.sha256, name) for item in applied for name in item.measure.suspends}
    return tuple(item for item in applied if (item.pack.sha256, item.measure.id) not in suspended)


def in_jurisdiction(packs: Iterable[Pack], jurisdiction: str) -> tuple[Pack, ...]:
    """The packs that apply to declarations made to one jurisdiction's customs."""
    return tuple(pack for pack in packs if pack.body.jurisdiction == jurisdiction)


def measure_checks(
    pack: Pack, measure: Measure, as_of: date, packs: Iterable[Pack] = ()
) -> tuple[Fired, ...]:
    """The arrangement checks of one measure as of any date; computed once per pack, day
    and state of the measure's counterparts, which are looked up in `packs`."""
    if measure.arrangement is None:
        return ()
    packs = tuple(packs)
    # finding the counterparts' states walks every measure of every pack: remembered by
    # the packs' identities (the entry holds the packs, so their ids stay theirs)
    by_packs = (pack.sha256, measure.id, as_of, tuple(map(id, packs)))
    known = CHECKS.get(by_packs)
    if known is not None:
        return known[1]
    counterparts = counterparts_on(measure, as_of, packs)
    key = (pack.sha256, measure.id, as_of, counterparts)
    cached = CHECK_FIRINGS.get(key)
    if cached is None:
        facts = measure_facts(measure, as_of, counterparts)
        cached = tuple(
            Fired(pack, fired_measure, rule, None, facts, as_of)
            for fired_measure, rule, _ in matched(pack, [facts])
            if rule.stage == "measure"
        )
        CHECK_FIRINGS.put(key, cached)
    CHECKS.put(by_packs, (packs, cached))
    return cached


def evaluate(
    declaration: Declaration,
    packs: Sequence[Pack],
    permits: Mapping[str, Permit],
    counterpart_packs: Sequence[Pack] = (),
    rates: Sequence[RateQuote] = (),
) -> Evaluation:
    """Steps 2-4: measures in force per line, line rules, measure checks, quota requests.
    The linkage checks look for counterparts in `packs` and `counterpart_packs` (a replay
    with a declaration's own packs passes the loaded ones there). `rates` are the loaded
    exchange-rate quotes of `rate_query`'s window (the trail keeps them, for replay)."""
    as_of = declaration.accepted_on
    own = in_jurisdiction(packs, declaration.jurisdiction)
    conversion = convert(declaration, own, rates)
    valued = {line.line: line for line in conversion.valued.lines}
    foreign = conversion.status != "not_needed"
    applied = {
        line.line: tuple(
            item
            for item in measures_in_force(own, line, declaration.import_type, as_of)
            if foreign or item.measure.scope.currency == "any"
        )
        for line in declaration.lines
    }
    asked: dict[str, Decimal] = {}
    for line in declaration.lines:
        if line.permit_number is not None:
            asked[line.permit_number] = asked.get(line.permit_number, Decimal(0)) + line.quantity
    facts_by_pack: dict[str, list[dict[str, Any]]] = {}
    pack_by_sha: dict[str, Pack] = {}
    all_facts: dict[tuple[int, str], dict[str, Any]] = {}
    for line in declaration.lines:
        for item in applied[line.line]:
            facts = line_facts(
                declaration, valued[line.line], item.measure, permits, asked, conversion
            )
            facts_by_pack.setdefault(item.pack.sha256, []).append(facts)
            pack_by_sha[item.pack.sha256] = item.pack
            all_facts[(line.line, item.measure.id)] = facts
    fired: list[Fired] = []
    for sha, facts_list in facts_by_pack.items():
        pack = pack_by_sha[sha]
        for measure, rule, line_number in matched(pack, facts_list):
            fired.append(
                Fired(pack, measure, rule, line_number, all_facts[(line_number, measure.id)], as_of)
            )
    checks: list[Fired] = []
    seen_measures: set[tuple[str, str]] = set()
    for items in applied.values():
        for item in items:
            if (item.pack.sha256, item.measure.id) not in seen_measures:
                seen_measures.add((item.pack.sha256, item.measure.id))
                checks.extend(
                    measure_checks(item.pack, item.measure, as_of, (*packs, *counterpart_packs))
                )
    evaluation = Evaluation(
        declaration=declaration,
        as_of=as_of,
        applied=applied,
        fired=tuple(fired),
        measure_findings=tuple(checks),
        requests=(),
        permits=permits,
        conversion=conversion,
        rates=tuple(rates),
    )
    if evaluation.blocked is not None:
        return evaluation  # a rejected or held declaration asks nothing of any quota
    return dataclasses.replace(evaluation, requests=_quota_requests(evaluation))


def _quota_requests(evaluation: Evaluation) -> tuple[QuotaRequest, ...]:
    declaration = evaluation.declaration
    lines = {line.line: line for line in declaration.lines}
    requests = []
    for item in evaluation.fired:
        if not item.rule.then.claim_quota or item.line is None:
            continue
        quota = item.measure.quota
        if quota is None:
            raise EngineError(f"rule {item.rule.id} claims quota but {item.measure.id} has none")
        line = lines[item.line]
        if line.unit != quota.unit or line.quantity != line.quantity.to_integral_value():
            # a pack must refuse such lines itself (see ELIG-EVTRQ-UNIT): units are counted whole
            raise EngineError(
                f"line {line.line} claims {item.measure.id} in {line.quantity} {line.unit}; "
                f"the quota counts whole {quota.unit}"
            )
        affordable = [sub.name for sub in quota.sub_quotas if item.facts.get(sub.name)]
        permit = (
            evaluation.permits.get(line.permit_number)
            if quota.permits is not None and line.permit_number is not None
            else None
        )
        if quota.drawn_at == "permit" and permit is not None and permit.period is not None:
            # the permit's units were drawn from its own quota year
            year = quota_year_of(item.measure, date.fromisoformat(permit.period))
            terms = terms_of(item.measure, max(year, 1))
        else:
            terms = terms_on(item.measure, evaluation.as_of)
        requests.append(
            QuotaRequest(
                quota=terms,
                line=line.line,
                quantity=int(line.quantity),
                sub_quota=affordable[0] if affordable else None,
                over_quota="reject" if quota.over_quota == "reject" else "rate",
                permit_number=line.permit_number if quota.permits is not None else None,
                vins=tuple(line.vins or ()),
                account=(
                    declaration.importer.business_number
                    if quota.mode == "importer_allocation"
                    else None
                ),
            )
        )
    return tuple(requests)


# --- the verdict -------------------------------------------------------------------------


def _apportion(value: Decimal, part: Decimal, whole: Decimal) -> Decimal:
    return (value * part / whole).quantize(CENT, rounding=ROUND_HALF_UP)


def finalize(evaluation: Evaluation, allocation: Allocation) -> Verdict:
    """Steps 6-7: allocation rules, treatments, duties, outcome. Pure: replayable."""
    return finalize_with_decisions(evaluation, allocation)[0]


def finalize_with_decisions(
    evaluation: Evaluation, allocation: Allocation
) -> tuple[Verdict, tuple[Fired, ...]]:
    """`finalize`, and the rule decisions taken on the allocation, for the audit trail."""
    declaration = evaluation.declaration
    requests = {(request.line, request.quota_id): request for request in evaluation.requests}
    post: list[Fired] = []
    facts_by_pack: dict[str, list[dict[str, Any]]] = {}
    pack_of: dict[str, Pack] = {}
    alloc_facts: dict[tuple[int, str], dict[str, Any]] = {}
    for (line_number, quota_id), request in requests.items():
        allocated = allocation.for_line(line_number, quota_id)
        if allocated is None:
            raise EngineError(f"no allocation result for line {line_number} of {quota_id}")
        pack = next(
            item.pack for item in evaluation.applied[line_number] if item.measure.id == quota_id
        )
        facts = allocation_facts(request, allocated, evaluation.as_of)
        alloc_facts[(line_number, quota_id)] = facts
        facts_by_pack.setdefault(pack.sha256, []).append(facts)
        pack_of[pack.sha256] = pack
    for sha, facts_list in facts_by_pack.items():
        for measure, rule, line_number in matched(pack_of[sha], facts_list):
            post.append(
                Fired(
                    pack_of[sha],
                    measure,
                    rule,
                    line_number,
                    alloc_facts[(line_number, measure.id)],
                    evaluation.as_of,
                )
            )
    decisions = (*evaluation.fired, *post)
    outcomes = {item.rule.outcome for item in (*decisions, *evaluation.measure_findings)}
    outcome: Outcome = (
        "rejected" if "reject" in outcomes else "held" if "hold" in outcomes else "accepted"
    )
    if requests and not allocation.applied:
        # all lines or none (SPEC §4 step 5): a declaration whose requests the ledger did
        # not apply owes nothing and is not accepted, whatever rules its pack has
        outcome = "rejected"
    conversion = evaluation.conversion
    if (
        conversion is not None
        and conversion.status == "missing"
        and any(item.measure.rates for items in evaluation.applied.values() for item in items)
    ):
        # values without a rate are never charged at a guessed one (the packs' rule says
        # why); measures that charge nothing (an importation Accord does not assess) need
        # no converted value, and no rule of theirs would say why it was rejected
        outcome = "rejected"
    lines = tuple(
        _line_verdict(line, evaluation, decisions, allocation, outcome == "accepted")
        for line in evaluation.valued.lines
    )
    findings = tuple(item.finding for item in (*evaluation.measure_findings, *decisions))
    verdict = Verdict(
        outcome=outcome,
        as_of=declaration.accepted_at,
        rule_packs=tuple(_pack_ref(pack) for pack in evaluation.packs),
        lines=lines,
        total_duty=sum((line.total_duty for line in lines), Decimal("0.00")),
        findings=findings,
        exchange_rate=conversion.rate if conversion is not None else None,
        not_assessed=not_assessed(evaluation),
    )
    return verdict, tuple(post)


def not_assessed(evaluation: Evaluation) -> tuple[NotAssessed, ...]:
    """The charges the packs applied to the declaration list as not assessed, for the
    lines they may concern, each once, in pack order."""
    declaration = evaluation.declaration
    found: dict[tuple[str, str], NotAssessed] = {}
    for pack in evaluation.packs:
        for charge in pack.body.not_assessed:
            concerned = any(
                any(item.pack is pack for item in evaluation.applied[line.line])
                and charge.concerns(
                    line.tariff_item,
                    declaration.import_type,
                    evaluation.as_of,
                    line.underlying_tariff_item,
                )
                for line in declaration.lines
            )
            if concerned:
                found.setdefault(
                    (charge.tax, charge.reference),
                    NotAssessed(tax=charge.tax, reference=charge.reference, reason=charge.reason),
                )
    return tuple(found.values())


@functools.lru_cache(maxsize=256)
def _pack_ref(pack: Pack) -> RulePackRef:
    """The verdict's reference to a pack (frozen, so one per pack serves every verdict)."""
    return RulePackRef(id=pack.id, version=pack.version, sha256=pack.sha256)


_TREATMENT_OF: dict[str, Treatment] = {
    "allocated": "in_quota",
    "split": "split",
    "over_quota": "over_quota",
    "pending": "in_quota",
}


_DUTY_RANK = {
    **{base: 2 for base in CUMULATIVE_BASES},
    "line": 0,
    "in_quota": 0,
    "over_quota": 0,
    "units": 1,
}


def _duty(
    line: DeclarationLine,
    item: Fired,
    effect: DutyEffect,
    in_quota: Decimal,
    so_far: Sequence[Duty],
    as_of: date,
) -> Duty:
    """One duty line: its base, rate, amount (half-up to the cent) and legal reference.
    A grossed-up duty shows its effective rate (rate x (1 + the other duty's rate))."""
    kind, rate_name, base_kind = effect.type, effect.rate, effect.base
    if base_kind == "line":
        base = line.value_for_duty
    elif base_kind == "in_quota":
        base = _apportion(line.value_for_duty, in_quota, line.quantity)
    elif base_kind == "over_quota":
        base = line.value_for_duty - _apportion(line.value_for_duty, in_quota, line.quantity)
    elif base_kind == "units":
        base = line.quantity
    else:  # value_plus_duties
        base = line.value_for_duty + sum((duty.amount for duty in so_far), Decimal("0.00"))
    spec = item.measure.rates[rate_name]
    rate = item.measure.rate_on(rate_name, as_of)
    if effect.gross_up is not None:
        by = [duty.rate for duty in so_far if duty.type == effect.gross_up]
        if len(by) != 1:
            raise EngineError(
                f"line {line.line}: {item.rule.id} grosses its {kind} up by the line's "
                f"{effect.gross_up}, and the line has {len(by)} of them"
            )
        rate = rate * (1 + by[0])
    return Duty(
        type=kind,
        measure=item.measure.id,
        rate=rate,
        base=base,
        amount=(base * rate).quantize(CENT, rounding=ROUND_HALF_UP),
        per=spec.per,
        reference=item.finding.reference,
    )


def _line_verdict(
    line: DeclarationLine,
    evaluation: Evaluation,
    decisions: Sequence[Fired],
    allocation: Allocation,
    owed: bool,
) -> LineVerdict:
    applied = evaluation.applied[line.line]
    mine = [item for item in decisions if item.line == line.line]
    treatment: Treatment | None = "not_covered" if not applied else None
    quota_ref = None
    in_quota = over_quota = Decimal(0)
    for measure_in_force in applied:
        allocated = allocation.for_line(line.line, measure_in_force.measure.id)
        if allocated is not None and allocated.status in _TREATMENT_OF:
            treatment = _TREATMENT_OF[allocated.status]
            in_quota, over_quota = Decimal(allocated.in_quota), Decimal(allocated.over_quota)
            quota_ref = LineQuota(
                quota_id=allocated.quota_id, period=allocated.period, sub_quota=allocated.sub_quota
            )
    if treatment is None:
        stated = [item.rule.then.treatment for item in mine if item.rule.then.treatment]
        has_quota = any(each.measure.quota is not None for each in applied)
        treatment = stated[-1] if stated else "over_quota" if has_quota else "not_covered"
    duties: list[Duty] = []
    if owed:
        # duties on the value first, then charges per unit, then those on the value plus
        # the duties so far (a tax on the duty-paid value), each in pack and rule order:
        # the order of a broker's accounting (duty, surtax, excise, GST)
        # a grossed-up duty (a deposit that covers the VAT on itself) comes last of all
        for rank in (0, 1, 2, 3):
            for item in mine:
                for effect in item.rule.then.duties:
                    if (3 if effect.gross_up else _DUTY_RANK[effect.base]) != rank:
                        continue
                    duties.append(_duty(line, item, effect, in_quota, duties,
                                        evaluation.as_of))  # fmt: skip
    return LineVerdict(
        line=line.line,
        measures=tuple(item.measure.id for item in applied),
        treatment=treatment,
        in_quota_quantity=in_quota,
        over_quota_quantity=over_quota,
        quota=quota_ref,
        duties=tuple(duties),
        total_duty=sum((duty.amount for duty in duties), Decimal("0.00")),
    )
