"""The strict loader of rule packs: YAML read with duplicate keys refused, the pack model
validated, then every reference and condition checked, one check per concern. Loading is
strict, in the manner of OpenFisca's parameter loader: duplicate keys, unknown keys,
non-ISO dates, unknown source or assumption references, bad conditions and overlapping
effective ranges are errors that name the file and the key (`PackError`).

    parse_pack(text, path) -> Pack       one pack, checked
    load_packs(directories) -> [Pack]    every `*.yaml` of the directories
    check_no_overlap(packs), check_counterparts(packs, awaited)   across packs
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from rules.compiler import check_condition
from rules.errors import PackError
from rules.fact_check import ConditionCheck
from rules.facts import DATE_FACT, declared_facts
from rules.measure import CUMULATIVE_BASES, Measure, Rule
from rules.pack import Pack, PackBody
from rules.values import MEASURE_ID

SHIPPED_DIR = Path(__file__).parent / "packs"


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML silently keeps the last of two equal keys; a rule pack must not."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, bool):
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"key {key_node.value!r} reads as a boolean in YAML; quote it",
                key_node.start_mark,
            )
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _key_path(loc: Iterable[int | str], data: Any) -> str:
    """Turn a pydantic location into a readable key path, naming measures and rules by id."""
    parts: list[str] = []
    node = data
    for item in loc:
        if isinstance(item, int) and isinstance(node, list) and item < len(node):
            node = node[item]
            label = node.get("id") if isinstance(node, dict) else None
            parts.append(f"[{label}]" if label else f"[{item}]")
        else:
            node = node.get(item) if isinstance(node, dict) else None
            parts.append(f".{item}")
    return "".join(parts).lstrip(".")


def parse_pack(text: bytes, path: str) -> Pack:
    """Parse and check one pack; every problem raises `PackError` naming file and key."""
    body = load_strict(text, path, PackBody, "a rule pack")
    _check_pack(body, path)
    return Pack(body, path, text)


M = TypeVar("M", bound=BaseModel)


def load_strict(text: bytes, path: str, model: type[M], what: str) -> M:
    """A YAML document read strictly (duplicate keys refused) into `model`; every problem
    raises `PackError` naming the file and the key. Packs and arrangements both use it."""
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "document"
        problem = getattr(exc, "problem", None) or str(exc)
        raise PackError(path, where, str(problem)) from None
    except (ValueError, TypeError) as exc:  # e.g. 2026-13-01 read as a date, a list as a key
        raise PackError(path, "document", f"unreadable value: {exc}") from None
    if not isinstance(data, dict):
        raise PackError(path, "document", f"{what} is a mapping")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise PackError(path, _key_path(first["loc"], data), first["msg"]) from None


class _References:
    """Holds the keys of one pack to its `sources` and `assumptions`."""

    def __init__(self, body: PackBody, path: str) -> None:
        self.body = body
        self.path = path

    def source(self, key: str, ref: str) -> None:
        if ref not in self.body.sources:
            raise PackError(self.path, key, f"unknown source {ref!r}")

    def assumption(self, key: str, ref: str | None) -> None:
        if ref is not None and ref not in self.body.assumptions:
            raise PackError(self.path, key, f"unknown assumption {ref!r}")


def _check_pack(body: PackBody, path: str) -> None:
    """Every check of one pack, in the order its problems are reported."""
    refs = _References(body, path)
    _check_parameters(body, path, refs)
    _check_pack_charges(body, refs)
    _check_currency(body, refs)
    seen_rules: set[str] = set()
    by_measure: dict[str, list[Measure]] = {}
    for measure in body.measures:
        _check_measure_sources(measure, refs)
        _check_effective(measure, path, by_measure)
        _check_rates(measure, body, path, refs)
        _check_quota(measure, path, refs)
        _check_arrangement(measure, path, refs)
        _check_suspends(measure, body, path)
        for rule in measure.rules:
            _check_rule(rule, measure, body, path, refs, seen_rules)


def _check_parameters(body: PackBody, path: str, refs: _References) -> None:
    """Parameter names, and each dated value: sourced, assumed and of its type."""
    for name, parameter in body.parameters.items():
        where = f"parameters.{name}"
        if not re.fullmatch(MEASURE_ID, name):
            raise PackError(path, where, "a parameter name is upper case, digits and '-'")
        for day, entry in parameter.values.items():
            key = f"{where}.values.{day}"
            if entry.source is not None:
                refs.source(f"{key}.source", entry.source)
            refs.assumption(f"{key}.assumption", entry.assumption)
            try:
                parameter.typed(entry.value)
            except ValueError as exc:
                raise PackError(path, f"{key}.value", str(exc)) from None


def _check_pack_charges(body: PackBody, refs: _References) -> None:
    """The sources of the charges the pack lists as not assessed."""
    for index, charge in enumerate(body.not_assessed):
        refs.source(f"not_assessed[{index}].source", charge.source)


def _check_currency(body: PackBody, refs: _References) -> None:
    """The sources and assumptions of the pack's rate table and conversion rule."""
    if body.exchange_rates is not None:
        refs.source("exchange_rates.source", body.exchange_rates.source)
        refs.assumption("exchange_rates.assumption", body.exchange_rates.assumption)
    conversion = body.currency_conversion
    if conversion is not None:
        refs.source("currency_conversion.source", conversion.source)
        refs.source("currency_conversion.rates_source", conversion.rates_source)
        refs.assumption("currency_conversion.assumption", conversion.assumption)
        refs.assumption("currency_conversion.date_assumption", conversion.date_assumption)


