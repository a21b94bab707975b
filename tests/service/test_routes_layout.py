"""Routes live in service/routes/ and nowhere else: no other module of the service
declares one, whether by decorator or by add_api_route."""

from __future__ import annotations

import re

from conftest import ROOT

SERVICE = ROOT / "service"
ROUTE = re.compile(
    r"@\w+\.(get|post|put|patch|delete|head|options|api_route|route|websocket)\("
    r"|\.add_api_route\(|\.add_route\(|\.add_websocket_route\("
)


def test_no_module_outside_service_routes_defines_a_route() -> None:
    """Every route declaration of service/ is in a module of service/routes/."""
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted(SERVICE.rglob("*.py"))
        if "routes" not in path.relative_to(SERVICE).parts
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if ROUTE.search(line)
    ]
    assert found == []


def test_the_layout_test_would_see_a_route() -> None:
    """The pattern matches the ways a route is declared (so an empty result means none)."""
    for line in ('@app.get("/x")', '@router.post("")', "app.add_api_route('/x', f)"):
        assert ROUTE.search(line), line
    assert list((SERVICE / "routes").glob("*.py"))
