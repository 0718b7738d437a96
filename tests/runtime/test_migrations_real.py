"""Migrations and per-service roles on the real Postgres."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from runtime.db import Database
from runtime.migrations import Migration, MigrationChanged, apply_migrations
from runtime.provision import ensure_service_schema
from runtime.settings import Settings

FIRST = Migration("svc/001_items.sql", "CREATE TABLE items (id int PRIMARY KEY);")
SECOND = Migration("svc/002_more.sql", "ALTER TABLE items ADD COLUMN name text;")


async def open_db(settings: Settings) -> Database:
    await ensure_service_schema(settings)
    db = Database(settings)
    await db.open()
    return db


async def test_migrations_apply_once_in_order_and_edits_are_refused(infra: Settings) -> None:
    db = await open_db(infra.for_service("intake"))
    try:
        async with db.pool.acquire() as conn:
            assert await apply_migrations(conn, "x", [FIRST]) == ["svc/001_items.sql"]
            assert await apply_migrations(conn, "x", [FIRST, SECOND]) == ["svc/002_more.sql"]
            assert await apply_migrations(conn, "x", [FIRST, SECOND]) == []
            await conn.execute("INSERT INTO items VALUES (1, 'kept')")
            edited = Migration(FIRST.version, FIRST.sql + " -- edited")
            with pytest.raises(MigrationChanged, match=r"001_items\.sql was edited"):
                await apply_migrations(conn, "x", [edited, SECOND])
            assert await conn.fetchval("SELECT name FROM items") == "kept"
    finally:
        await db.close()


async def test_concurrent_starts_apply_each_migration_once(infra: Settings) -> None:
    db = await open_db(infra.for_service("sla"))
    try:
        slow = Migration("svc/001_slow.sql", "SELECT pg_sleep(0.3); CREATE TABLE once (id int);")

        async def apply() -> list[str]:
            async with db.pool.acquire() as conn:
                return await apply_migrations(conn, infra.for_service("sla").db_schema, [slow])

        results = await asyncio.gather(apply(), apply(), apply())
        assert sorted(len(r) for r in results) == [0, 0, 1]
    finally:
        await db.close()


async def test_a_service_role_touches_only_its_own_schema(infra: Settings) -> None:
    intake, notify = infra.for_service("intake"), infra.for_service("notify")
    notify_db = await open_db(notify)
    intake_db = await open_db(intake)
    try:
        async with notify_db.pool.acquire() as conn:
            await conn.execute("CREATE TABLE endpoints (secret text)")
            await conn.execute("INSERT INTO endpoints VALUES ('whsec_private')")
        async with intake_db.pool.acquire() as conn:
            assert await conn.fetchval("SELECT current_user") == intake.db_role
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.fetch(f'SELECT * FROM "{notify.db_schema}".endpoints')  # noqa: S608
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute("CREATE TABLE public.sneaky (id int)")
            await conn.execute("CREATE TABLE mine (id int)")  # its own schema is writable
            assert await conn.fetchval("SELECT count(*) FROM mine") == 0
    finally:
        await intake_db.close()
        await notify_db.close()


def test_service_migration_files_are_numbered_and_unique() -> None:
    root = Path(__file__).resolve().parents[2]
    for directory in [root / "runtime/sql", *sorted((root / "services").glob("*/migrations"))]:
        names = sorted(p.name for p in directory.glob("*.sql"))
        numbers = [n.split("_", 1)[0] for n in names]
        assert all(n.isdigit() and len(n) == 3 for n in numbers), f"{directory}: {names}"
        assert len(set(numbers)) == len(numbers), f"{directory}: duplicate numbers {names}"