def _check_measure_sources(measure: Measure, refs: _References) -> None:
    """The measure's own source and assumptions, and its remission order's."""
    where = f"measures[{measure.id}]"
    refs.source(f"{where}.source", measure.source)
    refs.assumption(f"{where}.effective.assumption", measure.effective.assumption)
    refs.assumption(f"{where}.scope.assumption", measure.scope.assumption)
    if measure.remission is not None:
        remission = measure.remission
        refs.source(f"{where}.remission.source", remission.source)
        refs.assumption(f"{where}.remission.assumption", remission.assumption)
        for scheduled in remission.items:
            key = f"{where}.remission.items[{scheduled.item}]"
            refs.source(f"{key}.source", scheduled.source)
            refs.assumption(f"{key}.assumption", scheduled.assumption)


def _check_effective(measure: Measure, path: str, by_measure: dict[str, list[Measure]]) -> None:
    """An effective range ends after it starts, and overlaps no other range of the same
    measure in the pack (`by_measure`: the definitions seen so far)."""
    where = f"measures[{measure.id}]"
    if measure.effective.end is not None and measure.effective.end < measure.effective.start:
        raise PackError(path, f"{where}.effective", "'to' is before 'from'")
    for earlier in by_measure.get(measure.id, []):
        if earlier.effective.overlaps(measure.effective):
            raise PackError(path, f"{where}.effective", "overlapping effective ranges")
    by_measure.setdefault(measure.id, []).append(measure)


def _check_rates(measure: Measure, body: PackBody, path: str, refs: _References) -> None:
    """Each rate is sourced; a rate read from a parameter names a rate parameter that has
    a value on the measure's first day."""
    where = f"measures[{measure.id}]"
    for name, spec in measure.rates.items():
        if spec.source is not None:
            refs.source(f"{where}.rates.{name}.source", spec.source)
        refs.assumption(f"{where}.rates.{name}.assumption", spec.assumption)
        if spec.param is not None:
            rate_parameter = body.parameters.get(spec.param)
            if rate_parameter is None or rate_parameter.type != "rate":
                raise PackError(
                    path, f"{where}.rates.{name}.param", f"no rate parameter {spec.param!r}"
                )
            if rate_parameter.entry_on(measure.effective.start) is None:
                raise PackError(
                    path,
                    f"{where}.rates.{name}.param",
                    f"{spec.param} has no value on the measure's first day "
                    f"{measure.effective.start}",
                )


