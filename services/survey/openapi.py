"""`python -m services.survey.openapi` writes docs/api/survey-openapi.json from the code."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from runtime.db import Database
from runtime.settings import Settings
from runtime.shops import ShopRegistry
from services.survey import handlers
from services.survey.api import build_api
from services.survey.config import SurveyConfig

OPENAPI_FILE = Path(__file__).resolve().parents[2] / "docs" / "api" / "survey-openapi.json"


def render() -> str:
    settings = Settings().for_service("survey")
    ctx = handlers.Context(
        shops=ShopRegistry([]),
        config=SurveyConfig(),
        topic="survey.events",
        public_base_url=settings.public_base_url,
        now=lambda: datetime.now(UTC),
    )
    api = build_api(Database(settings), ctx, ctx.now)
    return json.dumps(api.openapi(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    OPENAPI_FILE.parent.mkdir(parents=True, exist_ok=True)
    OPENAPI_FILE.write_text(render())
    print(f"wrote {OPENAPI_FILE}")
