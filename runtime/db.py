"""The asyncpg pool of one service, logged in as the service's own role, in its own schema."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import asyncpg

from runtime.settings import Settings

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    PoolConnection = PoolConnectionProxy[asyncpg.Record]
    Connection = asyncpg.Connection[asyncpg.Record] | PoolConnection
    Pool = asyncpg.Pool[asyncpg.Record]
else:  # asyncpg's classes are generic only in its stubs
    Connection = asyncpg.Connection
    PoolConnection = asyncpg.pool.PoolConnectionProxy
    Pool = asyncpg.Pool


async def _init_connection(conn: Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


class Database:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._pool: Pool | None = None

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def pool(self) -> Pool:
        if self._pool is None:
            raise RuntimeError("database pool is not open")
        return self._pool

    async def open(self) -> None:
        self._pool = await asyncpg.create_pool(
            self._settings.service_dsn(),
            min_size=1,
            max_size=self._settings.db_pool_size,
            init=_init_connection,
            server_settings={
                "search_path": self._settings.db_schema,
                "application_name": self._settings.service_name,
            },
            command_timeout=30,
        )

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        async with self.pool.acquire() as conn, conn.transaction():
            yield conn

    async def ping(self, timeout: float = 2.0) -> bool:
        try:
            async with self.pool.acquire(timeout=timeout) as conn:
                return bool(await conn.fetchval("SELECT 1", timeout=timeout) == 1)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, RuntimeError):
            return False

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        async with self.pool.acquire() as conn:
            return await conn.fetch(query, *args)
