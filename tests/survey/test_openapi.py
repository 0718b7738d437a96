"""The committed OpenAPI document is the one the code serves."""

from __future__ import annotations

import json

from services.survey.openapi import OPENAPI_FILE, render


def test_committed_openapi_is_current() -> None:
    assert OPENAPI_FILE.read_text() == render(), "run: .venv/bin/python -m services.survey.openapi"


def test_openapi_lists_the_survey_routes() -> None:
    paths = json.loads(render())["paths"]
    assert {"/s/{token}", "/v1/answers", "/v1/reports/nps", "/v1/reports/csat", "/v1/reports/ces"} <= set(
        paths
    )
    assert {"get", "post"} <= set(paths["/s/{token}"])
