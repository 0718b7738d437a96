"""Waking a loop on a Postgres notification: LISTEN on a channel with a connection of its own."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from runtime.db import Pool, PoolConnection


@asynccontextmanager
async def listening(pool: Pool, channel: str, wakeup: asyncio.Event) -> AsyncIterator[PoolConnection]:
    """While the block runs, every notification on `channel` sets `wakeup`; the loop clears it itself.

    The connection is taken from `pool` for the whole block (a LISTEN lives as long as its session)
    and yielded: it serves queries too, e.g. a last statement on the way out. If it dies (a Postgres
    restart) notifications stop and nothing re-subscribes, so the loop must also wake on a timer."""
    conn = await pool.acquire()

    def notified(*_: object) -> None:
        wakeup.set()

    try:
        await conn.add_listener(channel, notified)
        try:
            yield conn
        finally:
            # A connection Postgres dropped (a restart) was already handed back to the pool: its
            # LISTEN died with it, and there is nothing left to remove.
            with contextlib.suppress(asyncpg.InterfaceError, asyncpg.PostgresConnectionError, OSError):
                await conn.remove_listener(channel, notified)
    finally:
        with contextlib.suppress(asyncpg.InterfaceError, OSError):
            await pool.release(conn)
