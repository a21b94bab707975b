"""The documents that draw the structure name only what exists: every file path
(`workers/submission.py`, `rules/packs/*.yaml`, a bare `record.lua`) and every dotted name
of the project's packages (`rules.currency.rate_query`, `store.redis_store`) that
docs/architecture.md and docs/engine.md mention is found in the tree, so that a module
moved or renamed cannot leave a walk of the code pointing at its old home."""

from __future__ import annotations

import importlib
import re

import pytest

from conftest import ROOT

DOCUMENTS = ("docs/architecture.md", "docs/engine.md")
PACKAGES = ("settings", "schemas", "rules", "store", "workers", "service", "cli")

# a path with at least one folder (a glob's `*` allowed), or a bare file name
PATH = re.compile(r"(?<![\w./-])((?:[\w-]+/)+[\w*.-]*\.(?:py|lua|yaml|toml|md))\b")
BARE = re.compile(r"(?<![\w./-])([\w-]+\.(?:py|lua))\b")
DOTTED = re.compile(rf"(?<![\w./-])((?:{'|'.join(PACKAGES)})(?:\.\w+)+)")


def _mentions(pattern: re.Pattern[str]) -> list[tuple[str, str]]:
    return sorted(
        {
            (document, match.group(1))
            for document in DOCUMENTS
            for match in pattern.finditer((ROOT / document).read_text(encoding="utf-8"))
        }
    )


def _tracked(name: str) -> bool:
    return any(".venv" not in found.parts for found in ROOT.rglob(name))


def _resolves(dotted: str) -> bool:
    """A module, or a module and the attributes read on it (`rules.verdict.finalize`)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            if not hasattr(found, attribute):
                return False
            found = getattr(found, attribute)
        return True
    return False


@pytest.mark.parametrize(("document", "path"), _mentions(PATH))
def test_every_path_a_document_names_exists(document: str, path: str) -> None:
    """A path is read from the repository's root, or beside the document (a link)."""
    beside = (ROOT / document).parent
    assert any(
        any(base.glob(path)) if "*" in path else (base / path).exists() for base in (ROOT, beside)
    ), f"{document} names {path}, which does not exist"


@pytest.mark.parametrize(("document", "name"), _mentions(BARE))
def test_every_file_a_document_names_alone_exists(document: str, name: str) -> None:
    """A file named without its folder (`submit.lua`, `state_lock.py`) is somewhere."""
    assert _tracked(name), f"{document} names {name}, which no folder holds"


@pytest.mark.parametrize(("document", "dotted"), _mentions(DOTTED))
def test_every_dotted_name_a_document_names_resolves(document: str, dotted: str) -> None:
    """`package.module` and `package.module.name` import and are found."""
    assert _resolves(dotted), f"{document} names {dotted}, which does not resolve"


def test_the_documents_name_modules_at_all() -> None:
    """The patterns find what the documents do name (a pattern that matched nothing would
    make every test above vacuous)."""
    paths = {path for _, path in _mentions(PATH)}
    dotted = {name for _, name in _mentions(DOTTED)}
    assert {"workers/submission.py", "rules/matching.py"} <= paths
    assert "workers.allocation.run_day" in dotted


def test_engine_md_names_every_memo_of_the_rules_core() -> None:
    """Every bounded memo of the rules core (each `LRU` a module of rules/ keeps) is named
    in docs/engine.md by its module, so that a memo added or moved is documented where
    the memos are listed."""
    from rules.memos import LRU

    text = (ROOT / "docs/engine.md").read_text(encoding="utf-8")
    kept = sorted(
        f"rules.{path.stem}.{name}"
        for path in (ROOT / "rules").glob("*.py")
        for name, value in vars(importlib.import_module(f"rules.{path.stem}")).items()
        if isinstance(value, LRU)
    )
    assert len(kept) >= 7
    assert [name for name in kept if f"`{name}`" not in text] == []


def test_engine_md_names_every_module_of_rules() -> None:
    """docs/engine.md's layout lists every module of rules/, so that a module added to
    the package, or split off one, says there what its job is."""
    text = (ROOT / "docs/engine.md").read_text(encoding="utf-8")
    modules = sorted(f"rules/{path.name}" for path in (ROOT / "rules").glob("[!_]*.py"))
    assert [module for module in modules if f"`{module}`" not in text] == []
