"""The OpenAPI document's request bodies and examples, and the schemas no route can name
itself. The submission routes read their bodies themselves (so that every malformed
body gets Accord's own 422), so their schemas are declared here, from the same pydantic
models that validate them; the export's JSON lines have no response model, so the
line's schema is added here for the route's media type to refer to."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from schemas.declaration import Declaration
from schemas.responses import ExportLine

DECLARATION_EXAMPLE: dict[str, Any] = {
    "declaration_id": "CAD-2026-000123",
    "importer": {"business_number": "123456789RM0001", "name": "Maple Motors Inc."},
    "import_type": "commercial",
    "accepted_at": "2026-03-10T10:00:00-05:00",
    "currency": "CAD",
    "lines": [
        {
            "line": 1,
            "tariff_item": "8703.80.00.10",
            "origin": "CN",
            "description": "Battery electric passenger automobile",
            "quantity": "10",
            "unit": "NMB",
            "value_for_duty": "300000.00",
            "fob_unit_price": "29500.00",
            "permit_number": "EV-2026-000042",
        }
    ],
}

EXAMPLES: dict[tuple[str, str], Any] = {
    ("/v1/permits", "post"): {
        "permit_number": "EV-2026-000042",
        "business_number": "123456789RM0001",
        "measure": "CA-CN-EV-TRQ-2026",
        "quantity": 10,
    },
    ("/v1/quotas/{quota_id}/runs", "post"): {"date": "2026-09-14"},
    ("/v1/quotas/{quota_id}/allocations", "post"): {
        "quota_year": 2,
        "business_number": "123456789RM0001",
        "initial": 1200,
    },
    ("/v1/replay", "post"): {"declaration_id": "CAD-2026-000123", "pack_version": "2026.1"},
}


def _body(schema: dict[str, Any], example: Any) -> dict[str, Any]:
    return {
        "required": True,
        "content": {"application/json": {"schema": schema, "example": example}},
    }


def install(app: FastAPI) -> None:
    def build() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        document = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = document.setdefault("components", {}).setdefault("schemas", {})
        schema = Declaration.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(schema.pop("$defs", {}))
        components["Declaration"] = schema
        line = ExportLine.model_json_schema(
            ref_template="#/components/schemas/{model}", mode="serialization"
        )
        for name, definition in line.pop("$defs", {}).items():
            components.setdefault(name, definition)  # the routes' own schema, if any, stays
        components["ExportLine"] = line
        reference = {"$ref": "#/components/schemas/Declaration"}
        paths = document["paths"]
        paths["/v1/declarations"]["post"]["requestBody"] = _body(reference, DECLARATION_EXAMPLE)
        paths["/v1/declarations/batch"]["post"]["requestBody"] = _body(
            {
                "type": "object",
                "required": ["declarations"],
                "additionalProperties": False,
                "properties": {
                    "declarations": {"type": "array", "items": reference, "maxItems": 1000}
                },
            },
            {"declarations": [DECLARATION_EXAMPLE]},
        )
        for (path, method), example in EXAMPLES.items():
            body = paths[path][method].get("requestBody", {})
            for media in body.get("content", {}).values():
                media["example"] = example
        app.openapi_schema = document
        return document

    app.openapi = build  # type: ignore[method-assign]
