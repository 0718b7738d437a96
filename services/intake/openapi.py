"""`python -m services.intake.openapi`: write the committed OpenAPI document (a test keeps it current)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from runtime.settings import Settings

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "api" / "intake-openapi.json"


def render(settings: Settings | None = None) -> str:
    from services.intake.bootstrap import build

    app = build((settings or Settings()).for_service("intake"))
    api = app.runtime.api
    assert api is not None
    assert hasattr(api, "openapi")
    return json.dumps(api.openapi(), indent=2, sort_keys=True) + "\n"


def main() -> int:
    DOCUMENT.parent.mkdir(parents=True, exist_ok=True)
    DOCUMENT.write_text(render())
    print(f"wrote {DOCUMENT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
