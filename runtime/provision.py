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
        # A compacted topic keeps each key's latest record however old (shops.state is read from
        # its start by every service): it has no retention by age.
        configs = {"cleanup.policy": "compact"} if t.compacted else {"retention.ms": str(t.retention_ms)}
        topics.append(NewTopic(prefix + t.name, t.partitions, 1, topic_configs=configs))
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


async def _ddl(conn: asyncpg.Connection[asyncpg.Record], template: str, *values: str) -> None:
    """Run DDL whose names and literals Postgres itself quotes (`format` with %I and %L): DDL takes no
    bind parameters, and a role, schema or password is never pasted into SQL by hand."""
    statement = await conn.fetchval("SELECT format($1, VARIADIC $2::text[])", template, list(values))
    await conn.execute(statement)


async def ensure_service_schema(settings: Settings) -> None:
    """Create the service's role and schema; the role owns its schema and nothing else."""
    role, schema = settings.db_role, settings.db_schema
    conn = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        await conn.execute("SELECT pg_advisory_lock(hashtext('careloop-provision'))")
        exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
        verb = "ALTER" if exists else "CREATE"
        await _ddl(
            conn,
            f"{verb} ROLE %I LOGIN PASSWORD %L NOSUPERUSER NOCREATEDB NOCREATEROLE",
            role,
            settings.db_role_password.get_secret_value(),
        )
        await _ddl(conn, "CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION %I", schema, role)
        await _ddl(conn, "REVOKE ALL ON SCHEMA %I FROM PUBLIC", schema)
        await _ddl(conn, "ALTER ROLE %I SET search_path = %I", role, schema)
        await conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    finally:
        await conn.close()


async def drop_service_schema(settings: Settings) -> None:
    conn = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        await _ddl(conn, "DROP SCHEMA IF EXISTS %I CASCADE", settings.db_schema)
        await _ddl(conn, "DROP ROLE IF EXISTS %I", settings.db_role)
    finally:
        await conn.close()