def _check_quota(measure: Measure, path: str, refs: _References) -> None:
    """The quota's sources and assumptions, its over-quota rate, and a quota drawn at
    permit issuance has permits and refuses over-quota goods."""
    quota = measure.quota
    if quota is None:
        return
    where = f"measures[{measure.id}]"
    refs.source(f"{where}.quota.source", quota.source)
    for name in quota.all_assumptions():
        refs.assumption(f"{where}.quota.assumptions", name)
    if quota.over_quota != "reject" and quota.over_quota not in measure.rates:
        raise PackError(path, f"{where}.quota.over_quota", "must be 'reject' or the name of a rate")
    if quota.permits is not None:
        refs.source(f"{where}.quota.permits.source", quota.permits.source)
        for name in quota.permits.all_assumptions():
            refs.assumption(f"{where}.quota.permits.assumptions", name)
    if quota.drawn_at == "permit" and (quota.permits is None or quota.over_quota != "reject"):
        raise PackError(
            path,
            f"{where}.quota.drawn_at",
            "a quota drawn at permit issuance needs a permits block and over_quota: "
            "reject (no permit, no entry)",
        )
    for sub in quota.sub_quotas:
        refs.source(f"{where}.quota.sub_quotas[{sub.name}].source", sub.source)
        refs.assumption(f"{where}.quota.sub_quotas[{sub.name}].assumption", sub.assumption)


def _check_arrangement(measure: Measure, path: str, refs: _References) -> None:
    """The arrangement's sources and assumptions; a measure is not its own counterpart."""
    arrangement = measure.arrangement
    if arrangement is None:
        return
    where = f"measures[{measure.id}]"
    refs.assumption(f"{where}.arrangement", arrangement.classification_assumption)
    refs.assumption(f"{where}.arrangement", arrangement.bound_rate_assumption)
    for index, note in enumerate(arrangement.us_notifications):
        refs.source(f"{where}.arrangement.us_notifications[{index}].source", note.source)
    if arrangement.counterparts_source is not None:
        refs.source(f"{where}.arrangement.counterparts_source", arrangement.counterparts_source)
    refs.assumption(f"{where}.arrangement", arrangement.counterparts_assumption)
    if measure.id in arrangement.counterparts:
        raise PackError(
            path,
            f"{where}.arrangement.counterparts",
            "a measure is not its own counterpart",
        )


def _check_suspends(measure: Measure, body: PackBody, path: str) -> None:
    """A measure suspends only other measures of its own pack."""
    pack_measures = {each.id for each in body.measures}
    for suspended in measure.suspends:
        if suspended == measure.id or suspended not in pack_measures:
            raise PackError(
                path,
                f"measures[{measure.id}].suspends",
                f"{suspended!r} is not another measure of this pack",
            )


def _check_rule(
    rule: Rule,
    measure: Measure,
    body: PackBody,
    path: str,
    refs: _References,
    seen_rules: set[str],
) -> None:
    """One rule: its id unique in the pack, its sources and assumptions, its condition in
    the compiler's language and naming only the facts of its stage and measure (as its
    templates do), its duties, and a measure-stage rule only on a measure's arrangement."""
    key = f"measures[{measure.id}].rules[{rule.id}]"
    if rule.id in seen_rules:
        raise PackError(path, key, "duplicate rule id")
    seen_rules.add(rule.id)
    if rule.source is not None:
        refs.source(f"{key}.source", rule.source)
    refs.assumption(f"{key}.assumption", rule.assumption)
    for name in rule.assumptions:
        refs.assumption(f"{key}.assumptions", name)
    check_condition(rule.when, path, f"{key}.when", body.parameters, DATE_FACT[rule.stage])
    check = ConditionCheck(declared_facts(rule.stage, measure), body.parameters, path, rule.stage)
    check.condition(rule.when, f"{key}.when")
    check.template(rule.message, f"{key}.message")
    check.template(rule.reference, f"{key}.reference")
    _check_duties(rule, measure, path, key)
    if rule.stage == "measure" and measure.arrangement is None:
        raise PackError(path, key, "a measure-stage rule needs the measure's arrangement")


