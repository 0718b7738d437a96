"""A service's role and schema are created with names and a password Postgres quotes itself: a
password with quotes logs in, and the role reaches only its own schema."""

from __future__ import annotations

import asyncpg
import pytest
from pydantic import SecretStr

from runtime.provision import drop_service_schema, ensure_service_schema
from runtime.settings import Settings


async def test_a_password_with_quotes_logs_in_and_the_role_stays_in_its_schema(pg_infra: Settings) -> None:
    settings = pg_infra.model_copy(
        update={"db_role_password": SecretStr('it\'s "odd" $1 %L;--'), "service_name": "probe"}
    )
    await ensure_service_schema(settings)
    await ensure_service_schema(settings)  # idempotent: the second run alters the role
    conn = await asyncpg.connect(settings.service_dsn())
    try:
        assert await conn.fetchval("SELECT current_schema()") == settings.db_schema
        await conn.execute("CREATE TABLE mine (n int)")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("CREATE TABLE public.not_mine (n int)")
    finally:
        await conn.close()
    await drop_service_schema(settings)
    admin = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        assert await admin.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", settings.db_role) is None
    finally:
        await admin.close()
