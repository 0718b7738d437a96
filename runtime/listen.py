"""Waking a loop on a Postgres notification: LISTEN on a channel with a connection of its own, and
LISTEN again on a new one when that connection dies (a Postgres restart, a terminated backend)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from runtime.db import Pool, PoolConnection

log = logging.getLogger(__name__)

RETRY_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)
"""Waits between attempts to LISTEN again after the connection died; the last one repeats."""


class Listener:
    """The LISTEN of one channel; `conn` is the connection currently listening (it serves queries
    too, e.g. a last statement on the way out), None while a new one is being set up."""

    def __init__(self, pool: Pool, channel: str, wakeup: asyncio.Event) -> None:
        self._pool = pool
        self._channel = channel
        self._wakeup = wakeup
        self.conn: PoolConnection | None = None
        self._renewing: asyncio.Task[None] | None = None
        self._closed = False

    def _notified(self, *_: object) -> None:
        self._wakeup.set()

    def _terminated(self, *_: object) -> None:
        # Whatever was notified while the connection was down is lost: the loop looks now, and the
        # LISTEN is set up again on a new connection.
        self._wakeup.set()
        dead, self.conn = self.conn, None
        if not self._closed and (self._renewing is None or self._renewing.done()):
            self._renewing = asyncio.get_running_loop().create_task(self._renew(dead), name="listen-renew")

    async def subscribe(self) -> None:
        conn = await self._pool.acquire()
        try:
            await conn.add_listener(self._channel, self._notified)
            conn.add_termination_listener(self._terminated)
        except BaseException:
            await self._release(conn)
            raise
        self.conn = conn

    async def _renew(self, dead: PoolConnection | None) -> None:
        if dead is not None:
            await self._release(dead)
        attempt = 0
        while not self._closed:
            try:
                await self.subscribe()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                delay = RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)]
                log.warning("LISTEN %s failed (%s); again in %g s", self._channel, type(exc).__name__, delay)
                attempt += 1
                await asyncio.sleep(delay)
                continue
            log.info("LISTEN %s renewed on a new connection", self._channel)
            self._wakeup.set()  # notifications sent before the new LISTEN took effect are lost too
            return

    async def close(self) -> None:
        self._closed = True
        if self._renewing is not None:
            self._renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewing
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.remove_termination_listener(self._terminated)
            # A connection Postgres dropped has no LISTEN left to remove.
            with contextlib.suppress(asyncpg.InterfaceError, asyncpg.PostgresConnectionError, OSError):
                await conn.remove_listener(self._channel, self._notified)
            await self._release(conn)

    async def _release(self, conn: PoolConnection) -> None:
        with contextlib.suppress(asyncpg.InterfaceError, OSError):
            await self._pool.release(conn)


@asynccontextmanager
async def listening(pool: Pool, channel: str, wakeup: asyncio.Event) -> AsyncIterator[Listener]:
    """While the block runs, every notification on `channel` sets `wakeup`; the loop clears it itself.

    The connection is taken from `pool` for the whole block (a LISTEN lives as long as its session).
    When it dies, `wakeup` is set and the LISTEN is set up again on a new connection, retried until it
    works; notifications sent meanwhile are lost, so the loop should also wake on a timer."""
    listener = Listener(pool, channel, wakeup)
    await listener.subscribe()
    try:
        yield listener
    finally:
        await listener.close()
