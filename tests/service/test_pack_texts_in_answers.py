"""A verdict, the measures and the quotas are read in the language asked: the packs'
texts (findings' messages with their values, measure and source titles, charges not
assessed) come from the pack catalogues, and nothing else of the answer changes. The
record does not: the stored verdict's hash and the audit trail's verification are the
same whatever the language read.

The catalogues here are made for the test from the shipped packs, each translation the
English text behind a mark, so that taking the marks out of a translated answer must
give the English answer byte for byte."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from babel.messages.catalog import Catalog as PoCatalog
from babel.messages.pofile import write_po

from conftest import ROOT, HttpServer, InProcess, in_process
from rules.catalog import Catalog
from rules.translations import (
    Catalogue,
    Language,
    PackTexts,
    arrangement_texts,
    pack_texts,
    read_catalogue,
)
from schemas.verification import verdict_sha256

MARKS: dict[Language, str] = {"fr": "FR· ", "zh": "中文："}
EXAMPLES = ROOT / "examples"


def _marked_texts(catalog: Catalog, directory: Path) -> PackTexts:
    """Catalogues of every text of the loaded packs, each translation the English behind a
    mark, and nothing else: the shipped catalogues, whatever they hold, are not read."""
    english = sorted(
        {text.english for pack in catalog.packs for text in pack_texts(pack)}
        | {text.english for item in catalog.arrangements for text in arrangement_texts(item, "")}
    )
    catalogues: dict[Language, list[Catalogue]] = {}
    for language, mark in MARKS.items():
        catalogue = PoCatalog(locale=language, project="Accord", fuzzy=False)
        for text in english:
            catalogue.add(text, mark + text, flags=["unofficial"])
        path = directory / f"{language}.po"
        with path.open("wb") as file:
            write_po(file, catalogue)
        catalogues[language] = [read_catalogue(path)]
    templates = {
        (pack.id, pack.version, rule.id): rule.message
        for pack in catalog.packs
        for measure in pack.measures
        for rule in measure.rules
    }
    return PackTexts(catalogues, templates)


@pytest.fixture
def marked_api(
    http_server: HttpServer, redis_url: str, catalog: Catalog, tmp_path: Path
) -> Iterator[InProcess]:
    marked = dataclasses.replace(catalog, texts=_marked_texts(catalog, tmp_path))
    with in_process(http_server, redis_url, tmp_path, marked) as running:
        yield running


def _read(client: httpx.Client, path: str, language: str) -> httpx.Response:
    response = client.get(path, headers={"Accept-Language": language})
    assert response.status_code == 200, response.text
    return response


def _decided(client: httpx.Client, example: str) -> str:
    body = json.loads((EXAMPLES / example).read_text(encoding="utf-8"))
    assert client.post("/v1/declarations", json=body).status_code == 202
    declaration_id = str(body["declaration_id"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = client.get(f"/v1/declarations/{declaration_id}?wait=5").json()["status"]
        if status == "decided":
            return declaration_id
    raise AssertionError(f"{declaration_id} was not decided")


def test_a_verdict_in_three_languages_is_one_record(marked_api: InProcess) -> None:
    """The verdicts of a Canadian and a Chinese declaration read in French and Chinese
    carry every finding's message translated with its values, and are the English answer
    once the translations' marks are taken out; the stored verdict's hash and the audit
    trail, verified, are the same after every reading."""
    store = marked_api.api_store
    assert store is not None
    with marked_api.client("admin") as client:
        for example in ["cad-2025-0001.json", "cn-2026-0001.json"]:
            declaration_id = _decided(client, example)
            stored = store.get(declaration_id)
            assert stored is not None and stored.verdict
            before = verdict_sha256(stored.verdict)
            english = _read(client, f"/v1/declarations/{declaration_id}", "en")
            audits = []
            for language, asked in [("fr", "fr-CA"), ("zh", "zh-CN")]:
                answer = _read(client, f"/v1/declarations/{declaration_id}", asked)
                assert answer.headers["content-language"] == language
                findings = answer.json()["findings"]
                assert findings
                for finding in findings:
                    assert finding["message"].startswith(MARKS[language]), finding
                not_assessed = answer.json()["not_assessed"]
                for charge in not_assessed:
                    assert charge["tax"].startswith(MARKS[language])
                    assert charge["reason"].startswith(MARKS[language])
                mark = MARKS[language].encode()
                assert answer.content.replace(mark, b"") == english.content
                audits.append(_read(client, f"/v1/declarations/{declaration_id}/audit", asked))
            audits.append(_read(client, f"/v1/declarations/{declaration_id}/audit", "en"))
            assert all(audit.json()["verified"] is True for audit in audits)
            assert len({audit.content for audit in audits}) == 1
            after = store.get(declaration_id)
            assert after is not None and after.verdict == stored.verdict
            assert verdict_sha256(after.verdict) == before
            assert after.audit_head == stored.audit_head


def test_measures_quotas_and_arrangements_are_read_in_the_language_asked(
    marked_api: InProcess,
) -> None:
    """Measure titles, their sources' titles, a quota's measure, an arrangement's title
    and parties, and its linkage findings are translated; the answers are the English
    ones once the marks are out."""
    with marked_api.client("admin") as client:
        for path in [
            "/v1/measures?as_of=2026-03-05",
            "/v1/measures/CA-CN-EV-TRQ-2026/checks?as_of=2026-11-30",
            "/v1/quotas?as_of=2026-11-30",
            "/v1/quotas/CA-CN-EV-TRQ-2026?as_of=2026-11-30",
            "/v1/arrangements",
            "/v1/arrangements/CA-CN-2026?as_of=2027-01-01",
        ]:
            english = _read(client, path, "en")
            for language in MARKS:
                answer = _read(client, path, language)
                assert MARKS[language] in answer.text, path
                assert answer.content.replace(MARKS[language].encode(), b"") == english.content
        measures = _read(client, "/v1/measures?as_of=2026-03-05", "zh").json()["measures"]
        assert all(item["title"].startswith(MARKS["zh"]) for item in measures)
        assert all(item["source"]["title"].startswith(MARKS["zh"]) for item in measures)
        assert all(not item["id"].startswith(MARKS["zh"]) for item in measures)
        view = _read(client, "/v1/arrangements/CA-CN-2026?as_of=2027-01-01", "fr").json()
        assert view["title"].startswith(MARKS["fr"]) and view["linkage"]
        assert all(finding["message"].startswith(MARKS["fr"]) for finding in view["linkage"])
        assert all(side["party"].startswith(MARKS["fr"]) for side in view["sides"])
