"""`python -m services.<name>`: settings from the environment, logging, serve until a signal."""

from __future__ import annotations

import importlib

from runtime.logs import configure_logging
from runtime.service import ServiceApp, serve
from runtime.settings import Settings


def main(service: str, default_port: int) -> None:
    settings = Settings().for_service(service)
    configure_logging(service, settings.log_level, settings.log_format)
    bootstrap = importlib.import_module(f"services.{service}.bootstrap")
    app: ServiceApp = bootstrap.build(settings)
    serve(app, default_port)
