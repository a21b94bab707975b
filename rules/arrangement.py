"""Arrangements between two parties, as data: which measures each side took.

An arrangement (`rules/arrangements/*.yaml`) names its parties, the measures of each
side by id, its sources, and the years a timeline of it covers. The measures themselves,
their dates and their counterparts stay in the packs; an arrangement only groups them, so
that `GET /v1/arrangements/{id}` and the dashboard can show both sides at once. Loading
is as strict as for packs: unknown or duplicate keys, bad dates and unknown sources are
errors naming the file and the key, and the catalog checks that every measure named is
defined by a pack of that side's jurisdiction. A side may also await a measure no loaded
pack defines yet: the other side may name it as a counterpart, and the linkage checks say
it is not loaded until a pack defines it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Annotated

from pydantic import Field

from rules.errors import PackError
from rules.loader import load_strict
from rules.pack import Pack
from rules.values import MEASURE_ID, IsoDate, Source, Strict
from schemas.declaration import Jurisdiction

SHIPPED_ARRANGEMENTS = Path(__file__).parent / "arrangements"


class Side(Strict):
    """One party to the arrangement and the measures it took under it."""

    jurisdiction: Jurisdiction
    party: str
    measures: tuple[Annotated[str, Field(pattern=MEASURE_ID)], ...] = Field(min_length=1)
    # Measures of this party the other side's measures name as counterparts but that no
    # loaded pack need define yet (a pack of this party's may add one later). A counterpart
    # among them is accepted at load; until a pack defines it, the linkage checks report it
    # as not loaded, never as in force.
    awaited: tuple[Annotated[str, Field(pattern=MEASURE_ID)], ...] = ()


class Span(Strict):
    start: IsoDate = Field(alias="from")
    end: IsoDate = Field(alias="to")


class Arrangement(Strict):
    arrangement: Annotated[str, Field(pattern=MEASURE_ID)]
    title: str
    # the day the parties signed it, and the day it was announced if that is another
    concluded_on: IsoDate
    announced_on: IsoDate | None = None
    source: str
    sources: dict[str, Source]
    sides: tuple[Side, ...] = Field(min_length=2)
    # the years a timeline of the arrangement shows
    timeline: Span

    @property
    def id(self) -> str:
        return self.arrangement

    def measure_ids(self) -> tuple[str, ...]:
        return tuple(name for side in self.sides for name in side.measures)

    def awaited_ids(self) -> tuple[str, ...]:
        return tuple(name for side in self.sides for name in side.awaited)

    def resolved(self, defined: Collection[str]) -> Arrangement:
        """The arrangement with each awaited measure a loaded pack now defines counted among
        its side's measures, so that views, timelines and checks show it like the others."""
        sides = tuple(
            side.model_copy(
                update={
                    "measures": (*side.measures, *(n for n in side.awaited if n in defined)),
                    "awaited": tuple(n for n in side.awaited if n not in defined),
                }
            )
            for side in self.sides
        )
        return self.model_copy(update={"sides": sides})


def parse_arrangement(text: bytes, path: str) -> Arrangement:
    """Parse and check one arrangement; every problem raises `PackError` naming the key."""
    arrangement = load_strict(text, path, Arrangement, "an arrangement")
    if arrangement.source not in arrangement.sources:
        raise PackError(path, "source", f"unknown source {arrangement.source!r}")
    if arrangement.announced_on is not None and arrangement.announced_on < arrangement.concluded_on:
        raise PackError(path, "announced_on", "is before concluded_on")
    if arrangement.timeline.end < arrangement.timeline.start:
        raise PackError(path, "timeline", "'to' is before 'from'")
    seen: set[str] = set()
    for index, side in enumerate(arrangement.sides):
        for key in ("measures", "awaited"):
            for name in getattr(side, key):
                if name in seen:
                    raise PackError(path, f"sides[{index}].{key}", f"{name} is named twice")
                seen.add(name)
    return arrangement


def load_arrangements(directory: Path = SHIPPED_ARRANGEMENTS) -> list[tuple[Arrangement, str]]:
    """Every arrangement of a directory, with the file it came from, in file-name order."""
    return [
        (parse_arrangement(path.read_bytes(), str(path)), str(path))
        for path in sorted(directory.glob("*.yaml"))
    ]


def check_arrangement(arrangement: Arrangement, path: str, packs: Iterable[Pack]) -> None:
    """Every measure a side names is defined by a pack of that side's jurisdiction; an
    awaited measure, if a pack defines it, is defined by one of that side's."""
    defined: dict[str, set[str]] = {}
    for pack in packs:
        for measure in pack.measures:
            defined.setdefault(measure.id, set()).add(pack.body.jurisdiction)
    for index, side in enumerate(arrangement.sides):
        for name in side.measures:
            if side.jurisdiction not in defined.get(name, set()):
                raise PackError(
                    path,
                    f"sides[{index}].measures",
                    f"no {side.jurisdiction} pack defines a measure {name!r}",
                )
        for name in side.awaited:
            if defined.get(name, {side.jurisdiction}) != {side.jurisdiction}:
                raise PackError(
                    path,
                    f"sides[{index}].awaited",
                    f"{name!r} is defined by a pack of another jurisdiction",
                )
