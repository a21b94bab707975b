"""Declaration files for `accord submit` and `accord simulate`: the CAD CSV layout mapped
onto the declaration schema, JSON and JSON Lines, and errors that name the place in the
file and the field, every one of them, before anything is sent."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from cli.declaration_files import CAD_COLUMNS, DeclarationFileError, read
from cli.main import main
from conftest import ROOT

EXAMPLES = ROOT / "examples"
HEADER = [column.name for column in CAD_COLUMNS]
ROW = {
    "transaction_number": "CAD-1",
    "importer_number": "123456789RM0001",
    "importer_name": "Maple Motors Inc.",
    "import_type": "commercial",
    "release_date": "2025-12-01T10:00:00-05:00",
    "currency": "CAD",
    "line_number": "1",
    "description": "Battery electric passenger automobile",
    "country_of_origin": "CN",
    "classification_number": "8703.80.00.10",
    "quantity": "2",
    "unit_of_measure": "NMB",
    "value_for_duty": "80000.00",
}


def csv_text(*rows: dict[str, str], header: list[str] | None = None) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header or HEADER, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def write(tmp_path: Path, text: str, name: str = "declarations.csv") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def problems(source: str) -> str:
    with pytest.raises(DeclarationFileError) as caught:
        read(source)
    return str(caught.value)


def test_csv_rows_of_one_transaction_make_one_declaration_with_its_lines(tmp_path: Path) -> None:
    """Rows sharing a transaction number become one declaration, lines in row order, empty cells absent."""
    rows = [
        ROW,
        {**ROW, "line_number": "2", "quantity": "1", "value_for_duty": "45000.00",
         "vins": "LRW3E7FA5TC000017", "fob_unit_price": "44000.00"},
        {**ROW, "transaction_number": "CAD-2", "country_of_origin": "US"},
    ]  # fmt: skip
    found = read(write(tmp_path, csv_text(*rows)))
    assert [declaration.declaration_id for _, declaration in found] == ["CAD-1", "CAD-2"]
    raw, first = found[0]
    assert [line.line for line in first.lines] == [1, 2]
    assert first.lines[1].vins == ("LRW3E7FA5TC000017",)
    assert str(first.lines[1].fob_unit_price) == "44000.00"
    assert "fob_unit_price" not in raw["lines"][0] and "shipment_date" not in raw
    assert first.lines[0].tariff_item == "8703800010"


def test_csv_and_json_of_the_same_declarations_are_the_same_declarations(tmp_path: Path) -> None:
    """Every CSV column maps onto the schema: the JSON examples written as CSV read back identical."""
    jsonl = read(str(EXAMPLES / "declarations.jsonl"))
    rows = []
    for _, declaration in jsonl:
        body = declaration.model_dump(mode="json", exclude_none=True)
        for line in body["lines"]:
            row = {}
            for column in CAD_COLUMNS:
                owner, _, key = column.field.rpartition(".")
                source = line if owner == "lines" else body.get(owner, {}) if owner else body
                if key in source:
                    value = source[key]
                    row[column.name] = " ".join(value) if key == "vins" else str(value)
            rows.append(row)
    found = read(write(tmp_path, csv_text(*rows)))
    assert [d.canonical_json() for _, d in found] == [d.canonical_json() for _, d in jsonl]


def test_a_chapter_99_row_carries_its_underlying_classification_and_without_it_is_named(
    tmp_path: Path,
) -> None:
    """underlying_classification_number fills the line's underlying_tariff_item; a Chapter 99 row without it is refused naming the row and that column."""
    steel = {**ROW, "description": "Hot-rolled steel plate", "classification_number":
             "9903.00.00.00", "unit_of_measure": "KGM", "quantity": "12000"}  # fmt: skip
    ((_, found),) = read(write(tmp_path, csv_text({**steel, "underlying_classification_number":
                                                   "7208.51.00.00"})))  # fmt: skip
    assert found.lines[0].tariff_item == "9903000000"
    assert found.lines[0].underlying_tariff_item == "7208510000"
    message = problems(write(tmp_path, csv_text(steel), "bad.csv"))
    assert "row 2" in message and "underlying_classification_number" in message
    assert "required with a Chapter 99" in message


