from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator

import pytest

from runtime.settings import Settings
from tests.support.stack import isolated_infra

# fixtures for a private Kafka/Postgres that a test may stop and start
pytest_plugins = ["tests.support.private_infra"]


@pytest.fixture(autouse=True)
async def dump_tasks_when_stuck(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Before pytest-timeout fires, print every asyncio task's stack: a hang shows where it is."""
    marker = request.node.get_closest_marker("timeout")
    limit = float(marker.args[0]) if marker else float(request.config.getini("timeout") or 300)
    loop = asyncio.get_running_loop()

    def dump() -> None:
        for task in asyncio.all_tasks(loop):
            print(f"--- stuck task {task.get_name()}", file=sys.stderr)
            task.print_stack(file=sys.stderr)

    handle = loop.call_later(max(1.0, limit - 5.0), dump)
    yield
    handle.cancel()


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    # No skipping: a test that needs Kafka and Postgres gets them, or the run fails loudly.
    missing = [v for v in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL") if not os.environ.get(v)]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not set: run the suite with `make test`, which starts Kafka and Postgres"
        )
    return Settings()


@pytest.fixture
async def infra(base_settings: Settings) -> AsyncIterator[Settings]:
    """Settings of a fresh, isolated run: own topic prefix and schema prefix, removed afterwards."""
    async with isolated_infra(base_settings) as settings:
        yield settings
