"""The committed OpenAPI document is the one the code serves; the API is versioned and authenticated."""

from __future__ import annotations

import json

from runtime.settings import Settings
from services.intake.openapi import DOCUMENT, render
from tests.support.shops import write_shops_file


def test_the_committed_openapi_document_matches_the_code() -> None:
    generated = render(Settings(CARELOOP_SHOPS_FILE=write_shops_file()))
    assert DOCUMENT.read_text() == generated, "regenerate: python -m services.intake.openapi"


def test_every_path_is_versioned_and_needs_a_shop_key() -> None:
    document = json.loads(DOCUMENT.read_text())
    assert document["paths"]
    for path, operations in document["paths"].items():
        assert path.startswith("/v1/")
        for operation in operations.values():
            assert operation["security"] == [{"HTTPBearer": []}], path
            assert "404" in operation["responses"]
            assert "422" in operation["responses"]
