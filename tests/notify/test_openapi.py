"""The published OpenAPI document is the one the code serves."""

from __future__ import annotations

import json
from typing import Any

from tools.openapi import document as service_document
from tools.openapi import document_path

DOCUMENT = document_path("notify")


def document() -> dict[str, Any]:
    spec = service_document("notify")
    assert spec is not None
    return spec


def test_the_committed_openapi_document_is_current() -> None:
    committed = json.loads(DOCUMENT.read_text())
    assert committed == document(), "regenerate: make generate"


def test_every_route_is_versioned_and_authenticated() -> None:
    spec = document()
    assert set(spec["paths"]) >= {
        "/v1/endpoints",
        "/v1/endpoints/{endpoint_id}",
        "/v1/endpoints/{endpoint_id}/secret/rotate",
        "/v1/endpoints/{endpoint_id}/deliveries",
        "/v1/endpoints/{endpoint_id}/replay-failed",
        "/v1/deliveries/{delivery_id}",
        "/v1/deliveries/{delivery_id}/replay",
        "/v1/templates",
        "/v1/templates/{event_type}/{language}",
    }
    for path, operations in spec["paths"].items():
        assert path.startswith("/v1/")
        for method, operation in operations.items():
            assert operation.get("security") == [{"HTTPBearer": []}], f"{method} {path}"
    created = spec["components"]["schemas"]["EndpointCreated"]["properties"]
    listed = spec["components"]["schemas"]["EndpointOut"]["properties"]
    assert "secret" in created
    assert "secret" not in listed
