"""The committed OpenAPI document is the one the code serves; the API is versioned and authenticated."""

from __future__ import annotations

import json

from tools.openapi import document_path, render

DOCUMENT = document_path("intake")


def test_the_committed_openapi_document_matches_the_code() -> None:
    assert DOCUMENT.read_text() == render("intake"), "regenerate: make generate"


def test_every_path_is_versioned_and_needs_a_shop_key() -> None:
    document = json.loads(DOCUMENT.read_text())
    assert document["paths"]
    for path, operations in document["paths"].items():
        assert path.startswith("/v1/")
        for operation in operations.values():
            assert operation["security"] == [{"HTTPBearer": []}], path
            assert "404" in operation["responses"]
            assert "422" in operation["responses"]
