"""Chinese importer names and goods descriptions come back as they were sent: through the
API as UTF-8 JSON, in a CAD CSV file in UTF-8 with or without a byte-order mark (or a
spreadsheet's UTF-16 "Unicode text"), and in the export; a file in another encoding is
refused in words, never read as mojibake."""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import ROOT, InProcess, unique_id
from service.cli import main as accord
from service.declaration_files import CAD_COLUMNS, DeclarationFileError, read

NAME = "青岛丰收粮油进出口有限公司"
SEED = "加拿大油菜籽（双低）"
MEAL = "菜籽粕 · 油饼"
EXAMPLE = json.loads((ROOT / "examples" / "cn-2026-0001.json").read_text(encoding="utf-8"))


def _chinese(declaration_id: str) -> dict[str, Any]:
    body = json.loads(json.dumps(EXAMPLE))
    body["declaration_id"] = declaration_id
    body["importer"]["name"] = NAME
    body["lines"][0]["description"] = SEED
    body["lines"][1]["description"] = MEAL
    return body


def _exported(client: httpx.Client, declaration_ids: list[str]) -> dict[str, Any]:
    """The export's line of each declaration, once every one is decided."""
    for declaration_id in declaration_ids:
        deadline = time.monotonic() + 30
        while client.get(f"/v1/declarations/{declaration_id}?wait=5").json()["status"] in (
            "queued",
            "evaluating",
        ):
            assert time.monotonic() < deadline, declaration_id
    now = datetime.now(UTC)
    params = {
        "from": (now - timedelta(hours=1)).isoformat(),
        "to": (now + timedelta(hours=1)).isoformat(),
    }
    response = client.get("/v1/export", params=params)
    assert response.status_code == 200
    lines = [json.loads(line) for line in response.content.decode("utf-8").splitlines()]
    found = {line["declaration"]["declaration_id"]: line for line in lines if "declaration" in line}
    return {declaration_id: found[declaration_id] for declaration_id in declaration_ids}


def _names(line: dict[str, Any]) -> tuple[str, list[str]]:
    declaration = line["declaration"]
    return declaration["importer"]["name"], [item["description"] for item in declaration["lines"]]


def test_chinese_names_round_trip_through_the_api(api: InProcess) -> None:
    """A declaration sent as UTF-8 JSON (and as JSON with \\u escapes, and in a batch) is
    exported with its Chinese importer name and descriptions as sent, and its trail
    verifies."""
    raw, escaped, batched = (unique_id("ZH") for _ in range(3))
    with api.client("admin") as client:
        sent = client.post(
            "/v1/declarations",
            content=json.dumps(_chinese(raw), ensure_ascii=False).encode("utf-8"),
            headers={"Content-Type": "application/json; charset=utf-8"},
        )
        assert sent.status_code == 202, sent.text
        assert client.post("/v1/declarations", json=_chinese(escaped)).status_code == 202
        batch = client.post("/v1/declarations/batch", json={"declarations": [_chinese(batched)]})
        assert batch.json()["results"][0]["status_code"] == 202
        exported = _exported(client, [raw, escaped, batched])
        for declaration_id, line in exported.items():
            assert _names(line) == (NAME, [SEED, MEAL]), declaration_id
            assert line["audit"]["verified"] is True
        # sent twice with the same body, however spelt, it is the same declaration
        again = client.post("/v1/declarations", json=_chinese(raw))
        assert again.status_code == 200


def _cad_csv(declaration_id: str) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, [column.name for column in CAD_COLUMNS], lineterminator="\r\n")
    writer.writeheader()
    for number, line in enumerate(EXAMPLE["lines"], start=1):
        writer.writerow({
            "transaction_number": declaration_id,
            "importer_number": EXAMPLE["importer"]["business_number"],
            "importer_name": NAME,
            "import_type": "commercial",
            "release_date": EXAMPLE["accepted_at"],
            "currency": "CNY",
            "jurisdiction": "CN",
            "line_number": str(number),
            "description": [SEED, MEAL][number - 1],
            "country_of_origin": "CA",
            "classification_number": line["tariff_item"],
            "quantity": line["quantity"],
            "unit_of_measure": line["unit"],
            "value_for_duty": line["value_for_duty"],
        })  # fmt: skip
    return out.getvalue()


ENCODINGS = [("utf-8", "UTF-8"), ("utf-8-sig", "UTF-8 with BOM"), ("utf-16", "UTF-16 with BOM")]


@pytest.mark.parametrize(("encoding", "label"), ENCODINGS, ids=[label for _, label in ENCODINGS])
def test_a_csv_file_keeps_its_chinese_text(
    api: InProcess,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    encoding: str,
    label: str,
) -> None:
    """A CAD CSV file with Chinese text, in UTF-8 with or without a byte-order mark or in
    UTF-16, is read as written, submitted with `accord submit`, and exported as sent."""
    declaration_id = unique_id("ZHCSV")
    path = tmp_path / "declarations.csv"
    path.write_bytes(_cad_csv(declaration_id).encode(encoding))
    [(_, declaration)] = read(str(path))
    assert declaration.importer.name == NAME
    assert [line.description for line in declaration.lines] == [SEED, MEAL]
    code = accord(["--api", api.url, "--token", api.tokens["admin"], "submit", str(path)])
    assert code == 0, capsys.readouterr().err
    with api.client("admin") as client:
        [line] = _exported(client, [declaration_id]).values()
    assert _names(line) == (NAME, [SEED, MEAL])


def test_a_file_in_another_encoding_is_refused_in_words(tmp_path: Path) -> None:
    """A CSV saved in GB 18030 (a Chinese spreadsheet's default) is not guessed at: the
    error says to save it as UTF-8, and nothing is read."""
    path = tmp_path / "declarations.csv"
    path.write_bytes(_cad_csv("ZH-GB-1").encode("gb18030"))
    with pytest.raises(DeclarationFileError) as refused:
        read(str(path))
    assert "not UTF-8 text" in str(refused.value) and "CSV UTF-8" in str(refused.value)
