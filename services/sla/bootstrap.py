"""Wires the sla service into the shared runtime."""

from __future__ import annotations

from pathlib import Path

from runtime.service import ServiceApp, ServiceRuntime
from runtime.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


def build(settings: Settings) -> ServiceApp:
    runtime = ServiceRuntime(settings, MIGRATIONS)
    return runtime.asgi()
