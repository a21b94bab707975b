"""What-if simulation of the quotas: replay a stream of declarations through the engine
and an in-memory quota ledger, under rule packs whose quota parameters may be changed
(`apply_overrides`), and report per quota period when it filled, how much of it was used
and how many units were refused. `MemoryLedger` keeps the first-come-first-served
semantics of `store/lua/allocate.lua` (all lines of a declaration or none, the reserve of
a sub-quota drawn first by eligible lines, reject or split over quota, carry-over of the
previous period's unused general and reserved units when a period opens lazily, a period
closed once a later one of its quota year has opened, each VIN counted once per quota),
so that a simulation answers as the real ledger would. A simulation has no permit
registry: every commercial line that a quota's permit requirement covers is given a
synthetic valid permit (for the quota's measure, issued to the declaring importer on the
date of acceptance, for the line's quantity; lines that name a permit keep its number),
so that only quota availability decides. Pure: no Redis, no files, no clock.
"""

from __future__ import annotations

import types
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from rules.engine import evaluate, finalize, measures_in_force
from rules.errors import PackError, RulesError
from rules.pack import Measure, Pack, Quota, Rate, parse_pack
from schemas.declaration import Declaration, DeclarationLine
from schemas.permit import Permit
from schemas.quota import (
    NO_ALLOCATION,
    Allocation,
    BalanceChange,
    LineAllocation,
    LineAllocationStatus,
    QuotaPeriod,
    QuotaRequest,
)

PeriodStatus = Literal["open", "critical", "exhausted", "closed"]
_RATE_METADATA = get_args(Rate)[1:]
_UTILISATION = Decimal("0.0001")


