"""The committed OpenAPI document is the one the code serves."""

from __future__ import annotations

import json

from tools.openapi import document_path, render


def generated() -> str:
    text = render("survey")
    assert text is not None
    return text


def test_committed_openapi_is_current() -> None:
    assert document_path("survey").read_text() == generated(), "regenerate: make generate"


def test_openapi_lists_the_survey_routes() -> None:
    paths = json.loads(generated())["paths"]
    assert {"/s/{token}", "/v1/answers", "/v1/reports/nps", "/v1/reports/csat", "/v1/reports/ces"} <= set(
        paths
    )
    assert {"get", "post"} <= set(paths["/s/{token}"])
