"""What every `accord` verb prints, through one renderer: a human view by default (titled
key/value blocks and tables with aligned columns) and, with `--json`, the JSON the verb
got or made, unchanged. A verb only says which of its body's values go in which block;
the layout, the alignment and the JSON are decided here, once.

Amounts are printed as given: the API sends decimals as strings ("93334.00") and they
stay the same text in a table, never a float, and always with their currency ("93334.00
CAD", through `amount`). Columns whose every cell is a number (percentages and amounts
with their currency included) are right-aligned, the way an accountant reads figures.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

__all__ = ["Fields", "Table", "View", "amount", "cell", "emit", "generic", "render", "table_of"]

# a figure as the locale writes it: 12,345.6 / 12 345,6 (no-break spaces) / 6.1% / 6,1 %
_NUMBER = re.compile(r"[+-]?[0-9][0-9,\u00a0\u202f]*(?:[.,][0-9]+)?(?:\u00a0?%| [A-Z]{3})?")
_EMPTY = "-"
# identifiers that look like numbers but are read as text: "2026.3" is a version, not a figure
_TEXT_COLUMNS = frozenset(
    {"pack_version", "version", "declaration_id", "permit_number", "quota_year"}
)


class CliError(Exception):
    """What a verb refuses or the API answered, in words, with the exit code it gives."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Fields:
    """Labelled values, one a line, labels aligned."""

    pairs: Sequence[tuple[str, Any]]
    title: str | None = None


@dataclass(frozen=True)
class Table:
    """Rows under a header row; each cell rendered by `cell`."""

    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]
    title: str | None = None
    empty: str = "(none)"
    # columns to align left even if every cell looks like a number (ids, codes)
    text_columns: frozenset[str] = field(default_factory=frozenset)


Block = Fields | Table | str
View = Callable[[Any], Iterable[Block]]


def cell(value: Any) -> str:
    """One value as table text: amounts and dates as given, lists joined, absent as '-'."""
    if value is None or value == "" or value == [] or value == ():
        return _EMPTY
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return ", ".join(cell(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return str(value).replace("\n", " ")


def amount(value: Any, currency: str | None) -> str | None:
    """An amount with its currency ("93334.00 CAD"); absent stays absent."""
    if value is None or value == "":
        return None
    return f"{cell(value)} {currency}" if currency else cell(value)


# the printer of the language asked for (cli/language.py installs it): its words
# and figures; English as the views give them
localize: Callable[[Iterable[Block]], Iterable[Block]] = list


def render(blocks: Iterable[Block]) -> str:
    """The blocks as text, a blank line between them."""
    parts = []
    for block in localize(blocks):
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, Fields):
            parts.append(_fields(block))
        else:
            parts.append(_table(block))
    return "\n\n".join(part for part in parts if part)


def _width(text: str) -> int:
    """Columns a text takes in a terminal: a Chinese character (wide) takes two."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def _pad(text: str, width: int, right: bool = False) -> str:
    gap = " " * max(0, width - _width(text))
    return gap + text if right else text + gap


def _fields(block: Fields) -> str:
    pairs = [(label, cell(value)) for label, value in block.pairs]
    width = max((_width(label) for label, _ in pairs), default=0)
    lines = [block.title] if block.title else []
    lines += [f"{_pad(label, width)}  {text}".rstrip() for label, text in pairs]
    return "\n".join(lines)


def _table(block: Table) -> str:
    header = [str(column) for column in block.columns]
    rows = [[cell(value) for value in row] for row in block.rows]
    lines = [block.title] if block.title else []
    if not rows:
        return "\n".join([*lines, block.empty])
    widths = [max(_width(text) for text in column) for column in zip(header, *rows, strict=True)]
    right = [
        name not in block.text_columns | _TEXT_COLUMNS
        and any(row[index] != _EMPTY for row in rows)
        and all(row[index] == _EMPTY or _NUMBER.fullmatch(row[index]) for row in rows)
        for index, name in enumerate(header)
    ]
    for row in [header, *rows]:
        texts = [
            _pad(text, width, align) for text, width, align in zip(row, widths, right, strict=True)
        ]
        lines.append("  ".join(texts).rstrip())
    return "\n".join(lines)


def table_of(
    items: Sequence[Mapping[str, Any]],
    columns: Sequence[str] | None = None,
    title: str | None = None,
    **options: Any,
) -> Table:
    """A table of mappings; columns default to every key whose values are not nested."""
    if columns is None:
        columns = []
        for item in items:
            for key, value in item.items():
                if key not in columns and not isinstance(value, dict):
                    columns.append(key)
    rows = [[item.get(column) for column in columns] for item in items]
    return Table(columns, rows, title, **options)


def generic(value: Any, title: str | None = None) -> list[Block]:
    """Any JSON body: its scalars as fields, each list of objects as a table, each nested
    object as fields of its own (for verbs whose body needs no chosen layout)."""
    if isinstance(value, list):
        if all(isinstance(item, dict) for item in value):
            return [table_of(value, title=title)]
        return [Fields([(title or "value", value)])]
    if not isinstance(value, dict):
        return [Fields([(title or "value", value)])]
    scalars = []
    nested: list[Block] = []
    for key, item in value.items():
        label = f"{title}.{key}" if title else key
        if isinstance(item, dict):
            nested += generic(item, label)
        elif isinstance(item, list) and item and all(isinstance(x, dict) for x in item):
            nested.append(table_of(item, title=label))
        else:
            scalars.append((key, item))
    head: list[Block] = [Fields(scalars, title)] if scalars else []
    return head + nested


def emit(body: Any, as_json: bool, view: View = generic) -> None:
    """Print a verb's result: the view's blocks, or with `--json` the body itself."""
    if as_json:
        print(json.dumps(body, indent=2, ensure_ascii=False, default=_json_default))
    else:
        print(render(view(body)))


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")