def _check_duties(rule: Rule, measure: Measure, path: str, key: str) -> None:
    """Each duty names a rate of its measure whose kind fits its base: a specific rate
    (an amount per unit) is charged on units, in the unit of the rate; a percentage on a
    value. A duty on the value plus duties comes after the rule's other duties."""
    seen_cumulative = False
    for index, duty in enumerate(rule.then.duties):
        where = f"{key}.then.duties[{index}]"
        spec = measure.rates.get(duty.rate)
        if spec is None:
            raise PackError(path, f"{key}.then.duties", f"unknown rate {duty.rate!r}")
        if spec.specific != (duty.base == "units"):
            raise PackError(
                path,
                f"{where}.base",
                f"rate {duty.rate!r} is {'an amount per unit' if spec.specific else 'a percentage'}"
                f"; base {duty.base!r} needs {'a percentage' if spec.specific else 'an amount per unit'}",
            )
        if duty.gross_up is not None and duty.base != "line":
            raise PackError(
                path, f"{where}.gross_up", "a grossed-up duty is charged on the line's value"
            )
        if duty.gross_up == duty.type:
            raise PackError(path, f"{where}.gross_up", "a duty does not gross itself up")
        if duty.base in CUMULATIVE_BASES:
            seen_cumulative = True
        elif seen_cumulative and duty.gross_up is None:
            raise PackError(
                path, f"{where}.base", "a duty on value_plus_duties comes after the others"
            )
        quota = measure.quota
        if duty.base in ("in_quota", "over_quota") and quota is None:
            raise PackError(path, f"{where}.base", f"base {duty.base!r} needs the measure's quota")


def load_pack(path: Path) -> Pack:
    return parse_pack(path.read_bytes(), str(path))


def load_packs(directories: Iterable[Path]) -> list[Pack]:
    """Every `*.yaml` pack in the given directories, in file-name order."""
    packs: list[Pack] = []
    for directory in directories:
        for path in sorted(directory.glob("*.yaml")):
            packs.append(load_pack(path))
    return packs


def check_counterparts(packs: Iterable[Pack], awaited: Iterable[str] = ()) -> None:
    """Every counterpart a measure records names a measure of one of the packs, or one an
    arrangement awaits (a measure of the other party no loaded pack defines yet; the
    linkage checks report it as not loaded)."""
    packs = list(packs)
    known = {measure.id for pack in packs for measure in pack.measures} | set(awaited)
    for pack in packs:
        for measure in pack.measures:
            arrangement = measure.arrangement
            for counterpart in arrangement.counterparts if arrangement else ():
                if counterpart not in known:
                    raise PackError(
                        pack.path,
                        f"measures[{measure.id}].arrangement.counterparts",
                        f"no loaded pack has a measure {counterpart!r}",
                    )


def check_no_overlap(packs: Iterable[Pack]) -> None:
    """Two current packs must not both define one measure for the same day."""
    seen: dict[str, tuple[Pack, Measure]] = {}
    for pack in packs:
        for measure in pack.measures:
            other = seen.get(measure.id)
            clash = other is not None and other[0] is not pack
            if clash and other and other[1].effective.overlaps(measure.effective):
                raise PackError(
                    pack.path,
                    f"measures[{measure.id}].effective",
                    f"overlaps the same measure in {other[0].path}",
                )
            seen[measure.id] = (pack, measure)