class OverrideError(RulesError):
    """An override names a path no quota has, or a value the strict pack loader refuses."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"override {path}: {problem}")
        self.path = path
        self.problem = problem


# --- the in-memory ledger ---------------------------------------------------------------


@dataclass(frozen=True)
class LedgerPeriod:
    """One opened period as the ledger holds it: the fields of allocate.lua's period hash.
    balance = volume + carried - allocated (nothing is ever returned in a simulation)."""

    period: QuotaPeriod
    carried: int
    allocated: int
    status: PeriodStatus
    reserved_carried: Mapping[str, int]
    reserved_used: Mapping[str, int]

    @property
    def balance(self) -> int:
        return self.period.volume + self.carried - self.allocated

    def reserve_left(self, sub_quota: str) -> int:
        return (
            self.period.reserved.get(sub_quota, 0)
            + self.reserved_carried.get(sub_quota, 0)
            - self.reserved_used.get(sub_quota, 0)
        )


@dataclass
class _Period:
    period: QuotaPeriod
    critical_threshold: str
    carried: int = 0
    allocated: int = 0
    status: PeriodStatus = "open"
    reserved_carried: dict[str, int] = field(default_factory=dict)
    reserved_used: dict[str, int] = field(default_factory=dict)

    def snapshot(self) -> LedgerPeriod:
        return LedgerPeriod(
            period=self.period,
            carried=self.carried,
            allocated=self.allocated,
            status=self.status,
            reserved_carried=dict(self.reserved_carried),
            reserved_used=dict(self.reserved_used),
        )


@dataclass
class _Planned:
    request: QuotaRequest
    status: LineAllocationStatus
    in_quota: int
    from_reserve: int


class MemoryLedger:
    """The quota ledger of allocate.lua (mode fcfs), held in memory for one simulation.

    `permits` maps permit numbers to their quantities when permit use is to be counted as
    the real ledger counts it (a number not in it has nothing left); None, the default
    for simulations, leaves permits out of the ledger altogether.
    """

    def __init__(self, permits: Mapping[str, int] | None = None) -> None:
        self._periods: dict[tuple[str, str], _Period] = {}
        self._results: dict[str, Allocation] = {}
        self._vins: dict[str, dict[str, str]] = defaultdict(dict)
        self._permits = dict(permits) if permits is not None else None
        self._permit_used: dict[str, int] = defaultdict(int)

    def period(self, quota_id: str, key: str) -> LedgerPeriod | None:
        """A period by quota and start date (its key), if it was ever opened."""
        held = self._periods.get((quota_id, key))
        return held.snapshot() if held is not None else None

    def periods(self) -> list[LedgerPeriod]:
        """Every opened period, by quota, quota year and position in the year."""
        return sorted(
            (held.snapshot() for held in self._periods.values()),
            key=lambda item: (item.period.quota_id, item.period.year, item.period.index),
        )

    def vin_owner(self, quota_id: str, vin: str) -> str | None:
        return self._vins[quota_id].get(vin)

    def permit_used(self, number: str) -> int:
        return self._permit_used[number]

    def allocate(self, declaration_id: str, requests: Sequence[QuotaRequest]) -> Allocation:
        """Apply a declaration's requests, all or none; a second call answers the first result."""
        prior = self._results.get(declaration_id)
        if prior is not None:
            return prior
        plans, failed = self._plan(requests)
        result = self._refuse(plans) if failed else self._apply(declaration_id, plans)
        self._results[declaration_id] = result
        return result

    # Planning mirrors allocate.lua line by line: each line sees the balances net of what
    # the declaration's earlier lines planned, and nothing is written until every line fits.
    def _plan(self, requests: Sequence[QuotaRequest]) -> tuple[list[_Planned], bool]:
        planned_general: dict[tuple[str, str], int] = defaultdict(int)
        planned_reserve: dict[tuple[str, str, str], int] = defaultdict(int)
        permit_asked: dict[str, int] = defaultdict(int)
        permit_lines: dict[str, list[int]] = defaultdict(list)
        vins_seen: set[tuple[str, str]] = set()
        failed = False
        plans: list[_Planned] = []
        for position, request in enumerate(requests):
            key = (request.quota_id, request.period.key)
            held = self._open(request)
            # closed by carry-over, or never opened because a later period took its units
            closed = held is None or held.status == "closed"
            snapshot = None if held is None else held.snapshot()
            balance = 0 if closed or snapshot is None else snapshot.balance
            reserve_total = 0
            if not closed and snapshot is not None:
                reserve_total = sum(snapshot.reserve_left(sub) for sub in request.period.reserved)
            general = balance - reserve_total - planned_general[key]
            from_reserve = 0
            if request.sub_quota is not None and not closed and snapshot is not None:
                left = (
                    snapshot.reserve_left(request.sub_quota)
                    - planned_reserve[(*key, request.sub_quota)]
                )
                from_reserve = min(request.quantity, max(left, 0))
            from_general = min(request.quantity - from_reserve, max(general, 0))
            in_quota = from_reserve + from_general
            status: LineAllocationStatus = "allocated"
            if in_quota < request.quantity:
                if request.over_quota == "reject":
                    status, failed = "quota_exhausted", True
                else:
                    status = "over_quota" if in_quota == 0 else "split"
            planned_general[key] += from_general
            if from_reserve > 0 and request.sub_quota is not None:
                planned_reserve[(*key, request.sub_quota)] += from_reserve
            if request.permit_number is not None and self._permits is not None:
                permit_asked[request.permit_number] += request.quantity
                permit_lines[request.permit_number].append(position)
            for vin in request.vins:
                seen = (request.quota_id, vin)
                if seen in vins_seen or vin in self._vins[request.quota_id]:
                    status, failed = "vin_already_used", True
                vins_seen.add(seen)
            plans.append(_Planned(request, status, in_quota, from_reserve))
        for number, asked in permit_asked.items():
            if self._permit_left(number) < asked:
                failed = True
                for position in permit_lines[number]:
                    plans[position].status = "permit_exhausted"
        return plans, failed

    def _permit_left(self, number: str) -> int:
        quantity = (self._permits or {}).get(number, 0)
        return quantity - self._permit_used[number]

    @staticmethod
    def _refuse(plans: Sequence[_Planned]) -> Allocation:
        lines = []
        for plan in plans:
            status = plan.status
            if status in ("allocated", "split", "over_quota"):
                status = "not_applied"
            lines.append(
                LineAllocation(
                    line=plan.request.line,
                    quota_id=plan.request.quota_id,
                    period=plan.request.period.key,
                    status=status,
                )
            )
        return Allocation(applied=False, lines=tuple(lines))

    def _apply(self, declaration_id: str, plans: Sequence[_Planned]) -> Allocation:
        lines: list[LineAllocation] = []
        balances: list[BalanceChange] = []
        for plan in plans:
            request = plan.request
            if plan.in_quota > 0:
                held = self._periods[(request.quota_id, request.period.key)]
                before = held.snapshot().balance
                held.allocated += plan.in_quota
                if plan.from_reserve > 0 and request.sub_quota is not None:
                    used = held.reserved_used.get(request.sub_quota, 0)
                    held.reserved_used[request.sub_quota] = used + plan.from_reserve
                after = held.snapshot().balance
                balances.append(
                    BalanceChange(
                        quota_id=request.quota_id,
                        period=request.period.key,
                        before=before,
                        after=after,
                    )
                )
                self._settle_status(held)
            if request.permit_number is not None and self._permits is not None:
                self._permit_used[request.permit_number] += request.quantity
            for vin in request.vins:
                self._vins[request.quota_id][vin] = declaration_id
            lines.append(
                LineAllocation(
                    line=request.line,
                    quota_id=request.quota_id,
                    period=request.period.key,
                    status=plan.status,
                    in_quota=plan.in_quota,
                    over_quota=request.quantity - plan.in_quota,
                    sub_quota=request.sub_quota if plan.from_reserve > 0 else None,
                    reserved_used=plan.from_reserve,
                )
            )
        return Allocation(applied=True, lines=tuple(lines), balances=tuple(balances))

    def _open(self, request: QuotaRequest) -> _Period | None:
        """The request's period, opened on first touch with the previous period's unused
        units carried over (and that period closed); None when a later period of the same
        quota year is open already, whose opening took this period's units."""
        period = request.period
        key = (request.quota_id, period.key)
        held = self._periods.get(key)
        if held is not None:
            return held
        later = any(
            other.period.quota_id == request.quota_id
            and other.period.year == period.year
            and other.period.index > period.index
            for other in self._periods.values()
        )
        if later:
            return None
        subs = sorted(period.reserved)
        held = _Period(
            period=period,
            critical_threshold=request.critical_threshold,
            reserved_carried=dict.fromkeys(subs, 0),
            reserved_used=dict.fromkeys(subs, 0),
        )
        self._periods[key] = held
        previous = request.previous_period
        if previous is not None:
            # As the Redis ledger: the balance of the latest earlier period that was opened
            # (closed now), plus the whole volume of every earlier period nobody touched.
            opened = [
                other
                for other in self._periods.values()
                if other.period.quota_id == request.quota_id
                and other.period.year == period.year
                and other.period.index < period.index
            ]
            carried = 0
            reserved = dict.fromkeys(subs, 0)
            untouched = period.index - 1
            if opened:
                latest = max(opened, key=lambda other: other.period.index)
                snapshot = latest.snapshot()
                untouched = period.index - 1 - latest.period.index
                carried = snapshot.balance
                reserved = {sub: snapshot.reserve_left(sub) for sub in subs}
                latest.status = "closed"
            carried += untouched * previous.volume
            reserved = {
                sub: units + untouched * previous.reserved.get(sub, 0)
                for sub, units in reserved.items()
            }
            if carried > 0:
                held.carried = carried
                held.reserved_carried = reserved
        return held

    @staticmethod
    def _settle_status(held: _Period) -> None:
        total = held.period.volume + held.carried
        balance = total - held.allocated
        status: PeriodStatus = "open"
        # allocate.lua compares in Lua numbers (doubles); so does this, to agree on the edge
        if balance <= 0:
            status = "exhausted"
        elif total > 0 and held.allocated >= float(held.critical_threshold) * total:
            status = "critical"
        if held.status != "closed":
            held.status = status