def test_csv_headers_match_in_any_case_and_a_spreadsheets_bom_and_crlf_are_read(
    tmp_path: Path,
) -> None:
    """'Transaction Number' is transaction_number; a UTF-8 BOM and CRLF line ends change nothing."""
    header = [name.replace("_", " ").title() for name in ROW]
    text = ",".join(header) + "\r\n" + ",".join(ROW.values()) + "\r\n"
    path = tmp_path / "export.csv"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    [(_, declaration)] = read(str(path))
    assert declaration.declaration_id == "CAD-1"


@pytest.mark.parametrize("delimiter", [";", "\t"], ids=["semicolon", "tab"])
def test_csv_with_semicolons_or_tabs_is_read_by_its_header(tmp_path: Path, delimiter: str) -> None:
    """A spreadsheet that separates cells with ';' (French-Canadian) or tabs is read the same."""
    text = delimiter.join(ROW) + "\n" + delimiter.join(ROW.values()) + "\n"
    [(_, declaration)] = read(write(tmp_path, text))
    assert declaration.lines[0].description == "Battery electric passenger automobile"


def test_csv_errors_name_every_row_and_column(tmp_path: Path) -> None:
    """Each bad row is named with its column and the schema's reason, not only the first."""
    rows = [
        ROW,
        {**ROW, "line_number": "2", "country_of_origin": "ZZ"},
        {**ROW, "transaction_number": "CAD-2", "value_for_duty": "1e5"},
        {**ROW, "transaction_number": "CAD-3", "importer_name": ""},
    ]
    text = problems(write(tmp_path, csv_text(*rows)))
    assert "row 3: country_of_origin: origin ZZ is not an assigned" in text
    assert "row 4: value_for_duty: value_for_duty must be a plain decimal" in text
    assert "row 5: importer_name: Field required" in text
    assert "row 2" not in text


@pytest.mark.parametrize(
    ("rows", "header", "words"),
    [
        ([{**ROW, "line_number": "one"}], None, ["row 2: line_number: a whole number, got 'one'"]),
        ([ROW, {**ROW, "line_number": "2", "currency": "USD"}], None,
         ["row 3: currency: 'USD' differs from 'CAD' on row 2 of transaction CAD-1"]),
        ([ROW], [*HEADER, "colour"], ["row 1 (the header)", "unknown columns 'colour'"]),
        ([{k: v for k, v in ROW.items() if k != "quantity"}],
         [name for name in HEADER if name != "quantity"], ["missing columns: quantity"]),
        ([ROW, {**ROW, "line_number": "1", "quantity": "3"}], None,
         ["row 2: line_number: line numbers must be unique: 1 appears twice"]),
    ],
    ids=["line-number", "disagreeing-rows", "unknown-column", "missing-column", "repeated-line"],
)  # fmt: skip
def test_csv_layout_errors_name_the_row(
    tmp_path: Path, rows: list[dict[str, str]], header: list[str] | None, words: list[str]
) -> None:
    """A bad cell, rows of a transaction that disagree, or a header that is not the layout: the row is named."""
    text = problems(write(tmp_path, csv_text(*rows, header=header)))
    for word in words:
        assert word in text


def test_csv_row_with_the_wrong_number_of_cells_is_named(tmp_path: Path) -> None:
    """A row with more or fewer cells than the header is refused with its row number."""
    text = csv_text(ROW) + "CAD-2,123456789RM0001\n"
    assert "row 3: 2 cells, the header has" in problems(write(tmp_path, text))


def test_json_list_and_jsonl_errors_name_the_item_or_line_and_field(tmp_path: Path) -> None:
    """A JSON list names the item, JSON Lines the line, both with the field's path as the API names it."""
    good = json.loads((EXAMPLES / "cad-2025-0001.json").read_text())
    bad = {**good, "declaration_id": "B", "lines": [{**good["lines"][0], "quantity": "-2"}]}
    listed = problems(write(tmp_path, json.dumps([good, bad]), "list.json"))
    assert "item 2: lines[0].quantity: quantity must be greater than 0" in listed
    lines = problems(write(tmp_path, f"{json.dumps(good)}\n\n{json.dumps(bad)}\n", "d.jsonl"))
    assert "line 3: lines[0].quantity" in lines
    broken = problems(write(tmp_path, f"{json.dumps(good)}\n{{oops\n", "e.jsonl"))
    assert "line 2: not JSON" in broken


