"""Services started in this process (for faults that do not need a real crash): a ManualClock-free,
fast-polling stack with notify allowed to reach the loopback receivers."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from runtime.provision import ensure_service_schema
from runtime.service import ServiceApp
from runtime.settings import Settings
from services.notify import bootstrap as notify_bootstrap
from services.notify.config import NotifyConfig
from tests.support.stack import wait_ready

FAST_NOTIFY: dict[str, Any] = {
    "allow_loopback": True,
    "poll_seconds": 0.05,
    "retry_jitter": 0.0,
    "gauge_seconds": 0.5,
    "breaker_threshold": 1000,
}


@asynccontextmanager
async def running_services(
    settings: Settings, names: Iterable[str], notify: NotifyConfig | None = None
) -> AsyncIterator[dict[str, ServiceApp]]:
    async with AsyncExitStack() as stack:
        apps: dict[str, ServiceApp] = {}
        for name in names:
            service_settings = settings.for_service(name)
            await ensure_service_schema(service_settings)
            if name == "notify":
                app = notify_bootstrap.build(service_settings, notify or NotifyConfig(**FAST_NOTIFY))
            else:
                app = importlib.import_module(f"services.{name}.bootstrap").build(service_settings)
            await stack.enter_async_context(app.start_lifespan_context())
            await wait_ready(app)
            apps[name] = app
        yield apps