# --- overrides ----------------------------------------------------------------------------


def apply_overrides(pack_text: bytes, overrides: Mapping[str, str], path: str = "<pack>") -> Pack:
    """The pack with quota parameters changed, checked again by the strict loader.

    A key is `quota.FIELD[.…]` for every measure of the pack that has a quota, or
    `MEASURE_ID:quota.FIELD[.…]` for one measure; sub-quotas are named by their name
    (`quota.sub_quotas.affordable.shares.2`). Rates take "10%" or a fraction, "0.10".
    Every override must apply to some measure of this pack.
    """
    pack = parse_pack(pack_text, path)  # the original must pass the strict loader first
    if not overrides:
        return pack
    data = yaml.safe_load(pack_text)
    changed: list[str] = []
    for key, value in overrides.items():
        measure_id, _, field_path = key.rpartition(":")
        measures = [item for item in data["measures"] if isinstance(item, dict)]
        if measure_id:
            named = [item for item in measures if item.get("id") == measure_id]
            if not named:
                raise OverrideError(key, f"pack {pack.id} has no measure {measure_id}")
            targets = [item for item in named if item.get("quota") is not None]
            if not targets:
                raise OverrideError(key, f"measure {measure_id} has no quota")
        else:
            targets = [item for item in measures if item.get("quota") is not None]
            if not targets:
                raise OverrideError(key, f"no measure of pack {pack.id} has a quota")
        for measure in targets:
            _set_path(measure, field_path, value, key)
        changed.append(f"{key}={value}")
        # parsed after each override, so that a refused value is blamed on its own key
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode()
        try:
            pack = parse_pack(text, f"{path} [{', '.join(changed)}]")
        except PackError as exc:
            raise OverrideError(key, f"{value!r} is refused: {exc.key}: {exc.problem}") from None
    return pack


