"""Run services in-process against the real Kafka and Postgres, each test in its own topics/schemas."""

from __future__ import annotations

import importlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import httpx

from runtime.provision import delete_topics, ensure_service_schema, ensure_topics
from runtime.service import ServiceApp
from runtime.settings import Settings
from tests.support.shops import write_shops_file
from tests.support.wait import eventually


def isolated_settings(base: Settings) -> Settings:
    tag = f"t{uuid.uuid4().hex[:10]}"
    return base.model_copy(
        update={"topic_prefix": f"{tag}.", "schema_prefix": f"{tag}_", "shops_file": write_shops_file()}
    )


@asynccontextmanager
async def isolated_infra(base: Settings) -> AsyncIterator[Settings]:
    settings = isolated_settings(base)
    await ensure_topics(settings.kafka_bootstrap_servers, settings.topic_prefix)
    try:
        yield settings
    finally:
        await drop_prefixed_schemas(settings)
        await delete_topics(settings.kafka_bootstrap_servers, settings.topic_prefix)


async def drop_prefixed_schemas(settings: Settings) -> None:
    conn = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        like = settings.schema_prefix.replace("_", r"\_") + "%"
        for row in await conn.fetch("SELECT nspname FROM pg_namespace WHERE nspname LIKE $1", like):
            await conn.execute(f'DROP SCHEMA IF EXISTS "{row["nspname"]}" CASCADE')
        for row in await conn.fetch(
            "SELECT rolname FROM pg_roles WHERE rolname LIKE $1", "careloop\\_" + like
        ):
            await conn.execute(f'DROP ROLE IF EXISTS "{row["rolname"]}"')
    finally:
        await conn.close()


@asynccontextmanager
async def running_service(settings: Settings, name: str) -> AsyncIterator[ServiceApp]:
    """The service `name` started with its full lifespan (migrations, consumers, loops)."""
    service_settings = settings.for_service(name)
    await ensure_service_schema(service_settings)
    bootstrap = importlib.import_module(f"services.{name}.bootstrap")
    app: ServiceApp = bootstrap.build(service_settings)
    async with app.start_lifespan_context():
        await wait_ready(app)
        yield app


async def wait_ready(app: ServiceApp, timeout: float = 30.0) -> None:
    """The lifespan returns before the broker has connected; wait as a load balancer would."""

    async def ready() -> bool:
        return app.runtime.running and all((await app.runtime.ready()).values())

    await eventually(ready, timeout=timeout, interval=0.05)


def http_client(app: ServiceApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://careloop.test")


async def service_connection(settings: Settings, name: str) -> asyncpg.Connection[asyncpg.Record]:
    """A direct connection as the service's role, for asserting on its rows."""
    s = settings.for_service(name)
    return await asyncpg.connect(s.service_dsn(), server_settings={"search_path": s.db_schema})
