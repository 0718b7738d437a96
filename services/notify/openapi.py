"""`python -m services.notify.openapi` writes the published OpenAPI document of the notify API
(docs/api/notify-openapi.json); a test fails when the committed copy is out of date."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from runtime.service import ServiceRuntime
from runtime.settings import Settings
from services.notify.api import build_api
from services.notify.bootstrap import MIGRATIONS
from services.notify.config import NotifyConfig

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "docs" / "api" / "notify-openapi.json"


def document() -> dict[str, Any]:
    # Built without connecting anywhere: the runtime only needs a shop registry to exist.
    settings = (
        Settings()
        .for_service("notify")
        .model_copy(update={"shops_file": ROOT / "deploy" / "local" / "shops.json"})
    )
    spec: dict[str, Any] = build_api(ServiceRuntime(settings, MIGRATIONS), NotifyConfig()).openapi()
    return spec


def render() -> str:
    return json.dumps(document(), indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    DOCUMENT.parent.mkdir(parents=True, exist_ok=True)
    DOCUMENT.write_text(render())
    print(f"wrote {DOCUMENT.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