def apply_overrides_to_packs(
    pack_texts: Sequence[tuple[bytes, str]], overrides: Mapping[str, str]
) -> list[Pack]:
    """`apply_overrides` across packs: `MEASURE_ID:` keys go to the pack defining the
    measure, plain keys to every pack with a quota; a key that reaches no pack is an error."""
    originals = [parse_pack(text, path) for text, path in pack_texts]
    routed: list[dict[str, str]] = [{} for _ in pack_texts]
    for key, value in overrides.items():
        measure_id = key.rpartition(":")[0]
        reached = False
        for position, pack in enumerate(originals):
            if measure_id:
                hit = any(measure.id == measure_id for measure in pack.measures)
            else:
                hit = any(measure.quota is not None for measure in pack.measures)
            if hit:
                routed[position][key] = value
                reached = True
        if not reached:
            what = f"no measure {measure_id}" if measure_id else "no measure with a quota"
            raise OverrideError(key, f"the packs have {what}")
    return [
        apply_overrides(text, routed[position], path) if routed[position] else original
        for position, ((text, path), original) in enumerate(zip(pack_texts, originals, strict=True))
    ]


def _set_path(measure: dict[str, Any], field_path: str, value: str, key: str) -> None:
    """Walk the measure's quota mapping along the path, guided by the pack's models, and
    set the value at its end; any step the models do not know is an unknown path."""
    segments = field_path.split(".")
    if segments[0] != "quota" or len(segments) < 2:
        raise OverrideError(key, "unknown path: a simulation changes quota.FIELD[.…]")
    node: Any = measure["quota"]
    kind: tuple[str, Any, Any] = ("model", Quota, None)
    walked = "quota"
    for position, segment in enumerate(segments[1:], start=2):
        last = position == len(segments)
        where = f"{walked}.{segment}"
        if kind[0] == "model":
            model: type[BaseModel] = kind[1]
            info = _field(model, segment)
            if info is None:
                known = ", ".join(sorted(model.model_fields))
                raise OverrideError(key, f"unknown path {where} (fields of {walked}: {known})")
            if last:
                node[segment] = _typed(value, info.annotation, tuple(info.metadata), key, where)
                return
            child = node.get(segment)
            if child is None:
                raise OverrideError(key, f"{where} is not set in measure {measure.get('id')}")
            kind = _kind_of(info.annotation, key, where)
            node = child
        elif kind[0] == "named":
            item = next((each for each in node if each.get("name") == segment), None)
            if item is None:
                names = ", ".join(str(each.get("name")) for each in node) or "none"
                raise OverrideError(key, f"unknown path {where} (named items: {names})")
            if last:
                raise OverrideError(key, f"{where} is a whole item; set one of its fields")
            node, kind = item, ("model", kind[1], None)
        else:
            key_type, value_annotation = kind[1], kind[2]
            if not last:
                raise OverrideError(key, f"unknown path {where}: {walked} holds plain values")
            entry: Any = segment
            if key_type is int:
                try:
                    entry = int(segment)
                except ValueError:
                    raise OverrideError(key, f"{where}: {segment!r} is not a number") from None
            node[entry] = _typed(value, value_annotation, (), key, where)
            return
        walked = where


