"""What-if simulation of the quotas, the pure half: rule packs whose quota parameters
are changed for the occasion (`apply_overrides`, `apply_overrides_to_packs`, with the
`--set` values typed by the pack's own models and checked again by the strict loader),
and the report a simulation gives (`SimulationReport`, one `PeriodReport` per quota
period). There is no ledger here: `workers/simulation.py` runs the stream through the
ledger's own Redis scripts on a private embedded Redis and fills the report from the
ledger's read model, the verdicts and the events. Pure: no Redis, no files, no clock.
"""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from rules.errors import PackError, RulesError
from rules.loader import parse_pack
from rules.measure import Quota
from rules.pack import Pack
from rules.values import Rate, Share
from schemas.ledger import PeriodStatus, PermitUtilisation

_RATE_METADATA = get_args(Rate)[1:]


class OverrideError(RulesError):
    """An override names a path no quota has, or a value the strict pack loader refuses."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"override {path}: {problem}")
        self.path = path
        self.problem = problem


# --- overrides ----------------------------------------------------------------------------


def apply_overrides(pack_text: bytes, overrides: Mapping[str, str], path: str = "<pack>") -> Pack:
    """The pack with quota parameters changed, checked again by the strict loader.

    A key is `quota.FIELD[.…]` for every measure of the pack that has a quota, or
    `MEASURE_ID:quota.FIELD[.…]` for one measure; sub-quotas are named by their name
    (`quota.sub_quotas.affordable.shares.2`). Rates take "10%" or a fraction, "0.10";
    sub-quota shares also an exact fraction, "7/30".
    Every override must apply to some measure of this pack.
    """
    pack = parse_pack(pack_text, path)  # the original must pass the strict loader first
    if not overrides:
        return pack
    data = yaml.safe_load(pack_text)
    changed: list[str] = []
    refusals: list[OverrideError] = []
    whole_set_loads = False
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
        # parsed after each override, so that a refused value is blamed on its own key;
        # a refusal stands only if the whole set is refused too, so that the order of the
        # keys does not matter (over_quota=mfn before drawn_at=declaration)
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode()
        try:
            pack = parse_pack(text, f"{path} [{', '.join(changed)}]")
            whole_set_loads = True
        except PackError as exc:
            whole_set_loads = False
            refusals.append(OverrideError(key, f"{value!r} is refused: {exc.key}: {exc.problem}"))
    if not whole_set_loads:
        raise refusals[0]
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
    is_rate = annotation in (Rate, Share) or any(item in _RATE_METADATA for item in metadata)
    if is_rate:
        if value.strip().endswith("%") or (annotation == Share and "/" in value):
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


# --- the report -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PeriodReport:
    """One quota period after the simulation: the ledger's read model of the period as of
    `as_of` (the stream's last day, or the period's end if earlier), and what the verdicts,
    the refused permit applications and the events say about it."""

    quota_id: str
    start: date
    end: date
    as_of: date
    volume: int
    carried_over: int
    allocated: int  # units drawn from the period (the read model's `used`)
    returned: int  # units given back to it (permits not used in full)
    remaining: int
    available: int  # volume + carried_over (the read model's)
    net_used: int  # allocated - returned (the read model's)
    utilisation: Decimal  # net_used / available, 4 places
    fill_date: date | None  # the date of the period's first `exhausted` event within it
    rejected_declarations: int  # declarations refused for lack of quota (or of a permit) here
    rejected_units: int  # units of those refused lines or permit applications
    over_quota_units: int  # units entered over quota (split / over_quota lines)
    reserved: Mapping[str, int]  # per sub-quota: reserved units, carried reserve included
    reserved_used: Mapping[str, int]
    status: PeriodStatus
    timeline: tuple[tuple[date, int], ...]  # units in use after each day with a draw or return
    permits: PermitUtilisation | None = None  # quotas drawn at permit issuance


@dataclass(frozen=True)
class AccountShare:
    """The initial allocation a simulation gives an importer (importer_allocation quotas)."""

    quota_id: str
    quota_year: int
    business_number: str
    initial: int


@dataclass(frozen=True)
class SimulationReport:
    """Per quota period, the result of one simulated stream, and the verdicts' outcomes."""

    periods: tuple[PeriodReport, ...]
    declarations: int
    outcomes: Mapping[str, int]  # accepted, rejected, held (and failed, if any failed)
    duplicates: int  # declarations whose id came again; evaluated once, as the API does
    accounts: tuple[AccountShare, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "declarations": self.declarations,
            "duplicates": self.duplicates,
            "outcomes": dict(self.outcomes),
            "accounts": [
                {
                    "quota_id": item.quota_id,
                    "quota_year": item.quota_year,
                    "business_number": item.business_number,
                    "initial": item.initial,
                }
                for item in self.accounts
            ],
            "periods": [
                {
                    "quota_id": item.quota_id,
                    "start": item.start.isoformat(),
                    "end": item.end.isoformat(),
                    "as_of": item.as_of.isoformat(),
                    "volume": item.volume,
                    "carried_over": item.carried_over,
                    "allocated": item.allocated,
                    "returned": item.returned,
                    "remaining": item.remaining,
                    "utilisation": str(item.utilisation),
                    "fill_date": item.fill_date.isoformat() if item.fill_date else None,
                    "rejected_declarations": item.rejected_declarations,
                    "rejected_units": item.rejected_units,
                    "over_quota_units": item.over_quota_units,
                    "reserved": dict(item.reserved),
                    "reserved_used": dict(item.reserved_used),
                    "status": item.status,
                    "timeline": [[day.isoformat(), units] for day, units in item.timeline],
                    "permits": item.permits.model_dump() if item.permits is not None else None,
                }
                for item in self.periods
            ],
        }


def percent_text(fraction: Decimal) -> str:
    """0.9 -> "90.0%", for tables."""
    return f"{(fraction * 100).quantize(Decimal('0.1'), ROUND_HALF_UP)}%"


__all__ = [
    "AccountShare",
    "OverrideError",
    "PeriodReport",
    "SimulationReport",
    "apply_overrides",
    "apply_overrides_to_packs",
    "percent_text",
]
