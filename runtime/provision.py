"""Idempotent provisioning: topics with explicit partitions, and per-service schema + role."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from runtime.settings import Settings
from schemas.topics import ALL_TOPICS, DLQ_PARTITIONS, DLQ_RETENTION_MS

log = logging.getLogger(__name__)


def wanted_topics(prefix: str) -> list[NewTopic]:
    topics = []
    for t in ALL_TOPICS:
        topics.append(
            NewTopic(prefix + t.name, t.partitions, 1, topic_configs={"retention.ms": str(t.retention_ms)})
        )
        if t.consumers:
            topics.append(
                NewTopic(
                    prefix + t.dlq, DLQ_PARTITIONS, 1, topic_configs={"retention.ms": str(DLQ_RETENTION_MS)}
                )
            )
    return topics


async def ensure_topics(bootstrap_servers: str, prefix: str = "") -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=15000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in wanted_topics(prefix) if t.name not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # a concurrent bootstrap won the race
                await admin.create_topics(missing)
        # Metadata for new topics propagates asynchronously; wait until the broker lists them.
        for _ in range(100):
            if {t.name for t in missing} <= set(await admin.list_topics()):
                break
            await asyncio.sleep(0.1)
        return [t.name for t in missing]
    finally:
        await admin.close()


async def delete_topics(bootstrap_servers: str, prefix: str) -> None:
    if not prefix:
        raise ValueError("refusing to delete unprefixed topics")
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if names:
            await admin.delete_topics(names)
    finally:
        await admin.close()


async def ensure_service_schema(settings: Settings) -> None:
    """Create the service's role and schema; the role owns its schema and nothing else."""
    role, schema = settings.db_role, settings.db_schema
    conn = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        await conn.execute("SELECT pg_advisory_lock(hashtext('careloop-provision'))")
        exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
        password = settings.db_role_password.get_secret_value().replace("'", "''")
        verb = "ALTER" if exists else "CREATE"
        await conn.execute(
            f"{verb} ROLE \"{role}\" LOGIN PASSWORD '{password}' NOSUPERUSER NOCREATEDB NOCREATEROLE"
        )
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}" AUTHORIZATION "{role}"')
        await conn.execute(f'REVOKE ALL ON SCHEMA "{schema}" FROM PUBLIC')
        await conn.execute(f'ALTER ROLE "{role}" SET search_path = "{schema}"')
        await conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    finally:
        await conn.close()


async def drop_service_schema(settings: Settings) -> None:
    conn = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{settings.db_schema}" CASCADE')
        await conn.execute(f'DROP ROLE IF EXISTS "{settings.db_role}"')
    finally:
        await conn.close()