def _field(model: type[BaseModel], name: str) -> FieldInfo | None:
    for field_name, info in model.model_fields.items():
        if name in (field_name, info.alias):
            return info
    return None


def _without_none(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [arg for arg in get_args(annotation) if arg is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


def _kind_of(annotation: Any, key: str, where: str) -> tuple[str, Any, Any]:
    """How to step into a field: a nested model, a tuple of named models, or a mapping."""
    annotation = _without_none(annotation)
    origin = get_origin(annotation)
    args = get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return ("model", annotation, None)
    if origin is tuple and args and isinstance(args[0], type) and issubclass(args[0], BaseModel):
        return ("named", args[0], None)
    if origin is dict:
        return ("mapping", args[0], args[1])
    raise OverrideError(key, f"unknown path: {where} holds a single value")


def _typed(value: str, annotation: Any, metadata: tuple[Any, ...], key: str, where: str) -> Any:
    """The YAML value for a field: rates as percentage strings, whole numbers as ints,
    anything else as text for the strict loader to judge."""
    is_rate = annotation == Rate or any(item in _RATE_METADATA for item in metadata)
    if is_rate:
        if value.strip().endswith("%"):
            return value.strip()
        try:
            fraction = Decimal(value)
        except InvalidOperation:
            raise OverrideError(key, f"{where}: {value!r} is not a rate (10% or 0.10)") from None
        return f"{(fraction * 100).normalize():f}%"
    annotation = _without_none(annotation)
    literal_ints = get_origin(annotation) is Literal and all(
        isinstance(arg, int) for arg in get_args(annotation)
    )
    if annotation is int or literal_ints:
        try:
            return int(value)
        except ValueError:
            raise OverrideError(key, f"{where}: {value!r} is not a whole number") from None
    if get_origin(annotation) in (tuple, list, dict) or (
        isinstance(annotation, type) and issubclass(annotation, BaseModel)
    ):
        raise OverrideError(key, f"{where} is not a single value; set one of its parts")
    return value


# --- the simulation -------------------------------------------------------------------------


def with_synthetic_permits(
    declaration: Declaration, packs: Sequence[Pack]
) -> tuple[Declaration, dict[str, Permit]]:
    """The declaration with a permit number on every commercial line a quota's permit
    requirement covers, and a valid permit for each number, so that only quota decides."""
    as_of = declaration.accepted_on
    declared = {line.permit_number for line in declaration.lines if line.permit_number}
    asked: dict[str, Decimal] = defaultdict(Decimal)
    measure_of: dict[str, Measure] = {}
    lines: list[DeclarationLine] = []
    for line in declaration.lines:
        measure = _permit_measure(declaration, line, packs)
        if measure is None:
            lines.append(line)
            continue
        number = line.permit_number
        if number is None:
            number = f"SIMULATED-{line.line}"
            while number in declared:  # a declared permit may happen to have that name
                number += "-S"
            line = line.model_copy(update={"permit_number": number})
        asked[number] += line.quantity
        measure_of.setdefault(number, measure)
        lines.append(line)
    if not measure_of:
        return declaration, {}
    permits = {}
    for number, measure in measure_of.items():
        validity = (
            measure.quota.permits.validity_days if measure.quota and measure.quota.permits else 60
        )
        permits[number] = Permit(
            permit_number=number,
            business_number=declaration.importer.business_number,
            measure=measure.id,
            quantity=int(asked[number].to_integral_value(rounding=ROUND_CEILING)),
            issued_on=as_of,
            expires_on=as_of + timedelta(days=validity),
        )
    return declaration.model_copy(update={"lines": tuple(lines)}), permits


def _permit_measure(
    declaration: Declaration, line: DeclarationLine, packs: Sequence[Pack]
) -> Measure | None:
    for applied in measures_in_force(packs, line, declaration.import_type, declaration.accepted_on):
        quota = applied.measure.quota
        if (
            declaration.import_type == "commercial"
            and quota is not None
            and quota.permits is not None
            and declaration.import_type in quota.permits.required_for
        ):
            return applied.measure
    return None


@dataclass(frozen=True)
class PeriodReport:
    """One quota period after the simulation."""

    quota_id: str
    start: date
    end: date
    volume: int
    carried_over: int
    allocated: int
    utilisation: Decimal  # allocated / (volume + carried_over), a fraction to 4 places
    fill_date: date | None  # acceptance date of the declaration that brought it to 0
    rejected_declarations: int  # declarations with a line refused for lack of quota here
    rejected_units: int  # units of those refused lines
    over_quota_units: int  # units entered over quota (split / over_quota lines)
    reserved: Mapping[str, int]  # per sub-quota: reserved units, carried reserve included
    reserved_used: Mapping[str, int]
    status: PeriodStatus
    timeline: tuple[tuple[date, int], ...]  # units allocated so far, after each day's entries

    @property
    def capacity(self) -> int:
        return self.volume + self.carried_over


@dataclass(frozen=True)
class SimulationReport:
    """Per quota period, the result of one simulated stream, and the verdicts' outcomes."""

    periods: tuple[PeriodReport, ...]
    declarations: int
    outcomes: Mapping[str, int]  # accepted, rejected, held
    duplicates: int  # declarations whose id came again; evaluated once, as the API does

    def as_json(self) -> dict[str, Any]:
        return {
            "declarations": self.declarations,
            "duplicates": self.duplicates,
            "outcomes": dict(self.outcomes),
            "periods": [
                {
                    "quota_id": item.quota_id,
                    "start": item.start.isoformat(),
                    "end": item.end.isoformat(),
                    "volume": item.volume,
                    "carried_over": item.carried_over,
                    "allocated": item.allocated,
                    "utilisation": str(item.utilisation),
                    "fill_date": item.fill_date.isoformat() if item.fill_date else None,
                    "rejected_declarations": item.rejected_declarations,
                    "rejected_units": item.rejected_units,
                    "over_quota_units": item.over_quota_units,
                    "reserved": dict(item.reserved),
                    "reserved_used": dict(item.reserved_used),
                    "status": item.status,
                    "timeline": [[day.isoformat(), units] for day, units in item.timeline],
                }
                for item in self.periods
            ],
        }


@dataclass
class _Tally:
    """What the ledger does not keep but the report needs, per (quota, period key)."""

    periods: dict[tuple[str, str], QuotaPeriod] = field(default_factory=dict)
    fill_dates: dict[tuple[str, str], date] = field(default_factory=dict)
    rejected: dict[tuple[str, str], set[str]] = field(default_factory=lambda: defaultdict(set))
    rejected_units: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    over_quota: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    timeline: dict[tuple[str, str], dict[date, int]] = field(
        default_factory=lambda: defaultdict(dict)
    )


def simulate(declarations: Iterable[Declaration], packs: Sequence[Pack]) -> SimulationReport:
    """Evaluate, allocate and finalize each declaration in the order given (first come,
    first served), in a fresh in-memory ledger; report per quota period."""
    ledger = MemoryLedger()
    tally = _Tally()
    outcomes = {"accepted": 0, "rejected": 0, "held": 0}
    seen: set[str] = set()
    duplicates = 0
    for declaration in declarations:
        if declaration.declaration_id in seen:
            duplicates += 1
            continue
        seen.add(declaration.declaration_id)
        permitted, permits = with_synthetic_permits(declaration, packs)
        evaluation = evaluate(permitted, packs, permits)
        allocation = NO_ALLOCATION
        if evaluation.requests:
            allocation = ledger.allocate(declaration.declaration_id, evaluation.requests)
            _count(tally, ledger, declaration, evaluation.requests, allocation)
        outcomes[finalize(evaluation, allocation).outcome] += 1
    return SimulationReport(
        periods=_period_reports(ledger, tally),
        declarations=len(seen),
        outcomes=outcomes,
        duplicates=duplicates,
    )


def _count(
    tally: _Tally,
    ledger: MemoryLedger,
    declaration: Declaration,
    requests: Sequence[QuotaRequest],
    allocation: Allocation,
) -> None:
    day = declaration.accepted_on
    by_line = {(request.line, request.quota_id): request for request in requests}
    for request in requests:
        tally.periods.setdefault((request.quota_id, request.period.key), request.period)
    for line in allocation.lines:
        where = (line.quota_id, line.period)
        if line.status == "quota_exhausted":
            tally.rejected[where].add(declaration.declaration_id)
            tally.rejected_units[where] += by_line[(line.line, line.quota_id)].quantity
        elif allocation.applied:
            tally.over_quota[where] += line.over_quota
    for change in allocation.balances:
        where = (change.quota_id, change.period)
        if change.after <= 0 < change.before:
            tally.fill_dates.setdefault(where, day)
        held = ledger.period(*where)
        if held is not None:
            tally.timeline[where][day] = held.allocated


def _period_reports(ledger: MemoryLedger, tally: _Tally) -> tuple[PeriodReport, ...]:
    opened = {(item.period.quota_id, item.period.key): item for item in ledger.periods()}
    reports = []
    for where in sorted(set(opened) | set(tally.periods)):
        held = opened.get(where)
        if held is not None:
            period, carried, allocated, status = (
                held.period,
                held.carried,
                held.allocated,
                held.status,
            )
            reserved = {
                sub: units + held.reserved_carried.get(sub, 0)
                for sub, units in period.reserved.items()
            }
            reserved_used = dict(held.reserved_used)
        else:
            # refused in a period that never opened: a later one had taken its units
            period, carried, allocated, status = tally.periods[where], 0, 0, "closed"
            reserved, reserved_used = dict(period.reserved), {}
        capacity = period.volume + carried
        utilisation = (
            (Decimal(allocated) / Decimal(capacity)).quantize(_UTILISATION, ROUND_HALF_UP)
            if capacity
            else Decimal(0)
        )
        reports.append(
            PeriodReport(
                quota_id=period.quota_id,
                start=period.start,
                end=period.end,
                volume=period.volume,
                carried_over=carried,
                allocated=allocated,
                utilisation=utilisation,
                fill_date=tally.fill_dates.get(where),
                rejected_declarations=len(tally.rejected.get(where, ())),
                rejected_units=tally.rejected_units.get(where, 0),
                over_quota_units=tally.over_quota.get(where, 0),
                reserved=reserved,
                reserved_used=reserved_used,
                status=status,
                timeline=tuple(sorted(tally.timeline.get(where, {}).items())),
            )
        )
    return tuple(reports)


def percent_text(fraction: Decimal) -> str:
    """0.9 -> "90.0%", for tables."""
    return f"{(fraction * 100).quantize(Decimal('0.1'), ROUND_HALF_UP)}%"


__all__ = [
    "LedgerPeriod",
    "MemoryLedger",
    "OverrideError",
    "PeriodReport",
    "SimulationReport",
    "apply_overrides",
    "apply_overrides_to_packs",
    "percent_text",
    "simulate",
    "with_synthetic_permits",
]
