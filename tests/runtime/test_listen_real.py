"""runtime.listen over the real Postgres: a notification on the channel sets the event only while the
block runs, on a connection of its own that goes back to the pool afterwards."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from runtime.listen import listening
from runtime.service import ServiceRuntime
from runtime.settings import Settings
from tests.runtime import probe
from tests.support.batches import service_storage

CHANNEL = "careloop_listen_test"


@pytest.fixture
async def runtime(pg_infra: Settings) -> AsyncIterator[ServiceRuntime]:
    async with service_storage(pg_infra, "probe", probe.MIGRATIONS) as service:
        yield service


async def notify(runtime: ServiceRuntime, channel: str = CHANNEL) -> None:
    await runtime.db.pool.execute("SELECT pg_notify($1, '')", channel)


async def test_a_notification_sets_the_event_while_listening(runtime: ServiceRuntime) -> None:
    wakeup = asyncio.Event()
    async with listening(runtime.db.pool, CHANNEL, wakeup) as conn:
        assert await conn.fetchval("SELECT $1 = ANY(ARRAY(SELECT pg_listening_channels()))", CHANNEL)
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


def in_use(runtime: ServiceRuntime) -> int:
    return runtime.db.pool.get_size() - runtime.db.pool.get_idle_size()
