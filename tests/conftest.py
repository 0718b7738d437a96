from __future__ import annotations

import asyncio
import inspect
import os
import socket
import sys
from collections.abc import AsyncIterator
from functools import cache
from urllib.parse import urlsplit

import pytest

from runtime.settings import Settings
from tests.support.stack import drop_prefixed_schemas, isolated_infra, isolated_settings

# fixtures for a private Kafka/Postgres that a test may stop and start
pytest_plugins = ["tests.support.private_infra"]

# What a test needs follows from the fixtures it reaches (directly or through other fixtures), so the
# marker `make unit` deselects by cannot be forgotten; `refuse_undeclared_infra` catches a test that
# reaches a server some other way.
KAFKA_FIXTURES = frozenset({"base_settings", "private_kafka"})
POSTGRES_FIXTURES = frozenset({"pg_settings", "private_postgres"})


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by these markers
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & KAFKA_FIXTURES:
            item.add_marker(pytest.mark.kafka)
        elif fixtures & POSTGRES_FIXTURES and item.get_closest_marker("kafka") is None:
            item.add_marker(pytest.mark.postgres)
        module = getattr(item, "module", None)
        if module is not None and _uses_playwright(module):
            item.add_marker(pytest.mark.browser)


def _uses_playwright(module: object) -> bool:
    for value in vars(module).values():
        name = value.__name__ if inspect.ismodule(value) else getattr(value, "__module__", None)
        if isinstance(name, str) and name.split(".")[0] == "playwright":
            return True
    return False


@cache
def _infra_ports() -> tuple[frozenset[int], frozenset[int]]:
    """The ports of the Kafka brokers and of PostgreSQL the settings point at (the environment's or the
    defaults, which are where `make infra` starts them)."""
    settings = Settings()
    kafka = {int(server.rsplit(":", 1)[1]) for server in settings.kafka_bootstrap_servers.split(",")}
    postgres = {urlsplit(settings.database_url.get_secret_value()).port or 5432}
    return frozenset(kafka), frozenset(postgres)


@pytest.fixture(autouse=True)
def refuse_undeclared_infra(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A test not marked for Kafka or Postgres that connects to them anyway fails, even on a machine
    where they run: otherwise `make unit` would pass here and fail on one without them."""
    kafka, postgres = _infra_ports()
    refused: set[int] = set()
    if request.node.get_closest_marker("kafka") is None:
        refused |= kafka
        if request.node.get_closest_marker("postgres") is None:
            refused |= postgres
    connect = socket.socket.connect

    def guarded(sock: socket.socket, address: object) -> None:
        if isinstance(address, tuple) and len(address) >= 2 and address[1] in refused:
            raise ConnectionRefusedError(
                f"{request.node.nodeid} connects to port {address[1]} (Kafka or Postgres) unmarked: use the "
                "`infra` (Kafka and Postgres) or `pg_infra` (Postgres) fixture, which mark the test"
            )
        connect(sock, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded)


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


def _settings_from_env(*required: str) -> Settings:
    # No skipping: a test that needs a server gets it, or the run fails loudly.
    missing = [v for v in required if not os.environ.get(v)]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not set: run the suite with `make test`, which starts Kafka and Postgres"
        )
    return Settings()


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    return _settings_from_env("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")


@pytest.fixture(scope="session")
def pg_settings() -> Settings:
    return _settings_from_env("DATABASE_URL")


@pytest.fixture
async def infra(base_settings: Settings) -> AsyncIterator[Settings]:
    """Settings of a fresh, isolated run: own topic prefix and schema prefix, removed afterwards."""
    async with isolated_infra(base_settings) as settings:
        yield settings


@pytest.fixture
async def pg_infra(pg_settings: Settings) -> AsyncIterator[Settings]:
    """Like `infra` on PostgreSQL alone (own schema prefix, dropped afterwards): for tests of a service's
    storage that need no Kafka (tests/support/batches.py's service_storage)."""
    settings = isolated_settings(pg_settings)
    try:
        yield settings
    finally:
        await drop_prefixed_schemas(settings)
