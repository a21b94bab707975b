"""The packs a process knows: the shipped ones and those of `ACCORD_RULES_DIR`; and the
shipped arrangements, which group the measures of both parties to one arrangement.

The current packs (the highest version of each pack id) evaluate new declarations;
every loaded version stays reachable by id and version, or by content hash, so that a
verdict can be replayed with the exact pack it used.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from rules.arrangement import Arrangement, check_arrangement, load_arrangements
from rules.errors import PackError
from rules.pack import (
    SHIPPED_DIR,
    Measure,
    Pack,
    check_counterparts,
    check_no_overlap,
    current_packs,
    load_packs,
)
from rules.translations import PackTexts, load_texts


@dataclass(frozen=True)
class Catalog:
    packs: tuple[Pack, ...]
    current: tuple[Pack, ...]
    arrangements: tuple[Arrangement, ...] = ()
    # the packs' texts in every language (rules/translations.py)
    texts: PackTexts = field(default_factory=PackTexts, compare=False)

    def arrangement(self, arrangement_id: str) -> Arrangement | None:
        return next((item for item in self.arrangements if item.id == arrangement_id), None)

    def by_sha(self, sha256: str) -> Pack | None:
        return next((pack for pack in self.packs if pack.sha256 == sha256), None)

    def by_version(self, pack_id: str, version: str) -> Pack | None:
        return next(
            (pack for pack in self.packs if pack.id == pack_id and pack.version == version), None
        )

    def definitions(self, measure_id: str) -> list[tuple[Pack, Measure]]:
        """Every current definition of a measure, with its pack."""
        return [
            (pack, measure)
            for pack in self.current
            for measure in pack.measures
            if measure.id == measure_id
        ]

    def measure(self, measure_id: str) -> tuple[Pack, Measure] | None:
        """The current definition of a measure (the latest effective range)."""
        found = self.definitions(measure_id)
        return max(found, key=lambda item: item[1].effective.start) if found else None

    def measure_on(self, measure_id: str, day: date) -> tuple[Pack, Measure] | None:
        """The definition of a measure in force on `day`, else the one nearest to it."""
        found = self.definitions(measure_id)
        if not found:
            return None

        def distance(item: tuple[Pack, Measure]) -> int:
            effective = item[1].effective
            if effective.contains(day):
                return 0
            if day < effective.start:
                return (effective.start - day).days
            return (day - effective.end).days if effective.end is not None else 0

        return min(found, key=distance)

    def permit_quotas(self) -> tuple[str, ...]:
        """The quotas that take import permits, by id."""
        return tuple(
            sorted(
                {
                    measure.id
                    for pack in self.current
                    for measure in pack.measures
                    if measure.quota is not None and measure.quota.permits is not None
                }
            )
        )


def load_catalog(extra_dirs: Iterable[Path] = ()) -> Catalog:
    packs = tuple(load_packs([SHIPPED_DIR, *extra_dirs]))
    seen: dict[tuple[str, str], Pack] = {}
    for pack in packs:
        other = seen.setdefault((pack.id, pack.version), pack)
        if other.sha256 != pack.sha256:
            raise PackError(
                pack.path,
                "version",
                f"{pack.id} {pack.version} is also {other.path}, with other content",
            )
    current = tuple(current_packs(packs))
    check_no_overlap(current)
    arrangements = []
    defined = {measure.id for pack in current for measure in pack.measures}
    for arrangement, path in load_arrangements():
        check_arrangement(arrangement, path, current)
        arrangements.append(arrangement.resolved(defined))
    check_counterparts(current, [name for item in arrangements for name in item.awaited_ids()])
    texts = load_texts(packs)
    return Catalog(packs=packs, current=current, arrangements=tuple(arrangements), texts=texts)