def test_a_saved_batch_body_reads_as_its_list(tmp_path: Path) -> None:
    """`{"declarations": [...]}`, the batch endpoint's body, reads as the list it holds."""
    good = json.loads((EXAMPLES / "cad-2025-0001.json").read_text())
    other = {**good, "declaration_id": "CAD-2025-0002"}
    body = json.dumps({"declarations": [good, other]})
    found = read(write(tmp_path, body, "batch.json"))
    assert [d.declaration_id for _, d in found] == ["CAD-2025-0001", "CAD-2025-0002"]


def test_an_id_used_twice_for_different_declarations_is_refused(tmp_path: Path) -> None:
    """The same declaration_id for two different bodies is an error; the same body twice is not."""
    good = json.loads((EXAMPLES / "cad-2025-0001.json").read_text())
    other = {**good, "currency": "USD"}
    assert len(read(write(tmp_path, json.dumps([good, good]), "same.json"))) == 2
    text = problems(write(tmp_path, json.dumps([good, other]), "clash.json"))
    assert "item 2: declaration_id CAD-2025-0001 is already used by item 1" in text


def test_a_missing_file_says_it_cannot_be_read(tmp_path: Path) -> None:
    """A file that does not exist is named with the reason."""
    assert "cannot read: No such file or directory" in problems(str(tmp_path / "absent.csv"))


def test_submit_of_a_bad_file_exits_2_before_any_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad CSV is refused before the API is called (the API here is unreachable: a call would exit 3)."""
    monkeypatch.setenv("ACCORD_API_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("ACCORD_TOKEN", "x")
    source = write(tmp_path, csv_text(ROW, {**ROW, "transaction_number": "CAD-2", "quantity": ""}))
    assert main(["submit", source]) == 2
    err = capsys.readouterr().err
    assert "nothing submitted" in err and "row 3: quantity: Field required" in err
    assert main(["submit", str(EXAMPLES / "declarations.csv")]) == 3  # a good file is sent


def test_every_example_file_reads(tmp_path: Path) -> None:
    """The shipped examples are valid declarations in each format."""
    counts = {
        path.name: len(read(str(path)))
        for path in sorted(EXAMPLES.iterdir())
        if path.suffix in (".csv", ".jsonl") or path.name.startswith(("cad-", "cn-"))
    }
    assert counts == {
        "cad-2025-0001.json": 1,
        "cad-2026-0100.json": 1,
        "cad-2026-0110.json": 1,
        "cn-2026-0001.json": 1,
        "declarations.csv": 6,
        "declarations.jsonl": 3,
        "ev-quota-year.jsonl": 413,
    }


@pytest.mark.parametrize(
    ("cell", "licensed"), [("yes", True), ("No", False), ("true", True), ("", None)]
)
def test_csv_excise_licensed_reads_yes_or_no_onto_the_importer(
    tmp_path: Path, cell: str, licensed: bool | None
) -> None:
    """The excise_licensed column says whether the importer is licensed under the Excise Tax
    Act; an empty cell leaves it unsaid."""
    [(_, declaration)] = read(write(tmp_path, csv_text({**ROW, "excise_licensed": cell})))
    assert declaration.importer.excise_licensed is licensed


def test_csv_excise_licensed_other_than_yes_or_no_names_its_row_and_column(tmp_path: Path) -> None:
    """A value that is neither yes nor no is an error naming the row and the column."""
    with pytest.raises(DeclarationFileError) as raised:
        read(write(tmp_path, csv_text({**ROW, "excise_licensed": "maybe"})))
    assert "row 2: excise_licensed: yes or no, got 'maybe'" in str(raised.value)
