"""runtime.listen over the real Postgres: a notification on the channel sets the event only while the
block runs, on a connection of its own that goes back to the pool afterwards; when Postgres ends that
connection, the loop is woken and the LISTEN comes back on a new one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from runtime.listen import listening
from runtime.service import ServiceRuntime
from runtime.settings import Settings
from tests.runtime import probe
from tests.support.batches import service_storage
from tests.support.wait import eventually

CHANNEL = "careloop_listen_test"


@pytest.fixture
async def runtime(pg_infra: Settings) -> AsyncIterator[ServiceRuntime]:
    async with service_storage(pg_infra, "probe", probe.MIGRATIONS) as service:
        yield service


async def notify(runtime: ServiceRuntime, channel: str = CHANNEL) -> None:
    await runtime.db.pool.execute("SELECT pg_notify($1, '')", channel)


async def test_a_notification_sets_the_event_while_listening(runtime: ServiceRuntime) -> None:
    wakeup = asyncio.Event()
    async with listening(runtime.db.pool, CHANNEL, wakeup) as listener:
        assert listener.conn is not None
        assert await listener.conn.fetchval("SELECT $1 = ANY(ARRAY(SELECT pg_listening_channels()))", CHANNEL)
        await notify(runtime, "careloop_listen_other")
        await asyncio.sleep(0.2)
        assert not wakeup.is_set()  # another channel's notification is none of its business
        await notify(runtime)
        async with asyncio.timeout(5):
            await wakeup.wait()
        wakeup.clear()
        await notify(runtime)
        async with asyncio.timeout(5):
            await wakeup.wait()  # every notification, not just the first
        assert in_use(runtime) == 1

    wakeup.clear()
    await notify(runtime)
    await asyncio.sleep(0.2)
    assert not wakeup.is_set()
    assert in_use(runtime) == 0  # the connection went back to the pool


async def test_the_connection_goes_back_when_the_block_fails(runtime: ServiceRuntime) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        async with listening(runtime.db.pool, CHANNEL, asyncio.Event()):
            assert in_use(runtime) == 1
            raise RuntimeError("boom")
    assert in_use(runtime) == 0


async def test_a_terminated_listening_connection_is_replaced_and_notifications_flow_again(
    runtime: ServiceRuntime,
) -> None:
    wakeup = asyncio.Event()
    async with listening(runtime.db.pool, CHANNEL, wakeup) as listener:
        assert listener.conn is not None
        first = await listener.conn.fetchval("SELECT pg_backend_pid()")
        assert await runtime.db.pool.fetchval("SELECT pg_terminate_backend($1)", first)
        async with asyncio.timeout(5):
            await wakeup.wait()  # the loop looks at once: what was notified meanwhile is lost

        async def renewed() -> bool:
            return listener.conn is not None

        await eventually(renewed, timeout=10)
        assert listener.conn is not None
        assert await listener.conn.fetchval("SELECT pg_backend_pid()") != first
        wakeup.clear()
        await notify(runtime)
        async with asyncio.timeout(5):
            await wakeup.wait()
        assert in_use(runtime) == 1
    assert in_use(runtime) == 0


def in_use(runtime: ServiceRuntime) -> int:
    return runtime.db.pool.get_size() - runtime.db.pool.get_idle_size()
