"""Declaration files as brokers keep them: JSON (one declaration, a list, or the batch
endpoint's `{"declarations": [...]}`), JSON Lines, or CSV in the CAD layout (one row per
declaration line, a header row), read into validated `Declaration`s for `accord submit`
and `accord simulate`.

Every declaration of a file is validated before anything is done with any of them, so a
file with a bad row changes nothing: the error names the file, where in it (line of a
JSON Lines file, item of a JSON list, row of a CSV file) and the field, and lists every
bad declaration rather than the first. The schema (`schemas.declaration`) is the one
judge of a declaration; this module only finds where its complaints came from.

The CSV layout follows the commercial accounting declaration (CAD, formerly the B3): a
column per CAD field (the B3 field number in brackets in `CAD_COLUMNS`), declaration-level
fields repeated on each of the declaration's rows, consecutive or not, and required to
agree. Headers match whatever their case, spacing or punctuation ("Transaction Number",
"transaction_number"), as spreadsheets write them; an unknown column is an error, not
silently dropped, as the strict pack loader does with unknown keys.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from schemas.declaration import Declaration

__all__ = ["CAD_COLUMNS", "CadColumn", "DeclarationFileError", "csv_columns_help", "read"]

MAX_ERRORS = 20  # enough to fix a file in one pass, not a screenful per bad row


class DeclarationFileError(Exception):
    """A file that cannot be read, or declarations in it that are not valid: the message
    has one line per problem, each naming the place in the file and the field."""


@dataclass(frozen=True)
class CadColumn:
    """One column of the CAD CSV layout and the declaration field it fills."""

    name: str
    field: str  # a Declaration field, "importer.<field>" or "lines.<field>"
    b3: str  # the B3 field number it corresponds to, "" where the B3 had none
    required: bool
    text: str

    @property
    def level(self) -> Literal["declaration", "line"]:
        return "line" if self.field.startswith("lines.") else "declaration"

    @property
    def key(self) -> str:
        return self.field.rsplit(".", 1)[-1]


CAD_COLUMNS: tuple[CadColumn, ...] = (
    CadColumn("transaction_number", "declaration_id", "2", True, "the declaration's id"),
    CadColumn("importer_number", "importer.business_number", "1", True,
              "BN15 import account (CA) or unified social credit code (CN)"),
    CadColumn("importer_name", "importer.name", "1", True, "importer of record"),
    CadColumn("excise_licensed", "importer.excise_licensed", "", False,
              "yes or no: licensed under the Excise Tax Act"),
    CadColumn("import_type", "import_type", "", True, "commercial or personal"),
    CadColumn("release_date", "accepted_at", "20", True,
              "RFC 3339 with offset, e.g. 2026-03-10T10:00:00-05:00"),
    CadColumn("direct_shipment_date", "shipment_date", "16", False, "YYYY-MM-DD"),
    CadColumn("currency", "currency", "17", True, "ISO 4217, e.g. CAD"),
    CadColumn("jurisdiction", "jurisdiction", "", False, "CA (default) or CN"),
    CadColumn("line_number", "lines.line", "21", True, "whole number, unique in the declaration"),
    CadColumn("description", "lines.description", "22", True, "goods description"),
    CadColumn("country_of_origin", "lines.origin", "12", True, "ISO 3166-1 alpha-2, e.g. CN"),
    CadColumn("tariff_treatment", "lines.tariff_treatment", "14", False, "e.g. 02 (MFN)"),
    CadColumn("permit_number", "lines.permit_number", "26", False, "import permit"),
    CadColumn("remission_claim", "lines.remission_claim", "26", False,
              "e.g. SOR/2025-12 schedule 2 item 9.01"),
    CadColumn("classification_number", "lines.tariff_item", "27", True,
              "10 digits, dots allowed: 8703.80.00.10"),
    CadColumn("underlying_classification_number", "lines.underlying_tariff_item", "", False,
              "Chapter 98/99 lines: the goods' Chapters 1-97 item (Chapter 99: required)"),
    CadColumn("quantity", "lines.quantity", "29", True, "decimal; vehicles whole"),
    CadColumn("unit_of_measure", "lines.unit", "30", True, "UN/ECE rec. 20: NMB, KGM"),
    CadColumn("value_for_duty", "lines.value_for_duty", "37", True, "decimal, in currency"),
    CadColumn("fob_unit_price", "lines.fob_unit_price", "", False, "decimal, per unit"),
    CadColumn("vins", "lines.vins", "", False, "VINs separated by spaces or ';'"),
)  # fmt: skip
_BY_NAME = {column.name: column for column in CAD_COLUMNS}
_BY_FIELD = {column.field: column for column in CAD_COLUMNS}
_VIN_SEPARATORS = re.compile(r"[\s;]+")
_YES_NO = {"yes": True, "true": True, "no": False, "false": False}


def csv_columns_help() -> str:
    """The layout, one column a line, for `accord submit --help` (the README shows the same)."""
    width = max(len(column.name) for column in CAD_COLUMNS)
    return "\n".join(
        f"  {column.name:<{width}} {('[' + column.b3 + ']') if column.b3 else '':<5} "
        f"{'required' if column.required else 'optional':<8} {column.text}"
        for column in CAD_COLUMNS
    )


def read(source: str) -> list[tuple[dict[str, Any], Declaration]]:
    """Every declaration of a file (`-` for standard input), as written and as validated.
    JSON when the text starts with `{` or `[`, otherwise CSV."""
    try:
        raw = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    except OSError as exc:
        raise DeclarationFileError(f"{source}: cannot read: {exc.strerror or exc}") from None
    text = _decoded(source, raw)
    if not text.strip():
        return []
    if text.lstrip()[0] in "{[":
        return _validated(source, _json_items(source, text))
    return _validated(source, _csv_items(source, text))


def _decoded(source: str, raw: bytes) -> str:
    """The file's text, whatever the terminal's locale: UTF-8 with or without the
    byte-order mark a spreadsheet's "CSV UTF-8" writes, or UTF-16 with its mark (a
    spreadsheet's "Unicode text"); anything else is refused, never read as mojibake."""
    encoding = "utf-16" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise DeclarationFileError(
            f"{source}: not UTF-8 text (byte {exc.start + 1}): save it as UTF-8 (CSV UTF-8)"
        ) from None


