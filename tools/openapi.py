"""The published OpenAPI documents of the services' HTTP APIs, docs/api/<service>-openapi.json.

    python -m tools.openapi          write them (also part of `make generate`)
    python -m tools.openapi --check  exit 1 if a committed document differs from the code

Each service's app is built exactly as it runs (bootstrap.build) but never started, so nothing
connects anywhere; the demo shop registry is enough to build it.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

from runtime.settings import Settings
from services import SERVICE_NAMES

ROOT = Path(__file__).resolve().parent.parent
SHOPS = ROOT / "deploy" / "local" / "shops.json"


def document_path(service: str) -> Path:
    return ROOT / "docs" / "api" / f"{service}-openapi.json"


def document(service: str) -> dict[str, Any] | None:
    settings = Settings().for_service(service).model_copy(update={"shops_file": SHOPS})
    app = importlib.import_module(f"services.{service}.bootstrap").build(settings)
    api = app.runtime.api
    if api is None or not hasattr(api, "openapi"):
        return None
    spec: dict[str, Any] = api.openapi()
    return spec


def render(service: str) -> str | None:
    spec = document(service)
    return None if spec is None else json.dumps(spec, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    stale = []
    for service in SERVICE_NAMES:
        text = render(service)
        if text is None:
            continue
        path = document_path(service)
        if "--check" in argv:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path.relative_to(ROOT)))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path.relative_to(ROOT)}", file=sys.stderr)
    if stale:
        print("stale OpenAPI documents (run `make generate`):", *stale, sep="\n  ", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
