"""A finding's message template (`str.format`) cut at its placeholders.

A stored finding holds its message in English, rendered. `Template.values` reads a rendered
message back into its placeholders' values against the rule's English template, and
`Template.render` puts them into a translated template; the check refuses a template whose
placeholders are not separated by literal text, since it could not be read back.
"""

from __future__ import annotations

import functools
import string
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

# a placeholder as `string.Formatter().parse` gives it: field name, format spec, conversion
Placeholder = tuple[str, str, str]


@dataclass(frozen=True)
class Template:
    """A message template cut at its placeholders: literals[0] p[0] literals[1] … p[n-1]
    literals[n]."""

    literals: tuple[str, ...]
    placeholders: tuple[Placeholder, ...]

    @classmethod
    def parse(cls, text: str) -> Template:
        """ValueError for a template `str.format` cannot read."""
        literals: list[str] = [""]
        placeholders: list[Placeholder] = []
        for literal, name, spec, conversion in string.Formatter().parse(text):
            literals[-1] += literal
            if name is not None:
                placeholders.append((name, spec or "", conversion or ""))
                literals.append("")
        return cls(tuple(literals), tuple(placeholders))

    def signature(self) -> Counter[Placeholder]:
        return Counter(self.placeholders)

    def adjacent(self) -> tuple[Placeholder, Placeholder] | None:
        """Two placeholders with no literal text between them, if any."""
        for index in range(1, len(self.placeholders)):
            if not self.literals[index]:
                return self.placeholders[index - 1], self.placeholders[index]
        return None

    def render(self, values: Mapping[Placeholder, str]) -> str:
        """The template with each placeholder replaced by its rendered text."""
        parts = [self.literals[0]]
        for placeholder, literal in zip(self.placeholders, self.literals[1:], strict=True):
            parts += [values[placeholder], literal]
        return "".join(parts)

    def values(self, rendered: str) -> dict[Placeholder, str] | None:
        """The rendered text of each placeholder in `rendered`, if exactly one reading of it
        fits the template (a placeholder used twice reads the same both times); None if
        none does or if two do (a value that contains the literal text after it)."""
        first, rest = self.literals[0], self.literals[1:]
        if not rendered.startswith(first):
            return None
        found: list[dict[Placeholder, str]] = []

        def walk(index: int, at: int, values: dict[Placeholder, str]) -> None:
            if len(found) > 1:
                return
            if index == len(self.placeholders):
                if at == len(rendered):
                    found.append(dict(values))
                return
            placeholder, literal = self.placeholders[index], rest[index]
            last = index == len(self.placeholders) - 1
            ends: Iterable[int]
            if last:
                ends = [len(rendered) - len(literal)] if rendered.endswith(literal) else []
            else:
                ends = _occurrences(rendered, literal, at)
            for end in ends:
                if end < at:
                    continue
                value = rendered[at:end]
                if values.get(placeholder, value) != value:
                    continue
                known = placeholder in values
                values[placeholder] = value
                walk(index + 1, end + len(literal), values)
                if not known:
                    del values[placeholder]

        if not self.placeholders:
            return {} if rendered == first else None
        walk(0, len(first), {})
        return found[0] if len(found) == 1 else None


def _occurrences(text: str, literal: str, start: int) -> Iterator[int]:
    at = text.find(literal, start)
    while at != -1:
        yield at
        at = text.find(literal, at + 1)


def shown(placeholders: Iterable[Placeholder]) -> str:
    def one(item: Placeholder) -> str:
        name, spec, conversion = item
        return (
            "{"
            + name
            + (f"!{conversion}" if conversion else "")
            + (f":{spec}" if spec else "")
            + "}"
        )

    shown = sorted(one(item) for item in placeholders)
    return ", ".join(shown) if shown else "none"


@functools.lru_cache(maxsize=4096)
def parsed(text: str) -> Template | None:
    try:
        return Template.parse(text)
    except ValueError:
        return None