@dataclass(frozen=True)
class _Item:
    """One declaration as written, and how to name a place in the file for its errors."""

    raw: Any
    where: str  # "line 3", "item 2", "row 4"
    rows: tuple[int, ...] = ()  # CSV: the row of each line, in order
    first_row: int = 0

    def place(self, loc: tuple[int | str, ...]) -> str:
        if not self.rows:
            return f"{self.where}: {_field_path(loc) or 'declaration'}"
        # CSV: the row the field came from, and the column that holds it
        row = self.first_row
        if len(loc) >= 2 and loc[0] == "lines" and isinstance(loc[1], int):
            row = self.rows[loc[1]] if loc[1] < len(self.rows) else row
            field = f"lines.{loc[2]}" if len(loc) > 2 else "lines"
        else:
            field = ".".join(str(part) for part in loc[:2])
        # the lines as a whole (how many, their numbers unique) are the line_number column's
        column = _BY_FIELD.get("lines.line" if field == "lines" else field)
        name = column.name if column else (_field_path(loc) or "declaration")
        return f"row {row}: {name}"


def _field_path(loc: tuple[int | str, ...]) -> str:
    """("lines", 0, "vins", 1) -> "lines[0].vins[1]", as the API names fields."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _json_items(source: str, text: str) -> list[_Item]:
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        pass
    else:
        if isinstance(whole, dict) and list(whole) == ["declarations"]:
            whole = whole["declarations"]  # a saved body of POST /v1/declarations/batch
        if isinstance(whole, list):
            return [_Item(raw, f"item {number}") for number, raw in enumerate(whole, start=1)]
        # a JSON Lines file of one line is still read as lines are: its errors say "line N"
        lines = [n for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
        return [_Item(whole, f"line {lines[0]}" if len(lines) == 1 else "declaration")]
    items = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                items.append(_Item(json.loads(line), f"line {number}"))
            except json.JSONDecodeError as exc:
                raise DeclarationFileError(
                    f"{source}, line {number}: not JSON: {exc.msg} at column {exc.colno}"
                ) from None
    return items


def _csv_items(source: str, text: str) -> list[_Item]:
    # the delimiter the header row uses: a French-Canadian spreadsheet writes ';', a tab
    # export '\t', the rest ','
    header_line = text.lstrip().split("\n", 1)[0]
    delimiter = max(",;\t", key=header_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
        columns = _header(source, header)
        grouped: dict[str, tuple[dict[str, Any], list[int], dict[str, int]]] = {}
        problems: list[str] = []
        for cells in reader:
            row = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(columns):
                problems.append(
                    f"{source}, row {row}: {len(cells)} cells, the header has {len(columns)}"
                )
                continue
            values = {
                column.name: cell.strip()
                for column, cell in zip(columns, cells, strict=True)
                if cell.strip()
            }
            problems += _add_row(source, grouped, row, values)
    except csv.Error as exc:
        raise DeclarationFileError(f"{source}, row {reader.line_num}: not CSV: {exc}") from None
    except StopIteration:
        return []
    if problems:
        raise DeclarationFileError("\n".join(problems[:MAX_ERRORS]))
    return [_Item(raw, f"row {rows[0]}", tuple(rows), rows[0]) for raw, rows, _ in grouped.values()]


def _header(source: str, header: Sequence[str]) -> list[CadColumn]:
    names = [re.sub(r"[^a-z0-9]+", "_", cell.strip().lower()).strip("_") for cell in header]
    unknown = [cell for cell, name in zip(header, names, strict=True) if name not in _BY_NAME]
    repeated = sorted({name for name in names if names.count(name) > 1})
    missing = [c.name for c in CAD_COLUMNS if c.required and c.name not in names]
    problems = []
    if unknown:
        problems.append(f"unknown columns {', '.join(map(repr, unknown))}")
    if repeated:
        problems.append(f"columns given twice: {', '.join(repeated)}")
    if missing:
        problems.append(f"missing columns: {', '.join(missing)}")
    if problems:
        raise DeclarationFileError(
            f"{source}, row 1 (the header): {'; '.join(problems)}. The CAD layout's columns "
            f"(see `accord submit --help`): {', '.join(c.name for c in CAD_COLUMNS)}"
        )
    return [_BY_NAME[name] for name in names]


def _add_row(
    source: str,
    grouped: dict[str, tuple[dict[str, Any], list[int], dict[str, int]]],
    row: int,
    values: dict[str, str],
) -> list[str]:
    """Put one CSV row into its declaration; problems of the row as error lines."""
    problems = []
    line: dict[str, Any] = {}
    top: dict[str, Any] = {}
    for name, value in values.items():
        column = _BY_NAME[name]
        converted: Any = value
        if column.field == "lines.line":
            if not value.isdecimal():
                problems.append(f"{source}, row {row}: line_number: a whole number, got {value!r}")
                continue
            converted = int(value)
        elif column.field == "importer.excise_licensed":
            answer = _YES_NO.get(value.lower())
            if answer is None:
                problems.append(f"{source}, row {row}: excise_licensed: yes or no, got {value!r}")
                continue
            converted = answer
        elif column.field == "lines.vins":
            converted = [vin for vin in _VIN_SEPARATORS.split(value) if vin]
        (line if column.level == "line" else top)[column.field] = converted
    transaction = str(top.get("declaration_id", f"(row {row}: no transaction_number)"))
    if transaction not in grouped:
        grouped[transaction] = ({}, [], {})
    raw, rows, set_at = grouped[transaction]
    for field, value in top.items():
        owner, _, key = field.rpartition(".")
        target = raw.setdefault(owner, {}) if owner else raw
        if key in target and target[key] != value:
            problems.append(
                f"{source}, row {row}: {_BY_FIELD[field].name}: {value!r} differs from "
                f"{target[key]!r} on row {set_at[field]} of transaction {transaction}"
            )
        elif key not in target:
            target[key] = value
            set_at[field] = row
    raw.setdefault("lines", []).append({field.split(".", 1)[1]: v for field, v in line.items()})
    rows.append(row)
    return problems


def _validated(source: str, items: Sequence[_Item]) -> list[tuple[dict[str, Any], Declaration]]:
    # imported here: `accord`'s parser reads the layout above on every start, and most
    # verbs never validate a declaration
    from pydantic import ValidationError

    from schemas.declaration import Declaration

    found: list[tuple[dict[str, Any], Declaration]] = []
    problems: list[str] = []
    seen: dict[str, tuple[str, str]] = {}
    for item in items:
        try:
            declaration = Declaration.model_validate(item.raw)
        except ValidationError as exc:
            problems += [
                f"{source}, {item.place(tuple(error['loc']))}: {error['msg']}"
                for error in exc.errors()
            ]
            continue
        body = declaration.canonical_json()
        earlier = seen.get(declaration.declaration_id)
        if earlier is not None and earlier[1] != body:
            problems.append(
                f"{source}, {item.where}: declaration_id {declaration.declaration_id} is "
                f"already used by {earlier[0]} for another declaration"
            )
            continue
        seen[declaration.declaration_id] = (item.where, body)
        found.append((item.raw, declaration))
    if problems:
        more = len(problems) - MAX_ERRORS
        tail = [f"... and {more} more"] if more > 0 else []
        raise DeclarationFileError("\n".join(problems[:MAX_ERRORS] + tail))
    return found
